"""The key index: generations, lookups at revisions, tombstones and compaction, as etcd's."""

from __future__ import annotations

import pytest

from node.mvcc.key_index import IndexBuilder, KeyIndex, RevisionIndex, main_of, pack, sub_of


def _history(*steps: tuple[str, int]) -> KeyIndex:
    """A key index built from ("put" | "del", main revision) steps, etcd's doc example style."""
    ki = KeyIndex()
    for action, main in steps:
        if action == "put":
            ki.put(pack(main))
        else:
            ki.tombstone(pack(main))
    return ki


def _mains(ki: KeyIndex) -> list[list[int]]:
    return [[main_of(rev) for rev in revs] for _, _, revs in ki.generations()]


# etcd's example: put(1) put(2) tombstone(3) put(4) tombstone(5)
ETCD_EXAMPLE = (("put", 1), ("put", 2), ("del", 3), ("put", 4), ("del", 5))


def test_packed_revisions_order_like_main_then_sub() -> None:
    assert pack(3, 7) < pack(3, 8) < pack(4, 0)
    assert (main_of(pack(9, 5)), sub_of(pack(9, 5))) == (9, 5)


def test_tombstone_closes_the_generation_and_opens_an_empty_one() -> None:
    ki = _history(*ETCD_EXAMPLE)
    assert _mains(ki) == [[1, 2, 3], [4, 5], []]
    assert not ki.is_live()


def test_get_finds_the_latest_revision_at_or_below_the_asked_one() -> None:
    ki = _history(("put", 2), ("put", 4), ("put", 6))
    assert ki.get(1) is None
    modified, created, version = ki.get(5)
    assert (main_of(modified), main_of(created), version) == (4, 2, 2)
    modified, _, version = ki.get(100)
    assert (main_of(modified), version) == (6, 3)


def test_get_sees_nothing_between_a_tombstone_and_the_next_put() -> None:
    ki = _history(*ETCD_EXAMPLE)
    assert ki.get(3) is None
    modified, created, version = ki.get(4)
    assert (main_of(modified), main_of(created), version) == (4, 4, 1)
    assert ki.get(5) is None
    assert ki.get(6) is None


def test_get_in_an_older_generation_counts_versions_from_its_creation() -> None:
    ki = _history(*ETCD_EXAMPLE)
    modified, created, version = ki.get(2)
    assert (main_of(modified), main_of(created), version) == (2, 1, 2)


def test_tombstone_on_a_deleted_key_is_refused() -> None:
    ki = _history(("put", 1), ("del", 2))
    with pytest.raises(KeyError):
        ki.tombstone(pack(3))


@pytest.mark.parametrize(
    ("at", "remaining"),
    [
        (1, [[1, 2, 3], [4, 5], []]),
        (2, [[2, 3], [4, 5], []]),
        (3, [[4, 5], []]),
        (4, [[4, 5], []]),
        (5, [[]]),
        (6, [[]]),
    ],
)
def test_compaction_keeps_what_etcd_keeps(at: int, remaining: list[list[int]]) -> None:
    ki = _history(*ETCD_EXAMPLE)
    kept: set[int] = set()
    ki.compact(at, kept)
    assert _mains(ki) == remaining
    assert ki.is_empty() == (remaining == [[]])


def test_compaction_reports_the_revision_each_key_keeps() -> None:
    ki = _history(*ETCD_EXAMPLE)
    kept: set[int] = set()
    ki.compact(2, kept)
    assert kept == {pack(2)}
    kept = set()
    ki.compact(4, kept)
    assert kept == {pack(4)}


def test_a_tombstone_at_the_compaction_revision_is_not_kept() -> None:
    ki = _history(("put", 1), ("del", 2), ("put", 3))
    kept: set[int] = set()
    ki.compact(2, kept)
    assert kept == set()
    assert _mains(ki) == [[3]]


def test_keep_reports_the_same_revisions_as_compact_without_changing_anything() -> None:
    for at in range(1, 7):
        ki = _history(*ETCD_EXAMPLE)
        would_keep: set[int] = set()
        ki.keep(at, would_keep)
        assert _mains(ki) == [[1, 2, 3], [4, 5], []]
        kept: set[int] = set()
        ki.compact(at, kept)
        assert would_keep == kept


def test_versions_stay_right_after_compaction_drops_early_revisions() -> None:
    ki = _history(("put", 1), ("put", 2), ("put", 3), ("put", 4))
    ki.compact(3, set())
    _, created, version = ki.get(4)
    assert (main_of(created), version) == (1, 4)
    _, _, version = ki.get(3)
    assert version == 3


