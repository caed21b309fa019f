"""Snapshots: the leader sends one when a follower needs compacted entries; it is installed."""

from node.raft import ConfState, Message, MessageType, ProgressState, Snapshot, SnapshotMetadata
from tests.raft.network import Network

MT = MessageType


def lagging_follower_behind_a_compacted_leader() -> Network:
    net = Network()
    net.elect(1)
    net.isolate(3)
    for i in range(5):
        net.propose(1, b"v%d" % i)
    net.compact(1)
    return net


def test_the_leader_sends_a_snapshot_when_the_follower_needs_compacted_entries():
    net = lagging_follower_behind_a_compacted_leader()
    net.heal()
    net.tick([1])
    [snap] = net.sent_of(MT.MSG_SNAP)
    assert snap.to == 3
    assert snap.snapshot.metadata.index == net.boot + 6
    assert snap.snapshot.metadata.conf_state == ConfState(voters=[1, 2, 3])


def test_the_follower_installs_the_snapshot_and_replication_resumes():
    net = lagging_follower_behind_a_compacted_leader()
    net.heal()
    net.tick([1])
    follower = net.members[3]
    assert follower.storage.snapshot().metadata.index == net.boot + 6
    assert follower.applied == [b"v0", b"v1", b"v2", b"v3", b"v4"]
    assert net.node(3).status().applied == net.boot + 6
    net.propose(1, b"after")
    assert follower.applied[-1] == b"after"
    assert net.node(1).status().progress[3].state == ProgressState.REPLICATE


def test_a_snapshot_in_flight_pauses_appends_until_reported():
    net = lagging_follower_behind_a_compacted_leader()
    net.heal()
    net.drop = lambda m: m.type == MT.MSG_SNAP
    net.tick([1])
    assert net.node(1).status().progress[3].state == ProgressState.SNAPSHOT
    net.sent.clear()
    net.propose(1, b"more")
    assert not [m for m in net.sent_of(MT.MSG_APP) if m.to == 3]


def test_a_failed_snapshot_report_returns_the_follower_to_probing():
    net = lagging_follower_behind_a_compacted_leader()
    net.heal()
    net.drop = lambda m: m.type == MT.MSG_SNAP
    net.tick([1])
    net.node(1).report_snapshot(3, failed=True)
    progress = net.node(1).status().progress[3]
    assert progress.state == ProgressState.PROBE
    net.drop = None
    net.tick([1], times=2)
    assert net.members[3].applied[-1] == b"v4"


def test_an_unreachable_report_moves_a_replicating_follower_to_probe():
    net = Network()
    net.elect(1)
    assert net.node(1).status().progress[2].state == ProgressState.REPLICATE
    net.node(1).step(Message(type=MT.MSG_UNREACHABLE, frm=2, to=1))
    assert net.node(1).status().progress[2].state == ProgressState.PROBE


def test_a_follower_ignores_a_snapshot_older_than_its_commit():
    net = Network()
    net.elect(1)
    net.propose(1, b"x")
    term = net.term(1)
    old_meta = SnapshotMetadata(ConfState(voters=[1, 2, 3]), index=net.boot + 1, term=term)
    old = Snapshot(b"", old_meta)
    net.node(2).step(Message(type=MT.MSG_SNAP, to=2, frm=1, term=term, snapshot=old))
    net.process(2)
    assert net.members[2].storage.snapshot().metadata.index == 0
    [resp] = [m for m in net.queue if m.type == MT.MSG_APP_RESP]
    assert resp.index == net.boot + 2


def test_a_node_restarts_from_its_installed_snapshot():
    net = lagging_follower_behind_a_compacted_leader()
    net.heal()
    net.tick([1])
    node = net.restart(3)
    status = node.status()
    assert (status.commit, status.applied) == (net.boot + 6, net.boot + 6)
    assert status.conf_state == ConfState(voters=[1, 2, 3])
    net.propose(1, b"after-restart")
    assert net.members[3].applied[-1] == b"after-restart"
