"""MemoryStorage behaves as etcd's: a dummy entry at the snapshot, errors for what it lacks."""

import pytest

from node.raft import (
    CompactedError,
    ConfState,
    Entry,
    HardState,
    MemoryStorage,
    Snapshot,
    SnapshotMetadata,
    SnapshotOutOfDateError,
    UnavailableError,
)


def storage_with(*terms: int, start: int = 1) -> MemoryStorage:
    """A storage holding entries start.. with the given terms (compacted before `start`)."""
    storage = MemoryStorage()
    if start > 1:
        storage.apply_snapshot(
            Snapshot(metadata=SnapshotMetadata(index=start - 1, term=terms[0]))
        )
    storage.append([Entry(t, start + i) for i, t in enumerate(terms)])
    return storage


def test_fresh_storage_is_empty_with_the_initial_membership():
    storage = MemoryStorage(conf_state=ConfState(voters=[1, 2, 3]))
    hard_state, conf_state = storage.initial_state()
    assert hard_state == HardState()
    assert conf_state == ConfState(voters=[1, 2, 3])
    assert (storage.first_index(), storage.last_index()) == (1, 0)
    assert storage.term(0) == 0
    assert storage.snapshot().metadata.index == 0


def test_term_answers_from_the_dummy_entry_up_to_the_last_index():
    storage = storage_with(3, 4, 5, start=3)
    assert storage.term(2) == 3
    assert storage.term(4) == 4
    with pytest.raises(CompactedError, match="requested index is unavailable due to compaction"):
        storage.term(1)
    with pytest.raises(UnavailableError, match="requested entry at index is unavailable"):
        storage.term(6)


def test_entries_reject_compacted_ranges_and_an_empty_log():
    storage = storage_with(1, 1, 2)
    assert [e.index for e in storage.entries(2, 4)] == [2, 3]
    storage.compact(2)
    with pytest.raises(CompactedError):
        storage.entries(2, 4)
    with pytest.raises(UnavailableError):
        MemoryStorage().entries(1, 1)


def test_entries_are_limited_by_size_but_always_return_one():
    storage = MemoryStorage()
    storage.append([Entry(1, i, data=b"x" * 100) for i in range(1, 6)])
    size = Entry(1, 1, data=b"x" * 100).size()
    assert len(storage.entries(1, 6, 0)) == 1
    assert len(storage.entries(1, 6, 2 * size)) == 2
    assert len(storage.entries(1, 6, 2 * size + 1)) == 2
    assert len(storage.entries(1, 6)) == 5


def test_append_truncates_a_conflicting_suffix():
    storage = storage_with(1, 1, 1, 1)
    storage.append([Entry(2, 3), Entry(2, 4), Entry(2, 5)])
    assert [storage.term(i) for i in range(1, 6)] == [1, 1, 2, 2, 2]


def test_append_skips_entries_already_compacted():
    storage = storage_with(3, 3, 3, start=4)
    storage.append([Entry(3, 2), Entry(3, 3), Entry(3, 4), Entry(4, 5)])
    assert (storage.first_index(), storage.last_index()) == (4, 5)
    assert [storage.term(i) for i in range(3, 6)] == [3, 3, 4]


def test_append_refuses_a_gap():
    storage = storage_with(1, 1)
    with pytest.raises(ValueError, match="missing log entry"):
        storage.append([Entry(1, 5)])


def test_compact_keeps_the_compacted_index_as_dummy():
    storage = storage_with(1, 2, 3, 4)
    storage.compact(3)
    assert storage.first_index() == 4
    assert storage.term(3) == 3
    with pytest.raises(CompactedError):
        storage.compact(2)
    with pytest.raises(ValueError, match="out of bound"):
        storage.compact(9)


def test_create_snapshot_records_term_membership_and_data():
    storage = storage_with(1, 2, 2)
    snapshot = storage.create_snapshot(2, ConfState(voters=[1, 2]), b"image")
    assert snapshot.metadata == SnapshotMetadata(ConfState(voters=[1, 2]), index=2, term=2)
    assert storage.snapshot().data == b"image"
    assert storage.initial_state()[1] == ConfState(voters=[1, 2])
    with pytest.raises(SnapshotOutOfDateError):
        storage.create_snapshot(1, None, b"")


def test_apply_snapshot_replaces_everything_and_refuses_older_ones():
    storage = storage_with(1, 1, 1)
    storage.apply_snapshot(Snapshot(b"s", SnapshotMetadata(ConfState(voters=[7]), 10, 4)))
    assert (storage.first_index(), storage.last_index()) == (11, 10)
    assert storage.term(10) == 4
    with pytest.raises(SnapshotOutOfDateError, match="older than the existing snapshot"):
        storage.apply_snapshot(Snapshot(b"", SnapshotMetadata(ConfState(), 10, 4)))