def test_index_range_lists_live_keys_in_order_at_a_revision() -> None:
    index = RevisionIndex()
    index.put(b"a", pack(2))
    index.put(b"b", pack(3))
    index.put(b"c", pack(4))
    index.tombstone(b"b", pack(5))
    assert [k for k, _ in index.range(b"a", b"c", 4)] == [b"a", b"b"]
    assert [k for k, _ in index.range(b"a", b"c", 5)] == [b"a"]
    assert [k for k, _ in index.range(b"b", None, 4)] == [b"b", b"c"]
    assert index.range(b"c", b"a", 5) == []


def test_index_compaction_drops_keys_deleted_at_or_below_the_revision() -> None:
    index = RevisionIndex()
    index.put(b"gone", pack(2))
    index.tombstone(b"gone", pack(3))
    index.put(b"stays", pack(4))
    kept = index.compact(3)
    assert b"gone" not in index
    assert b"stays" in index
    assert kept == set()
    assert index.compact(4) == {pack(4)}


def test_a_key_put_once_then_updated_and_deleted_keeps_its_whole_history() -> None:
    index = RevisionIndex()
    index.put(b"k", pack(5, 3))
    assert index.get(b"k", 4) is None
    assert index.get(b"k", 5) == (pack(5, 3), pack(5, 3), 1)
    assert index.range(b"a", b"z", 5) == [(b"k", pack(5, 3))]

    index.put(b"k", pack(6))
    index.tombstone(b"k", pack(7))

    assert index.get(b"k", 5) == (pack(5, 3), pack(5, 3), 1)
    assert index.get(b"k", 6) == (pack(6), pack(5, 3), 2)
    assert index.get(b"k", 7) is None
    assert index.range(b"a", b"z", 7) == []


def test_compacting_keys_put_once_keeps_their_put() -> None:
    index = RevisionIndex()
    index.put(b"a", pack(2))
    index.put(b"b", pack(4))
    assert index.keep(1) == set()
    assert index.keep(3) == {pack(2)}
    assert index.compact(4) == {pack(2), pack(4)}
    assert index.get(b"a", 4) == (pack(2), pack(2), 1)
    assert len(index) == 2


def test_undoing_a_key_put_once_or_its_deletion() -> None:
    index = RevisionIndex()
    index.put(b"k", pack(2))
    index.tombstone(b"k", pack(3))
    index.undo_tombstone(b"k")
    assert index.get(b"k", 3) == (pack(2), pack(2), 1)
    index.undo_put(b"k")
    assert b"k" not in index


def test_a_rebuilt_index_answers_as_the_one_that_saw_the_writes() -> None:
    """Records in revision order, as a restart reads them; the first record of `c` follows
    its compacted creation (at 4, two puts before)."""
    live = RevisionIndex()
    built = IndexBuilder()
    for key, rev, created, version, deleted in [
        (b"a", pack(2), 2, 1, False),
        (b"b", pack(3, 1), 3, 1, False),
        (b"a", pack(4), 2, 2, False),
        (b"b", pack(5), 0, 0, True),
        (b"c", pack(6), 4, 3, False),
        (b"b", pack(7), 7, 1, False),
    ]:
        if deleted:
            live.tombstone(key, rev)
            built.tombstone(key, rev)
        else:
            if key != b"c":
                live.put(key, rev)
            built.put(key, rev, created, version)
    rebuilt = RevisionIndex()
    rebuilt.load(built)

    for at in range(1, 8):
        for key in (b"a", b"b"):
            assert rebuilt.get(key, at) == live.get(key, at), (key, at)
    assert rebuilt.get(b"c", 6) == (pack(6), pack(4), 3)
    assert rebuilt.range(b"a", None, 5) == [(b"a", pack(4))]
    assert [key for key, _ in rebuilt.range(b"a", None, 7)] == [b"a", b"b", b"c"]


def test_undo_takes_back_puts_and_tombstones_in_reverse_order() -> None:
    index = RevisionIndex()
    index.put(b"k", pack(2))
    index.put(b"k", pack(3))
    index.tombstone(b"k", pack(4, 0))
    index.put(b"k", pack(4, 1))
    index.put(b"new", pack(4, 2))
    index.undo_put(b"new")
    index.undo_put(b"k")
    index.undo_tombstone(b"k")
    assert b"new" not in index
    modified, created, version = index.get(b"k", 10)
    assert (main_of(modified), main_of(created), version) == (3, 2, 2)
    index.put(b"k", pack(5))
    assert index.get(b"k", 10)[2] == 3


def test_undoing_the_creating_put_empties_the_generation() -> None:
    ki = _history(("put", 1), ("del", 2), ("put", 3))
    ki.undo_put()
    assert _mains(ki) == [[1, 2], []]
    assert ki.get(3) is None
