"""The watcher index finds exactly the watchers whose key or range holds a key."""

from __future__ import annotations

from dataclasses import dataclass

from hypothesis import given, settings
from hypothesis import strategies as st

from node.mvcc.watcher_group import WatcherGroup


@dataclass(eq=False)
class Ranged:
    key: bytes
    end: bytes | None

    def holds(self, key: bytes) -> bool:
        if self.end is None:
            return key == self.key
        return self.key <= key and (self.end == b"" or key < self.end)


keys = st.text(alphabet="abc", min_size=1, max_size=3).map(str.encode)
ends = st.one_of(st.none(), st.just(b""), keys)


def watching(group: WatcherGroup, key: bytes) -> set[Ranged]:
    found = list(group.watching(key))
    assert len(found) == len(set(found)), "a watcher was found twice"
    return set(found)


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(keys, ends), max_size=40),
    st.lists(st.integers(min_value=0, max_value=39), max_size=20),
    st.lists(keys, min_size=1, max_size=10),
)
def test_group_finds_exactly_the_watchers_holding_a_key(members, removals, probes):
    group = WatcherGroup()
    watchers = [Ranged(key, end) for key, end in members]
    for watcher in watchers:
        group.add(watcher)
    for index in removals:
        if index < len(watchers):
            group.discard(watchers[index])
    present = [w for i, w in enumerate(watchers) if i not in set(removals)]
    assert len(group) == len(present)
    for key in probes:
        assert watching(group, key) == {w for w in present if w.holds(key)}


def test_discard_reports_whether_the_watcher_was_there():
    group = WatcherGroup()
    single, ranged = Ranged(b"a", None), Ranged(b"a", b"c")
    group.add(single)
    group.add(ranged)
    assert group.discard(ranged) is True
    assert group.discard(ranged) is False
    assert watching(group, b"a") == {single}
    assert watching(group, b"b") == set()


def test_routing_cost_grows_with_matches_not_with_watchers():
    group = WatcherGroup()
    for i in range(3000):
        group.add(Ranged(b"key/%05d" % i, None))
        group.add(Ranged(b"dir/%05d/" % i, b"dir/%05d0" % i))
    before = group.probes
    assert watching(group, b"dir/01234/x") == {
        w for w in group if w.key == b"dir/01234/" and w.end is not None
    }
    assert group.probes - before < 60
