"""The bbolt writer and reader: round trips through small and large buckets (inline, branch
pages, overflow pages), bbolt's choice of meta page, and damaged or foreign files refused."""

from __future__ import annotations

import struct

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from node.bbolt.page import (
    BRANCH_PAGE,
    LEAF_PAGE,
    PAGE_HEADER,
    PAGE_SIZE,
    BoltFormatError,
    fnv1a64,
)
from node.bbolt.reader import open_bolt
from node.bbolt.writer import write_bolt


def _revision(main: int) -> bytes:
    return struct.pack(">Q", main) + b"_" + struct.pack(">Q", 0)


def _page_flags(path, page_id: int) -> int:
    with open(path, "rb") as file:
        file.seek(page_id * PAGE_SIZE)
        return PAGE_HEADER.unpack(file.read(PAGE_HEADER.size))[1]


def test_fnv1a64_matches_go_hash_fnv():
    assert fnv1a64(b"") == 0xCBF29CE484222325
    assert fnv1a64(b"a") == 0xAF63DC4C8601EC8C
    assert fnv1a64(b"foobar") == 0x85944171F73967E8


def test_small_buckets_round_trip_inline_and_empty(tmp_path):
    path = tmp_path / "db"
    buckets = {b"alarm": [], b"cluster": [(b"clusterVersion", b"3.4.0")], b"meta": [(b"a", b"")]}

    size = write_bolt(path, sorted(buckets.items()))

    assert size == path.stat().st_size
    with open_bolt(path) as db:
        assert db.bucket_names() == [b"alarm", b"cluster", b"meta"]
        assert {name: list(db.items(name)) for name in buckets} == buckets
        assert list(db.items(b"missing")) == []
        assert db.size == size
        assert db.meta.pgid * PAGE_SIZE == size


def test_many_keys_build_branch_pages_and_read_back_in_order(tmp_path):
    path = tmp_path / "db"
    keys = [(_revision(main), b"value-%d" % main) for main in range(1, 20_001)]

    write_bolt(path, [(b"key", keys), (b"meta", [(b"consistent_index", bytes(8))])])

    with open_bolt(path) as db:
        assert list(db.items(b"key")) == keys
        assert list(db.items(b"meta")) == [(b"consistent_index", bytes(8))]
        page_flags = {_page_flags(path, page_id) for page_id in range(2, db.meta.pgid - 1)}
    assert BRANCH_PAGE in page_flags
    assert LEAF_PAGE in page_flags


def test_values_larger_than_a_page_take_overflow_pages(tmp_path):
    path = tmp_path / "db"
    big = bytes(range(256)) * 100
    items = [(b"a", b"small"), (b"b", big), (b"c", big * 3), (b"d", b"")]

    write_bolt(path, [(b"key", items)])

    with open_bolt(path) as db:
        assert list(db.items(b"key")) == items
        assert db.size > len(big) * 4


def test_keys_out_of_order_are_refused(tmp_path):
    with pytest.raises(ValueError, match="increasing order"):
        write_bolt(tmp_path / "small", [(b"key", [(b"b", b""), (b"a", b"")])])
    rows = [(_revision(n), b"x" * 100) for n in range(100)]
    with pytest.raises(ValueError, match="increasing order"):
        write_bolt(tmp_path / "large", [(b"key", [*rows, rows[0]])])


def _corrupt(path, offset: int) -> None:
    with open(path, "r+b") as file:
        file.seek(offset)
        byte = file.read(1)
        file.seek(offset)
        file.write(bytes([byte[0] ^ 0xFF]))


def test_a_corrupt_meta_page_falls_back_to_the_other(tmp_path):
    path = tmp_path / "db"
    write_bolt(path, [(b"key", [(b"k", b"v")])])
    _corrupt(path, PAGE_HEADER.size + 30)  # the root page id in meta 0

    with open_bolt(path) as db:
        assert db.meta.txid == 1  # meta 1's
        assert list(db.items(b"key")) == [(b"k", b"v")]


def test_both_meta_pages_corrupt_is_a_checksum_error(tmp_path):
    path = tmp_path / "db"
    write_bolt(path, [(b"key", [(b"k", b"v")])])
    _corrupt(path, PAGE_HEADER.size + 30)
    _corrupt(path, PAGE_SIZE + PAGE_HEADER.size + 30)

    with pytest.raises(BoltFormatError, match=r"^checksum error$"), open_bolt(path):
        pass


def test_a_file_of_another_program_is_an_invalid_database(tmp_path):
    path = tmp_path / "not-bolt"
    path.write_bytes(b"SQLite format 3\0" + bytes(3 * PAGE_SIZE))

    with pytest.raises(BoltFormatError, match=r"^invalid database$"), open_bolt(path):
        pass


def test_a_tiny_file_is_too_small(tmp_path):
    path = tmp_path / "tiny"
    path.write_bytes(b"hello")

    with pytest.raises(BoltFormatError, match=r"^file size too small$"), open_bolt(path):
        pass


def test_a_truncated_file_is_refused(tmp_path):
    path = tmp_path / "db"
    write_bolt(path, [(b"key", [(_revision(n), b"v" * 50) for n in range(2000)])])
    size = path.stat().st_size
    with open(path, "r+b") as file:
        file.truncate(size - 3 * PAGE_SIZE)

    with pytest.raises(BoltFormatError, match="cut short"), open_bolt(path):
        pass


def test_a_page_pointing_out_of_bounds_is_refused(tmp_path):
    path = tmp_path / "db"
    write_bolt(path, [(b"key", [(_revision(n), b"v" * 50) for n in range(2000)])])
    with open_bolt(path) as db:
        root = db.meta.root
    # the root bucket's leaf holds bucket "key" whose header names its root page: aim it far off
    with open(path, "r+b") as file:
        file.seek(root * PAGE_SIZE)
        page = bytearray(file.read(PAGE_SIZE))
        _, pos, ksize, _ = struct.unpack_from("<IIII", page, PAGE_HEADER.size)
        value_at = PAGE_HEADER.size + pos + ksize
        struct.pack_into("<Q", page, value_at, 10**9)
        file.seek(root * PAGE_SIZE)
        file.write(page)

    with open_bolt(path) as db, pytest.raises(BoltFormatError, match="out of bounds"):
        list(db.items(b"key"))


@settings(
    max_examples=40, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
@given(
    st.dictionaries(
        st.binary(min_size=1, max_size=20),
        st.dictionaries(
            st.binary(min_size=1, max_size=40),
            st.one_of(
                st.binary(max_size=60),
                # larger than a page (overflow) while cheap to draw: a repeated pattern
                st.builds(lambda unit, times: unit * times, st.binary(min_size=1, max_size=8),
                          st.integers(min_value=600, max_value=1500)),
            ),
            max_size=120,
        ),
        max_size=6,
    )
)
def test_any_buckets_round_trip(tmp_path, buckets):
    path = tmp_path / "db"
    write_bolt(path, [(name, sorted(items.items())) for name, items in sorted(buckets.items())])

    with open_bolt(path) as db:
        assert db.bucket_names() == sorted(buckets)
        assert {name: dict(db.items(name)) for name in buckets} == buckets
