"""Membership: adding voters and learners, promotion, removal, and the one-at-a-time rule."""

import pytest

from node.raft import (
    ConfChange,
    ConfChangeType,
    ConfState,
    EntryType,
    MessageType,
    ProposalDropped,
    StateType,
)
from tests.raft.network import Network

MT = MessageType
ADD = ConfChangeType.ADD_NODE
ADD_LEARNER = ConfChangeType.ADD_LEARNER_NODE
REMOVE = ConfChangeType.REMOVE_NODE


def change(net: Network, leader: int, kind: ConfChangeType, node_id: int) -> None:
    net.node(leader).propose_conf_change(ConfChange(kind, node_id))
    net.deliver()


def test_a_new_voter_counts_for_the_quorum():
    net = Network()
    net.elect(1)
    net.add(4)
    change(net, 1, ADD, 4)
    committed = net.commit(1)
    net.isolate(2)
    net.isolate(3)
    net.propose(1, b"x")
    assert net.commit(1) == committed, "two of four voters are not a majority"


def test_a_learner_replicates_but_does_not_count_for_commit():
    net = Network(voters=[1, 2], learners=[3])
    net.elect(1)
    net.propose(1, b"x")
    assert net.applied(3) == [b"x"]
    net.isolate(2)
    net.propose(1, b"y")
    assert net.commit(1) == net.boot + 2
    assert net.members[3].storage.last_index() == net.boot + 3


def test_a_learner_vote_does_not_elect_a_leader():
    net = Network(voters=[1, 2], learners=[3])
    net.isolate(2)
    net.tick([1, 3], times=40)
    assert net.state(1) != StateType.LEADER


def test_adding_a_learner_then_promoting_it():
    net = Network()
    net.elect(1)
    net.compact(1)
    net.add(4)
    change(net, 1, ADD_LEARNER, 4)
    net.tick([1])
    assert net.members[4].conf_state == ConfState(voters=[1, 2, 3], learners=[4])
    assert net.node(1).status().progress[4].is_learner
    change(net, 1, ADD, 4)
    assert net.members[4].conf_state == ConfState(voters=[1, 2, 3, 4])
    assert not net.node(1).status().progress[4].is_learner


def test_a_promoted_learner_can_become_leader():
    net = Network(voters=[1, 2], learners=[3])
    net.elect(1)
    change(net, 1, ADD, 3)
    net.node(1).transfer_leader(3)
    net.deliver()
    assert net.state(3) == StateType.LEADER


def test_removing_a_learner():
    net = Network(voters=[1, 2, 3], learners=[4])
    net.elect(1)
    change(net, 1, REMOVE, 4)
    assert net.members[1].conf_state == ConfState(voters=[1, 2, 3])
    assert 4 not in net.node(1).status().progress


def test_a_removed_voter_no_longer_counts_for_the_quorum():
    net = Network(voters=[1, 2, 3, 4])
    net.elect(1)
    change(net, 1, REMOVE, 4)
    net.isolate(3)
    net.isolate(4)
    net.propose(1, b"x")
    assert net.applied(2) == [b"x"], "1 and 2 are a majority of {1, 2, 3}"


def test_a_removed_leader_steps_down_and_the_rest_elect_a_new_one():
    net = Network()
    net.elect(1)
    change(net, 1, REMOVE, 1)
    assert net.state(1) == StateType.FOLLOWER
    with pytest.raises(ProposalDropped):
        net.node(1).propose(b"x")
    net.tick(times=40)
    new_leader = net.leader()
    assert new_leader in (2, 3)
    assert net.members[new_leader].conf_state == ConfState(voters=[2, 3])
    net.node(1).campaign()
    assert net.state(1) == StateType.FOLLOWER


def test_a_second_conf_change_waits_until_the_first_is_applied():
    net = Network()
    net.elect(1)
    net.drop = lambda m: m.type == MT.MSG_APP_RESP
    change(net, 1, ADD_LEARNER, 4)
    with pytest.raises(ProposalDropped, match="raft proposal dropped"):
        net.node(1).propose_conf_change(ConfChange(ADD_LEARNER, 5))
    net.heal()
    net.tick([1])
    change(net, 1, ADD_LEARNER, 5)
    assert net.members[1].conf_state.learners == [4, 5]


def test_a_forwarded_conf_change_while_one_is_pending_becomes_an_empty_entry():
    net = Network()
    net.elect(1)
    net.drop = lambda m: m.type == MT.MSG_APP_RESP
    change(net, 1, ADD_LEARNER, 4)
    net.node(2).propose_conf_change(ConfChange(ADD_LEARNER, 5))
    net.deliver()
    storage = net.members[1].storage
    last = storage.entries(storage.last_index(), storage.last_index() + 1)[0]
    assert (last.type, last.data) == (EntryType.NORMAL, b"")
    net.heal()
    net.tick([1])
    assert net.members[1].conf_state.learners == [4]


def test_a_restart_recovers_membership_from_the_snapshot_and_later_conf_changes():
    net = Network()
    net.elect(1)
    net.add(4)
    change(net, 1, ADD, 4)
    net.compact(2)
    net.add(5)
    change(net, 1, ADD_LEARNER, 5)
    net.propose(1, b"x")
    assert net.members[2].storage.snapshot().metadata.conf_state.voters == [1, 2, 3, 4]
    node = net.restart(2)
    assert node.status().conf_state == ConfState(voters=[1, 2, 3, 4], learners=[5])


def test_a_restart_before_a_conf_change_was_applied_hands_it_out_again():
    net = Network()
    net.elect(1)
    net.add(4)
    change(net, 1, ADD, 4)
    conf_index = net.members[2].applied_index
    net.members[2].applied_index = conf_index - 1
    node = net.restart(2)
    assert node.status().conf_state == ConfState(voters=[1, 2, 3])
    rd = node.ready()
    assert [e.type for e in rd.committed_entries] == [EntryType.CONF_CHANGE]
    conf = node.apply_conf_change(ConfChange.decode(rd.committed_entries[0].data))
    assert conf == ConfState(voters=[1, 2, 3, 4])
