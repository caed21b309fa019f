"""Log replication: commitment, the paper's figures, back-off, flow control and proposals."""

import pytest

from node.raft import (
    Config,
    ConfState,
    Entry,
    HardState,
    MemoryStorage,
    Message,
    MessageType,
    ProposalDropped,
    RawNode,
    StateType,
)
from tests.raft.network import Network

MT = MessageType


def test_a_proposal_is_committed_and_applied_everywhere():
    net = Network()
    net.elect(1)
    net.propose(1, b"x")
    for node_id in (1, 2, 3):
        assert net.applied(node_id) == [b"x"]
        assert net.commit(node_id) == net.boot + 2


def test_a_minority_failure_does_not_stop_commitment():
    net = Network(voters=[1, 2, 3, 4, 5])
    net.elect(1)
    net.isolate(4)
    net.isolate(5)
    net.propose(1, b"x")
    assert net.commit(1) == net.boot + 2
    assert net.applied(2) == [b"x"]


FIGURE_7_LEADER = [1, 1, 1, 4, 4, 5, 5, 6, 6, 6]


@pytest.mark.parametrize(
    "follower",
    [
        pytest.param([1, 1, 1, 4, 4, 5, 5, 6, 6], id="a-missing-one"),
        pytest.param([1, 1, 1, 4], id="b-missing-many"),
        pytest.param([1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 6], id="c-one-extra"),
        pytest.param([1, 1, 1, 4, 4, 5, 5, 6, 6, 6, 7, 7], id="d-extra-later-term"),
        pytest.param([1, 1, 1, 4, 4, 4, 4], id="e-divergent-tail"),
        pytest.param([1, 1, 1, 2, 2, 2, 3, 3, 3, 3, 3], id="f-long-divergent-tail"),
    ],
)
def test_figure_7_a_new_leader_brings_any_follower_log_in_line(follower):
    net = Network(pre_vote=False)
    net.load(1, FIGURE_7_LEADER, term=7, commit=len(FIGURE_7_LEADER))
    net.load(3, FIGURE_7_LEADER, term=7, commit=len(FIGURE_7_LEADER))
    net.load(2, follower, term=7)
    net.elect(1)
    assert net.term(1) == 8
    assert net.log_terms(2) == [*FIGURE_7_LEADER, 8]
    assert net.commit(2) == net.boot + len(FIGURE_7_LEADER) + 1


def leader_at_term_3_over(terms: list[int]) -> RawNode:
    """Node 1 of {1, 2, 3} restarted over `terms` (so no bootstrap), elected at term 3 by node 2."""
    storage = MemoryStorage(ConfState(voters=[1, 2, 3]))
    storage.append([Entry(t, i) for i, t in enumerate(terms, 1)])
    storage.set_hard_state(HardState(term=2))
    node = RawNode(Config(id=1, storage=storage, pre_vote=False))
    node.campaign()
    node.step(Message(type=MT.MSG_VOTE_RESP, to=1, frm=2, term=3))
    assert node.status().raft_state == StateType.LEADER
    return node


def test_figure_8_an_old_term_entry_is_not_committed_by_counting_replicas():
    leader = leader_at_term_3_over([1, 2])
    leader.step(Message(type=MT.MSG_APP_RESP, to=1, frm=2, term=3, index=2))
    assert leader.status().commit == 0


def test_figure_8_old_entries_commit_once_an_entry_of_the_current_term_does():
    leader = leader_at_term_3_over([1, 2])
    leader.step(Message(type=MT.MSG_APP_RESP, to=1, frm=2, term=3, index=3))
    assert leader.status().commit == 3


def test_a_partitioned_old_leader_cannot_commit():
    net = Network(voters=[1, 2, 3, 4, 5])
    net.elect(1)
    net.partition([1, 2], [3, 4, 5])
    net.propose(1, b"lost")
    assert net.commit(1) == net.boot + 1
    assert net.applied(1) == []


def test_a_partitioned_old_leader_steps_down_and_its_entries_are_overwritten():
    net = Network(voters=[1, 2, 3, 4, 5])
    net.elect(1)
    old_term = net.term(1)
    net.partition([1, 2], [3, 4, 5])
    net.propose(1, b"lost")
    net.tick([3, 4, 5], times=30)
    new_leader = net.leader()
    assert new_leader in (3, 4, 5)
    net.propose(new_leader, b"kept")
    net.heal()
    net.tick([new_leader])
    assert net.state(1) == StateType.FOLLOWER
    new_term = net.term(new_leader)
    assert net.term(1) == new_term > old_term
    for node_id in (1, 2, 3, 4, 5):
        assert net.applied(node_id) == [b"kept"]
        assert net.log_terms(node_id) == [old_term, new_term, new_term]


