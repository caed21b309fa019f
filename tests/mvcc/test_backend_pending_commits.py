"""The member's backend defers its commits as etcd's batchTx does: apply batches merge into one
pending transaction that commits once `batch_limit` writes wait or when commit() is called.
The member's thread reads everything written; other threads, copies and a restart after a
crash see only what was committed, always whole batches with their consistent index."""

from __future__ import annotations

import multiprocessing
import os
import threading
from pathlib import Path

import pytest

from node.mvcc.backend import Backend, BackendWriteError
from tests.small_filesystem import MIB, resize, small_filesystem


def apply_batch(backend: Backend, index: int, keys: int = 2) -> list[bytes]:
    """One apply batch as the member writes it: its keys, then its consistent index."""
    written = [f"key-{index:04d}-{n}".encode() for n in range(keys)]
    with backend.batch():
        for key in written:
            backend.put(b"key", key, b"value-%d" % index)
        backend.set_consistent_index(index, 1)
    return written


def keys_from_another_thread(backend: Backend) -> list[bytes]:
    seen: list[bytes] = []
    reader = threading.Thread(target=lambda: seen.extend(k for k, _ in backend.items(b"key")))
    reader.start()
    reader.join()
    return seen


def test_pending_batches_are_read_on_the_members_thread_and_reach_other_threads_on_commit(
    tmp_path: Path,
) -> None:
    backend = Backend(tmp_path / "backend", batch_limit=1000)
    written = apply_batch(backend, 1) + apply_batch(backend, 2)
    assert [key for key, _ in backend.items(b"key")] == written
    assert backend.consistent_index() == (2, 1)
    assert keys_from_another_thread(backend) == []

    backend.commit()
    assert keys_from_another_thread(backend) == written
    backend.close()


def test_the_batch_that_reaches_the_limit_commits(tmp_path: Path) -> None:
    backend = Backend(tmp_path / "backend", batch_limit=6)
    first = apply_batch(backend, 1)  # 2 keys and the consistent index: 3 writes
    assert keys_from_another_thread(backend) == []
    second = apply_batch(backend, 2)  # 6 writes wait: committed at the batch's exit
    assert keys_from_another_thread(backend) == first + second
    third = apply_batch(backend, 3)
    assert keys_from_another_thread(backend) == first + second
    backend.close()  # commits what waits, as etcd's backend does on close

    reopened = Backend(tmp_path / "backend")
    assert [key for key, _ in reopened.items(b"key")] == first + second + third
    assert reopened.consistent_index() == (3, 1)
    reopened.close()


def test_an_exception_leaving_a_batch_discards_its_writes_and_only_its_own(
    tmp_path: Path,
) -> None:
    backend = Backend(tmp_path / "backend", batch_limit=1000)
    kept = apply_batch(backend, 1)
    with pytest.raises(ValueError, match="refused"), backend.batch():
        backend.put(b"key", b"key-refused", b"x")
        backend.set_consistent_index(2, 1)
        raise ValueError("refused half way")
    assert [key for key, _ in backend.items(b"key")] == kept
    assert backend.consistent_index() == (1, 1)
    backend.commit()
    assert keys_from_another_thread(backend) == kept
    backend.close()


def test_a_copy_after_commit_holds_every_batch(tmp_path: Path) -> None:
    backend = Backend(tmp_path / "backend", batch_limit=1000)
    written = apply_batch(backend, 1) + apply_batch(backend, 2)
    backend.commit()
    backend.copy_to(tmp_path / "copy")
    backend.close()
    copy = Backend(tmp_path / "copy")
    assert [key for key, _ in copy.items(b"key")] == written
    assert copy.consistent_index() == (2, 1)
    copy.close()


def _write_and_crash(path: Path, committed_batches: int, pending_batches: int) -> None:
    backend = Backend(path, batch_limit=1000)
    for index in range(1, committed_batches + 1):
        apply_batch(backend, index)
    backend.commit()
    for index in range(committed_batches + 1, committed_batches + pending_batches + 1):
        apply_batch(backend, index)
    os._exit(0)  # a crash: no close, no commit


def test_a_crash_loses_the_pending_batches_whole_with_their_consistent_index(
    tmp_path: Path,
) -> None:
    crashing = multiprocessing.get_context("spawn").Process(
        target=_write_and_crash, args=(tmp_path / "backend", 3, 4)
    )
    crashing.start()
    crashing.join()
    assert crashing.exitcode == 0

    reopened = Backend(tmp_path / "backend")
    keys = [key for key, _ in reopened.items(b"key")]
    assert keys == [f"key-{index:04d}-{n}".encode() for index in (1, 2, 3) for n in range(2)]
    assert reopened.consistent_index() == (3, 1)  # the WAL replays batches 4 to 7
    reopened.close()


def test_a_commit_the_disk_refuses_stops_every_later_batch(tmp_path: Path) -> None:
    """Once pending batches are lost, no later batch may commit a consistent index past
    them: the member stops on the refusal and replays them from its WAL when restarted."""
    value = bytes(range(256)) * 64
    with small_filesystem(tmp_path / "disk", 2 * MIB) as disk:
        backend = Backend(disk / "backend", batch_limit=1000)
        committed: list[bytes] = []
        index = 0
        with pytest.raises(BackendWriteError, match="cannot commit tx"):
            while True:
                index += 1
                keys = [f"key-{index:04d}-{n}".encode() for n in range(4)]
                with backend.batch():
                    for key in keys:
                        backend.put(b"key", key, value)
                    backend.set_consistent_index(index, 1)
                backend.commit()
                committed += keys
        with pytest.raises(BackendWriteError, match="cannot commit tx"), backend.batch():
            backend.put(b"key", b"key-after-the-refusal", b"x")
        backend.close()

        resize(disk, 8 * MIB)
        reopened = Backend(disk / "backend")
        assert [key for key, _ in reopened.items(b"key")] == committed
        assert reopened.consistent_index() == (index - 1, 1)
        reopened.close()
