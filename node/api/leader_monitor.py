"""etcd's require-leader rule for the gRPC door: calls and streams whose metadata carries
`hasleader: true` (clientv3.WithRequireLeader, as etcdctl watch and lease keep-alive send)
need the member to know a leader.

As etcd 3.4's v3rpc interceptors and monitorLeader: such a call or new stream fails at once
with `etcdserver: no leader` on a member without a leader, and such a stream already open is
cancelled with that error once the member has seen no leader at MAX_NO_LEADER_CHECKS checks in
a row, one check every election timeout. Everything here runs on trio, beside the server.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

import trio

from node.messages import errors

if TYPE_CHECKING:
    from node.server.etcdserver import EtcdServer

REQUIRE_LEADER_KEY = "hasleader"
"""etcd's rpctypes.MetadataRequireLeaderKey."""
HAS_LEADER = "true"
"""etcd's rpctypes.MetadataHasLeader: the value that turns the rule on."""
MAX_NO_LEADER_CHECKS = 3
"""etcd's maxNoLeaderCnt: open streams are spared a shorter leaderless spell, since
reconnecting them costs more than refusing new calls."""


def requires_leader(metadata: Iterable[tuple[str, str | bytes]] | None) -> bool:
    """Whether a call's metadata asks for a leader: its first `hasleader` value is `true`."""
    for key, value in metadata or ():
        if key == REQUIRE_LEADER_KEY:
            return value == HAS_LEADER
    return False


class LeaderMonitor:
    """Checks the member's leader for calls that require one, and ends the streams that
    require one once the member has stayed without a leader (run `run` in a nursery)."""

    def __init__(self, server: EtcdServer) -> None:
        self._server = server
        self.interval = server.config.election_timeout_ms / 1000
        """Seconds between two checks: the member's election timeout."""
        self._streams: set[trio.CancelScope] = set()

    def check(self) -> None:
        """Raise NoLeader when the member knows no leader."""
        if self._server.leader_id == 0:
            raise errors.NoLeader()

    @contextmanager
    def guarded_stream(self) -> Iterator[None]:
        """Run the block as a stream that requires a leader: NoLeader now if there is none, or
        later when the monitor gives up on the leader (the block is then cancelled)."""
        self.check()
        scope = trio.CancelScope()
        self._streams.add(scope)
        try:
            with scope:
                yield
        finally:
            self._streams.discard(scope)
        if scope.cancelled_caught:
            raise errors.NoLeader()

    async def run(self) -> None:
        """Check for a leader every election timeout until cancelled; at MAX_NO_LEADER_CHECKS
        checks in a row without one, cancel every guarded stream."""
        checks_without_leader = 0
        while True:
            await trio.sleep(self.interval)
            checks_without_leader = checks_without_leader + 1 if self._server.leader_id == 0 else 0
            if checks_without_leader >= MAX_NO_LEADER_CHECKS:
                for scope in self._streams:
                    scope.cancel()
                self._streams.clear()
