"""Simulated histories, valid by construction, must pass every check; one corrupted
result must make them fail (or at worst leave the verdict unknown), and never crash."""

import random
from dataclasses import replace

import pytest

from checker.model.history import History, KeyValue, Operation, OpKind, Response
from checker.validate.linearizability import Verdict, check_linearizability
from checker.validate.verdict import check_history
from checker.validate.watch_check import check_watches, merge_watch_events
from tests.checker.simulation import Workload, simulate

SEEDS = range(20)
WORKLOAD = Workload(clients=8, keys=4, operations=150, indeterminate_rate=0.1)


def reads(history: History) -> list[Operation]:
    return [
        op for op in history.operations if op.request.kind is OpKind.GET and op.response is not None
    ]


def writes(history: History) -> list[Operation]:
    return [op for op in history.operations if op.write_revision is not None]


def with_response(history: History, op: Operation, response: Response) -> list[Operation]:
    return [replace(o, response=response) if o is op else o for o in history.operations]


def corrupt_read_value(history: History, rng: random.Random) -> list[Operation] | None:
    candidates = [op for op in reads(history) if op.response.kv is not None]
    if not candidates:
        return None
    op = rng.choice(candidates)
    corrupted = replace(op.response.kv, value="never written")
    return with_response(history, op, replace(op.response, kv=corrupted))


def stale_read(history: History, rng: random.Random) -> list[Operation] | None:
    """A read returning a version older than a write to its key that completed before it."""
    merged = merge_watch_events(history.watch_requests, history.watch_responses)
    candidates = []
    for read in reads(history):
        key = read.request.key
        done = [w for w in writes(history) if w.request.key == key and w.end_ns < read.invoked_ns]
        if not done:
            continue
        newest = max(w.write_revision for w in done)
        older = [
            merged.by_revision[w.write_revision][key].kv
            for w in writes(history)
            if w.request.key == key
            and w.write_revision < newest
            and w.request.kind is not OpKind.DELETE
        ]
        candidates.extend((read, kv) for kv in older)
    if not candidates:
        return None
    read, old = rng.choice(candidates)
    return with_response(history, read, replace(read.response, kv=old))


def duplicate_write_revision(history: History, rng: random.Random) -> list[Operation] | None:
    acknowledged = writes(history)
    if len(acknowledged) < 2:
        return None
    first, second = rng.sample(acknowledged, 2)
    return with_response(history, second, replace(second.response, revision=first.write_revision))


def header_from_the_past(history: History, rng: random.Random) -> list[Operation] | None:
    candidates = [
        (read, w) for read in reads(history) for w in writes(history) if w.end_ns < read.invoked_ns
    ]
    if not candidates:
        return None
    read, write = rng.choice(candidates)
    return with_response(history, read, replace(read.response, revision=write.write_revision - 1))


MUTATIONS = [corrupt_read_value, stale_read, duplicate_write_revision, header_from_the_past]


@pytest.mark.parametrize("seed", SEEDS)
def test_simulated_history_passes_every_check(seed):
    verdict = check_history(simulate(seed, WORKLOAD))

    assert verdict.passed, verdict.describe()


@pytest.mark.parametrize("seed", SEEDS)
def test_simulated_history_is_linearizable_without_the_watch_too(seed):
    result = check_linearizability(simulate(seed, WORKLOAD).operations)

    assert result.verdict is Verdict.LINEARIZABLE, result.describe()


@pytest.mark.parametrize("with_watch", [False, True], ids=["blind", "resolved"])
@pytest.mark.parametrize("mutation", MUTATIONS, ids=lambda m: m.__name__)
def test_one_corrupted_result_is_never_judged_linearizable(mutation, with_watch):
    tried = 0
    for seed in SEEDS:
        history = simulate(seed, WORKLOAD)
        mutated = mutation(history, random.Random(seed))
        if mutated is None:
            continue
        tried += 1
        watch = merge_watch_events(history.watch_requests, history.watch_responses)
        result = check_linearizability(mutated, watch=watch if with_watch else None)
        assert result.verdict is not Verdict.LINEARIZABLE, f"seed {seed}"
        assert result.resolved == with_watch
    assert tried >= len(SEEDS) // 2


@pytest.mark.parametrize("seed", SEEDS)
def test_watch_event_dropped_before_the_watchers_last_revision_is_caught(seed):
    history = simulate(seed, WORKLOAD)
    rng = random.Random(seed)
    responses = [r for r in history.watch_responses if r.watcher_id == "m0" and r.events]
    last = max(e.revision for r in responses for e in r.events)
    victim = rng.choice([r for r in responses if r.events[0].revision < last])
    dropped = victim.events[0]
    damaged = [
        replace(r, events=r.events[1:]) if r is victim else r for r in history.watch_responses
    ]

    report = check_watches(history.watch_requests, damaged, history.operations)

    assert any(v.revision == dropped.revision for v in report.violations), report.describe()


def garbage(rng: random.Random, key: str) -> Response:
    found = None
    if rng.random() < 0.5:
        mod = rng.randint(0, 60)
        value = rng.choice(["garbage", "", "c1-1"])
        found = KeyValue(key, value, rng.randint(0, mod), mod, rng.randint(0, 5))
    return Response(
        revision=rng.randint(-1, 60),
        succeeded=rng.random() < 0.5,
        kv=found,
        deleted=rng.randint(0, 2),
        lease_id=rng.randint(0, 0x110),
    )


@pytest.mark.parametrize("seed", SEEDS)
def test_random_garbage_in_results_is_reported_and_never_crashes_the_checkers(seed):
    history = simulate(seed, WORKLOAD)
    rng = random.Random(seed)
    operations = corrupt_read_value(history, rng) or list(history.operations)
    for _ in range(5):
        i = rng.randrange(len(operations))
        op = operations[i]
        response = None if rng.random() < 0.2 else garbage(rng, op.request.key)
        operations[i] = replace(op, response=response)
    responses = [
        replace(r, index=rng.randrange(len(history.watch_responses)))
        for r in history.watch_responses
    ]

    verdict = check_history(replace(history, operations=operations, watch_responses=responses))

    assert not verdict.passed
    assert verdict.describe().startswith(verdict.summary())
