"""Replay passes over the entries a snapshot covers without decoding them: read from an entry
record's first bytes, the index must be the one cbor2 decodes, for every size of integer."""

from __future__ import annotations

import cbor2
from hypothesis import given
from hypothesis import strategies as st

from node.raft.types import Entry, EntryType
from node.wal.record import RecordKind, encode_record, passed_entry

UINT64 = st.integers(min_value=0, max_value=2**64 - 1)


@given(term=UINT64, index=UINT64, bound=UINT64, data=st.binary(max_size=64))
def test_an_entry_is_passed_over_exactly_when_its_index_is_below_the_bound(
    term: int, index: int, bound: int, data: bytes
) -> None:
    framed, _ = encode_record(RecordKind.ENTRY, Entry(term, index, EntryType.NORMAL, data), 0, True)
    payload = framed[8:]
    assert passed_entry(payload, 0, len(payload), bound) == (index < bound)


NOT_AN_ENTRY = st.one_of(
    st.integers(),
    st.binary(),
    st.lists(UINT64, max_size=3),
    st.tuples(UINT64, st.integers(max_value=-1), st.just(0), st.binary()).map(list),
    st.tuples(st.integers(max_value=-1), UINT64, st.just(0), st.binary()).map(list),
)


@given(body=NOT_AN_ENTRY)
def test_anything_else_goes_to_the_full_decode(body: object) -> None:
    payload = cbor2.dumps([int(RecordKind.ENTRY), body])
    assert not passed_entry(payload, 0, len(payload), 2**64)
