"""Bootstrap: a new cluster's membership as committed conf change entries 1..n, and how a member
that joins later learns it, from those entries or from a snapshot."""

from node.raft import (
    ConfChange,
    ConfChangeType,
    Config,
    ConfState,
    EntryType,
    HardState,
    MemoryStorage,
    MessageType,
    RawNode,
    StateType,
)
from tests.raft.network import BOOT_TERM, Network, bootstrapped

MT = MessageType
ADD = ConfChangeType.ADD_NODE
ADD_LEARNER = ConfChangeType.ADD_LEARNER_NODE


def change(net: Network, leader: int, kind: ConfChangeType, node_id: int) -> None:
    net.node(leader).propose_conf_change(ConfChange(kind, node_id))
    net.deliver()


def test_a_fresh_node_writes_its_membership_as_committed_conf_changes_of_term_1():
    node = RawNode(Config(id=2, storage=MemoryStorage(ConfState(voters=[1, 2, 3]))))
    rd = node.ready()
    assert [(e.term, e.index, e.type) for e in rd.entries] == [
        (BOOT_TERM, i, EntryType.CONF_CHANGE) for i in (1, 2, 3)
    ]
    assert [ConfChange.decode(e.data) for e in rd.entries] == [
        ConfChange(ADD, 1), ConfChange(ADD, 2), ConfChange(ADD, 3),
    ]
    assert rd.hard_state == HardState(term=BOOT_TERM, vote=0, commit=3)
    assert rd.must_sync
    assert rd.committed_entries == rd.entries
    assert (rd.messages, rd.snapshot) == ([], None)


def test_the_bootstrap_membership_is_active_and_applying_it_again_changes_nothing():
    node = RawNode(Config(id=1, storage=MemoryStorage(ConfState(voters=[1, 2, 3]))))
    assert node.status().conf_state == ConfState(voters=[1, 2, 3])
    rd = node.ready()
    confs = [node.apply_conf_change(ConfChange.decode(e.data)) for e in rd.committed_entries]
    assert confs == [ConfState(voters=[1, 2, 3])] * 3
    node.advance(rd)
    assert node.status().applied == 3
    assert not node.has_ready()


def test_a_node_campaigns_right_after_it_handled_its_bootstrap_ready():
    node = bootstrapped(1, ConfState(voters=[1, 2, 3]))
    node.campaign()
    rd = node.ready()
    assert rd.soft_state.raft_state == StateType.PRE_CANDIDATE
    assert sorted((m.type, m.to, m.term, m.index, m.log_term) for m in rd.messages) == [
        (MT.MSG_PRE_VOTE, 2, BOOT_TERM + 1, 3, BOOT_TERM),
        (MT.MSG_PRE_VOTE, 3, BOOT_TERM + 1, 3, BOOT_TERM),
    ]


def test_every_initial_member_writes_the_same_entries_voters_then_learners_sorted():
    net = Network(voters=[3, 1, 2], learners=[5, 4])
    logs = {i: net.members[i].storage.entries(1, net.boot + 1) for i in (1, 2, 3, 4, 5)}
    assert all(log == logs[1] for log in logs.values())
    assert [ConfChange.decode(e.data) for e in logs[1]] == [
        ConfChange(ADD, 1), ConfChange(ADD, 2), ConfChange(ADD, 3),
        ConfChange(ADD_LEARNER, 4), ConfChange(ADD_LEARNER, 5),
    ]
    for node_id in (1, 2, 3, 4, 5):
        assert net.members[node_id].conf_state == ConfState(voters=[1, 2, 3], learners=[4, 5])
        assert net.node(node_id).status().commit == net.boot


def test_a_restarted_initial_member_does_not_bootstrap_again():
    net = Network()
    net.elect(1)
    net.propose(1, b"x")
    persisted = net.members[2].storage
    log = persisted.entries(1, persisted.last_index() + 1)
    node = net.restart(2)
    storage = net.members[2].storage
    assert storage.initial_state()[1] == ConfState(voters=[1, 2, 3]), "still configured"
    assert not node.has_ready()
    assert storage.entries(1, storage.last_index() + 1) == log
    status = node.status()
    assert (status.term, status.commit) == (net.term(1), net.boot + 2)
    assert status.conf_state == ConfState(voters=[1, 2, 3])


