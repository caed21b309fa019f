"""The backend when its writes cannot land: a full map (MDB_MAP_FULL, no root needed) or a
full filesystem (a real tmpfs of a few megabytes, root only). The failed batch leaves nothing
behind, every batch committed before stays, and reopened (with the space back) it writes on."""

from __future__ import annotations

from pathlib import Path

import pytest

from node.mvcc.backend import Backend, BackendWriteError
from tests.small_filesystem import MIB, resize, small_filesystem

VALUE = bytes(range(256)) * 64  # 16 KiB


def fill(backend: Backend) -> tuple[list[bytes], BackendWriteError]:
    """Batches of four values until one is refused: the keys of those committed, the refusal."""
    committed: list[bytes] = []
    for n in range(100_000):
        keys = [f"key-{n:05d}-{i}".encode() for i in range(4)]
        try:
            with backend.batch():
                for key in keys:
                    backend.put(b"key", key, VALUE)
                backend.set_consistent_index(n + 1, 1)
        except BackendWriteError as refused:
            return committed, refused
        committed += keys
    raise AssertionError("the backend never filled up")


def assert_holds_exactly(backend: Backend, keys: list[bytes]) -> None:
    stored = backend.items(b"key")
    assert [key for key, _ in stored] == keys
    assert all(value == VALUE for _, value in stored)
    assert backend.consistent_index() == (len(keys) // 4, 1)


def test_a_full_map_refuses_the_batch_keeps_what_was_committed_and_grows_when_reopened(
    tmp_path: Path,
) -> None:
    backend = Backend(tmp_path / "backend", map_size=MIB)
    committed, refused = fill(backend)
    assert "MDB_MAP_FULL" in str(refused)
    assert committed
    assert_holds_exactly(backend, committed)
    backend.close()

    reopened = Backend(tmp_path / "backend", map_size=MIB)
    assert_holds_exactly(reopened, committed)
    with reopened.batch():
        reopened.put(b"key", b"key-after-reopen", VALUE)
    assert reopened.get(b"key", b"key-after-reopen") == VALUE
    reopened.close()


def test_a_full_filesystem_refuses_the_commit_and_the_backend_writes_on_once_space_is_freed(
    tmp_path: Path,
) -> None:
    with small_filesystem(tmp_path / "disk", 2 * MIB) as disk:
        backend = Backend(disk / "backend")
        committed, refused = fill(backend)
        # LMDB reports the short write a full disk gives as EIO (mdb_page_flush), or ENOSPC
        # when the file cannot grow at all.
        assert "cannot commit tx" in str(refused)
        assert "Input/output error" in str(refused) or "No space left" in str(refused)
        assert committed
        backend.close()

        resize(disk, 8 * MIB)
        reopened = Backend(disk / "backend")
        assert_holds_exactly(reopened, committed)
        more = [f"key-more-{i}".encode() for i in range(4)]
        with reopened.batch():
            for key in more:
                reopened.put(b"key", key, VALUE)
        assert [key for key, _ in reopened.items(b"key")][-4:] == more
        reopened.close()



def test_a_defragment_that_does_not_fit_leaves_the_backend_as_it_was(tmp_path: Path) -> None:
    with small_filesystem(tmp_path / "disk", 3 * MIB) as disk:
        backend = Backend(disk / "backend")
        keys = []
        for n in range(100):
            with backend.batch():
                backend.put(b"key", f"key-{n:03d}".encode(), VALUE)
            keys.append(f"key-{n:03d}".encode())
        with pytest.raises(BackendWriteError, match="cannot copy"):
            backend.defragment()
        assert sorted(path.name for path in disk.iterdir()) == ["backend"]
        with backend.batch():
            backend.put(b"key", b"key-after", VALUE)
        assert [key for key, _ in backend.items(b"key")] == [*keys, b"key-after"]

        resize(disk, 8 * MIB)
        backend.defragment()
        assert [key for key, _ in backend.items(b"key")] == [*keys, b"key-after"]
        backend.close()