def test_fast_back_off_skips_a_divergent_term_in_one_round_trip():
    net = Network(pre_vote=False)
    leader_log = [1] + [3] * 50
    net.load(1, leader_log, term=4, commit=1)
    net.load(3, leader_log, term=4, commit=1)
    net.load(2, [1] + [2] * 50, term=4, commit=1)
    net.elect(1)
    rejections = [m for m in net.sent_of(MT.MSG_APP_RESP) if m.frm == 2 and m.reject]
    assert len(rejections) <= 2
    assert net.log_terms(2) == [*leader_log, 5]


def test_a_follower_that_lagged_catches_up_after_rejoining():
    net = Network()
    net.elect(1)
    net.isolate(3)
    for i in range(5):
        net.propose(1, b"v%d" % i)
    net.heal()
    net.tick([1])
    assert net.applied(3) == [b"v0", b"v1", b"v2", b"v3", b"v4"]


def test_max_size_per_msg_still_sends_one_entry_per_message():
    net = Network(max_size_per_msg=1)
    net.elect(1)
    net.isolate(3)
    for i in range(4):
        net.propose(1, b"v%d" % i)
    net.sent.clear()
    net.heal()
    net.tick([1], times=3)
    to_3 = [m for m in net.sent_of(MT.MSG_APP) if m.to == 3 and m.entries]
    assert len(to_3) >= 4
    assert all(len(m.entries) == 1 for m in to_3)
    assert net.applied(3) == [b"v0", b"v1", b"v2", b"v3"]


def test_a_large_max_size_batches_the_backlog_into_one_message():
    net = Network()
    net.elect(1)
    net.isolate(3)
    for i in range(4):
        net.propose(1, b"v%d" % i)
    net.sent.clear()
    net.heal()
    net.tick([1])
    batches = [len(m.entries) for m in net.sent_of(MT.MSG_APP) if m.to == 3 and m.entries]
    assert batches == [4]


def test_the_inflight_window_bounds_unacknowledged_appends():
    net = Network(max_inflight_msgs=2)
    net.elect(1)
    net.drop = lambda m: m.type == MT.MSG_APP_RESP and m.frm == 2
    net.sent.clear()
    for i in range(5):
        net.propose(1, b"v%d" % i)
    to_2 = [m for m in net.sent_of(MT.MSG_APP) if m.to == 2 and m.entries]
    assert len(to_2) == 2
    assert net.node(1).status().progress[2].state.name == "REPLICATE"


def test_a_follower_forwards_proposals_to_the_leader():
    net = Network()
    net.elect(1)
    net.propose(2, b"via-follower")
    assert net.applied(1) == [b"via-follower"]
    assert net.applied(3) == [b"via-follower"]


def test_a_follower_with_forwarding_disabled_drops_proposals():
    net = Network(disable_proposal_forwarding=True)
    net.elect(1)
    with pytest.raises(ProposalDropped, match="raft proposal dropped"):
        net.node(2).propose(b"x")


def test_a_proposal_without_a_known_leader_is_dropped():
    net = Network()
    with pytest.raises(ProposalDropped):
        net.node(1).propose(b"x")


def test_a_candidate_drops_proposals():
    net = Network(pre_vote=False)
    net.isolate(1)
    net.node(1).campaign()
    with pytest.raises(ProposalDropped):
        net.node(1).propose(b"x")


def test_the_uncommitted_size_limit_drops_proposals_until_entries_commit():
    net = Network(max_uncommitted_entries_size=10)
    net.elect(1)
    net.isolate(1)
    net.node(1).propose(b"12345678")
    with pytest.raises(ProposalDropped):
        net.node(1).propose(b"12345678")
    net.heal()
    net.tick([1])
    net.propose(1, b"12345678")
    assert net.applied(2) == [b"12345678", b"12345678"]


def test_a_follower_applies_only_what_the_leader_committed():
    net = Network()
    net.elect(1)
    net.drop = lambda m: m.type == MT.MSG_APP_RESP
    net.propose(1, b"x")
    assert net.members[2].storage.last_index() == net.boot + 2
    assert net.applied(2) == []


def test_proposals_made_before_a_ready_reach_each_follower_as_one_append():
    net = Network()
    net.elect(1)
    net.sent.clear()
    for i in range(5):
        net.node(1).propose(b"v%d" % i)
    net.deliver()
    to_2 = [len(m.entries) for m in net.sent_of(MT.MSG_APP) if m.to == 2 and m.entries]
    assert to_2 == [5]
    assert net.applied(2) == [b"v0", b"v1", b"v2", b"v3", b"v4"]