def joined_while_the_leader_never_snapshotted() -> Network:
    net = Network()
    net.elect(1)
    net.propose(1, b"before")
    net.add(4)
    change(net, 1, ADD, 4)
    net.propose(1, b"after")
    return net


def test_a_joiner_learns_the_membership_from_the_bootstrap_entries():
    net = joined_while_the_leader_never_snapshotted()
    joiner = net.members[4]
    assert not net.sent_of(MT.MSG_SNAP)
    assert joiner.storage.snapshot().metadata.index == 0
    leader_log = net.members[1].storage.entries(1, net.boot + 1)
    assert joiner.storage.entries(1, net.boot + 1) == leader_log
    assert joiner.applied == [b"before", b"after"]
    assert joiner.conf_state == ConfState(voters=[1, 2, 3, 4])
    assert net.node(4).status().conf_state == ConfState(voters=[1, 2, 3, 4])


def test_a_joiner_that_learned_from_the_log_counts_for_the_quorum():
    net = joined_while_the_leader_never_snapshotted()
    net.isolate(2)
    net.propose(1, b"x")
    assert net.applied(1)[-1] == b"x", "1, 3 and 4 are a majority of four"


def test_a_joiner_that_learned_from_the_log_can_take_leadership():
    net = joined_while_the_leader_never_snapshotted()
    net.node(1).transfer_leader(4)
    net.deliver()
    assert net.state(4) == StateType.LEADER
    net.propose(4, b"from-4")
    assert all(net.applied(i)[-1] == b"from-4" for i in (1, 2, 3, 4))


def test_a_restarted_joiner_keeps_the_membership_it_learned_from_the_log():
    net = joined_while_the_leader_never_snapshotted()
    node = net.restart(4)
    assert net.members[4].storage.initial_state()[1] == ConfState()
    assert node.status().conf_state == ConfState(voters=[1, 2, 3, 4])
    net.node(1).transfer_leader(4)
    net.deliver()
    assert net.state(4) == StateType.LEADER


def test_a_leader_sends_a_joiner_its_log_rather_than_an_uncompacted_snapshot():
    net = Network()
    net.elect(1)
    net.propose(1, b"before")
    leader = net.members[1]
    leader.storage.create_snapshot(leader.applied_index, leader.conf_state, b"before")
    net.add(4)
    change(net, 1, ADD, 4)
    net.propose(1, b"after")
    assert not net.sent_of(MT.MSG_SNAP)
    assert net.members[4].applied == [b"before", b"after"]
    assert net.node(4).status().conf_state == ConfState(voters=[1, 2, 3, 4])


def test_a_joiner_behind_a_compacted_log_learns_the_membership_from_the_snapshot():
    net = Network()
    net.elect(1)
    net.propose(1, b"before")
    snapshot_index = net.compact(1)
    net.add(4)
    change(net, 1, ADD, 4)
    net.propose(1, b"after")
    joiner = net.members[4]
    assert joiner.storage.snapshot().metadata.index == snapshot_index
    assert joiner.storage.first_index() == snapshot_index + 1
    assert joiner.applied == [b"before", b"after"]
    assert joiner.conf_state == ConfState(voters=[1, 2, 3, 4])
    assert net.node(4).status().conf_state == ConfState(voters=[1, 2, 3, 4])


def test_a_restarted_joiner_keeps_the_membership_it_learned_from_a_snapshot():
    net = Network()
    net.elect(1)
    net.compact(1)
    net.add(4)
    change(net, 1, ADD, 4)
    net.propose(1, b"x")
    node = net.restart(4)
    assert node.status().conf_state == ConfState(voters=[1, 2, 3, 4])
    net.propose(1, b"y")
    assert net.members[4].applied == [b"x", b"y"]
