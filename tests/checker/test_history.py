"""History records: JSON lines round trip and readable descriptions."""

from checker.model.history import from_json_lines, to_json_lines
from tests.checker.builders import Ops, kv
from tests.checker.simulation import Workload, simulate


def test_history_survives_a_json_lines_round_trip():
    history = simulate(seed=1, workload=Workload(operations=60))

    lines = list(to_json_lines(history))

    assert from_json_lines(lines) == history
    assert all("\n" not in line for line in lines)


def test_indeterminate_operation_is_described_as_such():
    ops = Ops()
    op = ops.put("a", "1", 1_000_000, None, client=3)

    assert op.end_ns == float("inf")
    assert op.describe() == (
        "#1     client 3  [1.000 .. ? ms] put a='1' -> ? indeterminate (context deadline exceeded)"
    )


def test_read_is_described_with_what_it_returned():
    ops = Ops()
    op = ops.get("a", 0, 2_500_000, rev=9, found=kv("a", "v", 7, create=3, version=2))

    assert op.describe() == (
        "#1     client 0  [0.000 .. 2.500 ms] get a -> 'v' (mod 7, create 3, ver 2) @rev 9"
    )
