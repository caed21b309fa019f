"""A watch stream for the front doors: the mvcc WatchStream plus an awaitable receive."""

from __future__ import annotations

from collections.abc import Callable, Iterable

import trio

from node.mvcc.watcher import AUTO_WATCH_ID, WatchResponse, WatchStream


class ServerWatchStream:
    """One client's watchers; `receive()` waits for their next responses."""

    def __init__(
        self,
        stream: WatchStream,
        poke_sync: Callable[[], None],
        on_close: Callable[[ServerWatchStream], None],
    ) -> None:
        self._stream = stream
        self._poke_sync = poke_sync
        self._on_close = on_close
        self._ready = trio.Event()
        self._closed = False
        stream.on_ready = self._ready.set

    def watch(
        self,
        key: bytes,
        range_end: bytes = b"",
        start_revision: int = 0,
        filters: Iterable[int] = (),
        prev_kv: bool = False,
        watch_id: int = AUTO_WATCH_ID,
        progress_notify: bool = False,
        fragment: bool = False,
    ) -> int:
        """Start a watcher (see node.mvcc.watcher.WatchStream.watch); returns its id or -1."""
        watch_id = self._stream.watch(
            key, range_end, start_revision, filters, prev_kv, watch_id, progress_notify, fragment
        )
        self._poke_sync()
        return watch_id

    def cancel(self, watch_id: int) -> bool:
        """Stop a watcher; False when there is no such id."""
        return self._stream.cancel(watch_id)

    def request_progress(self) -> None:
        """Ask for a progress response (see WatchStream.request_progress)."""
        self._stream.request_progress()

    async def receive(self) -> list[WatchResponse]:
        """The responses queued now, waiting for at least one; [] once closed."""
        while True:
            if self._closed:
                return []
            responses = self._stream.poll()
            if responses:
                return responses
            self._ready = trio.Event()
            self._stream.on_ready = self._ready.set
            await self._ready.wait()

    def close(self) -> None:
        """Remove every watcher; a waiting receive() returns []. The server closes every
        stream when it stops."""
        if self._closed:
            return
        self._closed = True
        self._stream.close()
        self._ready.set()
        self._on_close(self)
