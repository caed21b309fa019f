"""RaftLog: the stable and unstable parts seen as one log, with commit and applied cursors."""

import pytest

from node.raft import Entry, MemoryStorage, Snapshot, SnapshotMetadata
from node.raft.log import LogConflictError, RaftLog


def log_with(*terms: int, stable: int | None = None) -> RaftLog:
    """A log of entries 1.. with these terms; the first `stable` of them already in storage."""
    entries = [Entry(t, i) for i, t in enumerate(terms, start=1)]
    stable = len(entries) if stable is None else stable
    storage = MemoryStorage()
    storage.append(entries[:stable])
    log = RaftLog(storage)
    if stable < len(entries):
        log.append(entries[stable:])
    return log


def test_indexes_and_terms_span_storage_and_unstable_entries():
    log = log_with(1, 1, 2, 3, stable=2)
    assert (log.first_index(), log.last_index()) == (1, 4)
    assert [log.term(i) for i in range(0, 5)] == [0, 1, 1, 2, 3]
    assert log.term(5) is None


def test_append_after_a_matching_entry_extends_the_log_and_commits():
    log = log_with(1, 1)
    assert log.maybe_append(2, 1, 3, [Entry(2, 3)]) == 3
    assert log.last_index() == 3
    assert log.committed == 3


def test_append_after_a_mismatching_entry_is_refused():
    log = log_with(1, 1)
    assert log.maybe_append(2, 2, 2, [Entry(2, 3)]) is None
    assert log.maybe_append(5, 1, 2, []) is None
    assert log.committed == 0


def test_append_overwrites_a_conflicting_uncommitted_suffix():
    log = log_with(1, 1, 1, 1)
    assert log.maybe_append(1, 1, 0, [Entry(1, 2), Entry(3, 3)]) == 3
    assert [log.term(i) for i in range(1, 5)] == [1, 1, 3, None]


def test_already_present_entries_do_not_truncate_the_log():
    log = log_with(1, 1, 1, 1)
    assert log.maybe_append(1, 1, 0, [Entry(1, 2)]) == 2
    assert log.last_index() == 4


def test_commit_is_capped_at_the_last_new_entry():
    log = log_with(1, 1, 1, 1)
    log.maybe_append(1, 1, 10, [Entry(1, 2)])
    assert log.committed == 2


def test_overwriting_a_committed_entry_is_refused():
    log = log_with(1, 1, 1)
    log.commit_to(2)
    with pytest.raises(LogConflictError):
        log.maybe_append(1, 1, 0, [Entry(2, 2)])


def test_find_conflict_by_term_skips_a_higher_term_tail():
    log = log_with(1, 3, 3, 4, 4, 5, 5, 5, 6)
    assert log.find_conflict_by_term(8, 3) == (3, 3)
    assert log.find_conflict_by_term(8, 5) == (8, 5)
    assert log.find_conflict_by_term(8, 0) == (0, 0)


def test_find_conflict_by_term_stops_at_a_compacted_index():
    storage = MemoryStorage()
    storage.apply_snapshot(Snapshot(metadata=SnapshotMetadata(index=3, term=5)))
    storage.append([Entry(6, 4), Entry(6, 5)])
    log = RaftLog(storage)
    assert log.find_conflict_by_term(5, 2) == (2, 0), "index 3 is known to be term 5"


def test_stable_to_drops_persisted_unstable_entries_of_the_same_term():
    log = log_with(1, 2, 2, stable=1)
    log.stable_to(3, 1)
    assert len(log.unstable.entries) == 2
    log.stable_to(2, 2)
    assert [e.index for e in log.unstable.entries] == [3]


def test_slice_combines_storage_and_unstable_under_a_size_limit():
    log = log_with(1, 1, 1, 1, stable=2)
    size = Entry(1, 1).size()
    assert [e.index for e in log.slice(1, 5)] == [1, 2, 3, 4]
    assert [e.index for e in log.slice(1, 5, 3 * size)] == [1, 2, 3]
    assert [e.index for e in log.slice(2, 5, 0)] == [2]


def test_next_committed_entries_run_from_applied_to_committed():
    log = log_with(1, 1, 1, 1)
    log.commit_to(3)
    log.applied_to(1)
    assert [e.index for e in log.next_committed_entries()] == [2, 3]
    log.applied_to(3)
    assert not log.has_next_committed_entries()


def test_restore_replaces_the_log_with_the_snapshot():
    log = log_with(1, 1, 1)
    log.restore(Snapshot(metadata=SnapshotMetadata(index=10, term=4)))
    assert (log.first_index(), log.last_index(), log.committed) == (11, 10, 10)
    assert log.term(10) == 4
    assert log.term(3) is None


def test_up_to_date_compares_last_term_then_length():
    log = log_with(1, 2, 2)
    assert log.is_up_to_date(1, 3)
    assert log.is_up_to_date(3, 2)
    assert not log.is_up_to_date(2, 2)
    assert not log.is_up_to_date(9, 1)
