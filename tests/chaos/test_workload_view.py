"""What the workload's clients learn together from completed calls: the values their
compare-and-sets aim at, and the leases they may use."""

from __future__ import annotations

from checker.model.history import KeyValue, Operation, OpKind, Request, Response
from console.chaos.workload import SharedView


def done(request: Request, response: Response | None, error: str = "") -> Operation:
    return Operation(1, 0, request, 0, 1, response, error)


def test_reads_and_writes_teach_each_key_its_latest_value_and_mod_revision() -> None:
    view = SharedView()
    view.learn(done(Request(OpKind.GET, "k"), Response(4, kv=KeyValue("k", "a", 3, 4, 2))))
    assert view.seen["k"] == ("a", 4)
    view.learn(done(Request(OpKind.PUT, "k", "b"), Response(9)))
    assert view.seen["k"] == ("b", 9)
    view.learn(done(Request(OpKind.DELETE, "k"), Response(10, deleted=1)))
    assert view.seen["k"] is None


def test_a_failed_compare_and_set_teaches_nothing() -> None:
    view = SharedView()
    view.learn(done(Request(OpKind.CAS, "k", "x", compare_value="a"), Response(5, succeeded=False)))
    assert "k" not in view.seen


def test_granted_leases_are_shared_until_the_cluster_says_they_are_gone() -> None:
    view = SharedView()
    view.learn(done(Request(OpKind.LEASE_GRANT, ttl=8), Response(3, lease_id=0x51, ttl=8)))
    assert view.leases == [0x51]
    keep_alive = Request(OpKind.LEASE_KEEPALIVE, lease_id=0x51)
    view.learn(done(keep_alive, None, "timed out after 2 s"))
    assert view.leases == [0x51]
    view.learn(done(keep_alive, None, "etcdserver: requested lease not found"))
    assert view.leases == []


def test_the_lease_cyclers_leases_are_not_offered_to_the_other_clients() -> None:
    view = SharedView()
    view.learn_private(done(Request(OpKind.LEASE_GRANT, ttl=3), Response(3, lease_id=0x52, ttl=3)))
    view.learn_private(done(Request(OpKind.PUT_WITH_LEASE, "k", "v", lease_id=0x52), Response(4)))
    assert view.leases == []
    assert view.seen["k"] == ("v", 4)
