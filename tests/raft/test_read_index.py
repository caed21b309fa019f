"""ReadIndex: a read is answered at the commit index once a heartbeat round confirms the leader."""

from node.raft import MessageType, ReadState
from tests.raft.network import Network

MT = MessageType


def test_the_leader_answers_a_read_at_its_commit_index_after_a_heartbeat_round():
    net = Network()
    net.elect(1)
    net.propose(1, b"x")
    net.sent.clear()
    net.node(1).read_index(b"read-1")
    net.deliver()
    assert net.members[1].read_states == [ReadState(index=net.boot + 2, request_ctx=b"read-1")]
    heartbeats = net.sent_of(MT.MSG_HEARTBEAT)
    assert {m.to for m in heartbeats} == {2, 3}
    assert all(m.context == b"read-1" for m in heartbeats)


def test_a_follower_read_is_forwarded_and_answered_by_the_leader():
    net = Network()
    net.elect(1)
    net.propose(1, b"x")
    net.node(3).read_index(b"read-3")
    net.deliver()
    assert net.members[3].read_states == [ReadState(index=net.boot + 2, request_ctx=b"read-3")]
    assert net.members[1].read_states == []
    assert [m.to for m in net.sent_of(MT.MSG_READ_INDEX_RESP)] == [3]


def test_a_new_leader_holds_reads_until_it_commits_an_entry_of_its_term():
    net = Network()
    net.drop = lambda m: m.type == MT.MSG_APP_RESP
    net.elect(1)
    assert net.commit(1) == net.boot, "only the bootstrap, of an earlier term, is committed"
    net.node(1).read_index(b"early")
    net.deliver()
    assert net.members[1].read_states == []
    net.heal()
    net.tick([1])
    assert net.members[1].read_states == [ReadState(index=net.boot + 1, request_ctx=b"early")]


def test_a_single_voter_answers_a_read_at_once():
    net = Network(voters=[1])
    net.elect(1)
    net.node(1).read_index(b"solo")
    net.process(1)
    assert net.members[1].read_states == [ReadState(index=net.boot + 1, request_ctx=b"solo")]


def test_a_partitioned_leader_cannot_confirm_a_read():
    net = Network()
    net.elect(1)
    net.isolate(1)
    net.node(1).read_index(b"stale")
    net.tick([1], times=5)
    assert net.members[1].read_states == []


def test_one_heartbeat_round_confirms_every_read_queued_before_it():
    net = Network()
    net.elect(1)
    net.isolate(1)
    for ctx in (b"a", b"b", b"c"):
        net.node(1).read_index(ctx)
    net.deliver()
    net.heal()
    net.tick([1])
    answered = [rs.request_ctx for rs in net.members[1].read_states]
    assert answered == [b"a", b"b", b"c"]


def test_a_read_on_a_follower_without_a_leader_is_dropped_quietly():
    net = Network()
    net.node(2).read_index(b"nobody")
    net.deliver()
    assert net.members[2].read_states == []
    assert net.sent == []
