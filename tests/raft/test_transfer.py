"""Leadership transfer: catch the target up, send MSG_TIMEOUT_NOW, or give up after a timeout."""

import pytest

from node.raft import MessageType, ProposalDropped, StateType
from tests.raft.network import Network

MT = MessageType


def test_leadership_moves_to_an_up_to_date_follower_without_pre_vote():
    net = Network()
    net.elect(1)
    old_term = net.term(1)
    net.sent.clear()
    net.node(1).transfer_leader(2)
    net.deliver()
    assert net.state(2) == StateType.LEADER
    assert net.state(1) == StateType.FOLLOWER
    assert net.term(2) == old_term + 1
    assert [m.frm for m in net.sent_of(MT.MSG_TIMEOUT_NOW)] == [1]
    assert not net.sent_of(MT.MSG_PRE_VOTE)
    assert all(m.context == b"CampaignTransfer" for m in net.sent_of(MT.MSG_VOTE))


def test_a_lagging_target_is_caught_up_before_it_is_told_to_campaign():
    net = Network()
    net.elect(1)
    net.isolate(3)
    for i in range(3):
        net.propose(1, b"v%d" % i)
    net.heal()
    net.sent.clear()
    net.node(1).transfer_leader(3)
    net.deliver()
    assert net.state(3) == StateType.LEADER
    appends = [i for i, m in enumerate(net.sent) if m.type == MT.MSG_APP and m.entries]
    timeout_now = [i for i, m in enumerate(net.sent) if m.type == MT.MSG_TIMEOUT_NOW]
    assert appends and timeout_now and appends[0] < timeout_now[0]
    assert net.applied(3) == [b"v0", b"v1", b"v2"]


def test_proposals_are_dropped_while_a_transfer_is_in_progress():
    net = Network()
    net.elect(1)
    net.isolate(2)
    net.node(1).transfer_leader(2)
    net.deliver()
    assert net.node(1).status().lead_transferee == 2
    with pytest.raises(ProposalDropped):
        net.node(1).propose(b"x")


def test_a_transfer_that_does_not_finish_within_an_election_timeout_is_aborted():
    net = Network()
    net.elect(1)
    net.isolate(2)
    net.node(1).transfer_leader(2)
    net.deliver()
    net.tick([1], times=10)
    assert net.state(1) == StateType.LEADER
    assert net.node(1).status().lead_transferee == 0
    net.propose(1, b"x")
    assert net.applied(3) == [b"x"]


def test_a_follower_forwards_a_transfer_request_to_the_leader():
    net = Network()
    net.elect(1)
    net.node(3).transfer_leader(3)
    net.deliver()
    assert net.state(3) == StateType.LEADER


def test_transfers_to_a_learner_or_to_the_leader_itself_are_ignored():
    net = Network(voters=[1, 2], learners=[3])
    net.elect(1)
    net.node(1).transfer_leader(3)
    net.node(1).transfer_leader(1)
    net.deliver()
    assert net.state(1) == StateType.LEADER
    assert net.node(1).status().lead_transferee == 0
