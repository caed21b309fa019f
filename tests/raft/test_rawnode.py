"""The RawNode contract: Ready contents, advance, status, restart, config and bad input."""

import pytest

from node.raft import (
    Config,
    ConfState,
    Entry,
    EntryType,
    HardState,
    MalformedRecord,
    MemoryStorage,
    Message,
    MessageType,
    RawNode,
    Snapshot,
    SnapshotMetadata,
    SoftState,
    StateType,
)
from tests.raft.network import BOOT_TERM, Network, bootstrapped

MT = MessageType


def fresh_node(node_id: int = 1, voters=(1, 2, 3), **config) -> RawNode:
    """A new initial member of `voters` that has handled its bootstrap Ready."""
    return bootstrapped(node_id, ConfState(voters=list(voters)), **config)


def test_a_pre_vote_campaign_reports_the_new_role_but_no_new_hard_state():
    node = fresh_node()
    node.campaign()
    assert node.has_ready()
    rd = node.ready()
    assert rd.soft_state == SoftState(lead=0, raft_state=StateType.PRE_CANDIDATE)
    assert rd.hard_state is None
    assert not rd.must_sync
    assert sorted((m.type, m.to, m.term) for m in rd.messages) == [
        (MT.MSG_PRE_VOTE, 2, BOOT_TERM + 1),
        (MT.MSG_PRE_VOTE, 3, BOOT_TERM + 1),
    ]
    node.advance(rd)
    assert not node.has_ready()


def test_a_vote_must_be_synced_before_its_messages_are_sent():
    node = fresh_node(pre_vote=False)
    booted = node.status().commit
    node.campaign()
    rd = node.ready()
    assert rd.hard_state == HardState(term=BOOT_TERM + 1, vote=1, commit=booted)
    assert rd.must_sync


def test_a_commit_only_change_does_not_need_a_sync():
    net = Network()
    net.elect(1)
    net.node(1).propose(b"x")
    net.process(1)
    follower = net.node(2)
    follower.step(net.queue.popleft())
    rd = follower.ready()
    assert rd.must_sync and rd.entries
    net.members[2].storage.append(rd.entries)
    follower.advance(rd)
    term = net.term(1)
    follower.step(Message(type=MT.MSG_HEARTBEAT, to=2, frm=1, term=term, commit=net.boot + 2))
    rd = follower.ready()
    assert rd.hard_state == HardState(term=term, vote=1, commit=net.boot + 2)
    assert not rd.must_sync


def test_advance_counts_the_committed_entries_as_applied():
    node = fresh_node(voters=[1])
    booted = node.status().applied
    node.campaign()
    rd = node.ready()
    assert [e.index for e in rd.entries] == [booted + 1]
    assert [e.index for e in rd.committed_entries] == [booted + 1]
    assert node.status().applied == booted
    node.advance(rd)
    assert node.status().applied == booted + 1
    assert not node.has_ready()


def test_messages_to_self_never_appear_in_ready():
    node = fresh_node(voters=[1])
    node.campaign()
    node.read_index(b"r")
    node.propose(b"x")
    rd = node.ready()
    assert rd.messages == []
    assert [rs.request_ctx for rs in rd.read_states] == [b"r"]


def test_status_reports_progress_only_on_the_leader():
    net = Network()
    net.elect(1)
    net.propose(1, b"x")
    status = net.node(1).status()
    last = net.boot + 2
    assert (status.id, status.term, status.lead) == (1, BOOT_TERM + 1, 1)
    assert (status.commit, status.applied) == (last, last)
    assert status.raft_state == StateType.LEADER
    assert {peer: (p.match, p.next) for peer, p in status.progress.items()} == {
        1: (last, last + 1), 2: (last, last + 1), 3: (last, last + 1),
    }
    assert net.node(2).status().progress == {}


def test_a_restarted_node_hands_out_committed_entries_after_applied_again():
    net = Network()
    net.elect(1)
    net.propose(1, b"a")
    net.propose(1, b"b")
    applied_a = net.boot + 2
    net.members[2].applied_index = applied_a
    node = net.restart(2)
    assert node.status().applied == applied_a
    rd = node.ready()
    assert [e.data for e in rd.committed_entries] == [b"b"]


@pytest.mark.parametrize(
    ("settings", "problem"),
    [
        ({"id": 0}, "cannot use none as id"),
        ({"heartbeat_tick": 0}, "heartbeat tick must be greater than 0"),
        ({"election_tick": 1}, "election tick must be greater than heartbeat tick"),
        ({"storage": None}, "storage cannot be nil"),
        ({"max_inflight_msgs": 0}, "max inflight messages must be greater than 0"),
        ({"applied": -1}, "applied index must not be negative"),
    ],
)
def test_config_problems_are_named(settings, problem):
    config = {"id": 1, "storage": MemoryStorage(ConfState(voters=[1]))} | settings
    with pytest.raises(ValueError, match=problem):
        RawNode(Config(**config))


def test_config_defaults_follow_etcd():
    config = Config(id=1, storage=MemoryStorage())
    assert (config.election_tick, config.heartbeat_tick, config.max_inflight_msgs) == (10, 1, 256)
    assert config.pre_vote and config.check_quorum
    assert config.max_size_per_msg == 1 << 20
    assert config.max_uncommitted_entries_size == 0


def test_an_applied_index_beyond_the_commit_index_is_refused():
    storage = MemoryStorage(ConfState(voters=[1]))
    storage.append([Entry(1, 1)])
    storage.set_hard_state(HardState(term=1, commit=0))
    with pytest.raises(ValueError, match=r"applied\(1\) is out of range"):
        RawNode(Config(id=1, storage=storage, applied=1))


GARBAGE = [
    pytest.param(None, id="not-a-message"),
    pytest.param(Message(type=99, to=2, frm=1, term=1), id="unknown-type"),
    pytest.param(Message(type="app", to=2, frm=1, term=1), id="type-as-string"),
    pytest.param(Message(type=MT.MSG_APP, to=2, frm=1, term=-1), id="negative-term"),
    pytest.param(Message(type=MT.MSG_APP, to=2, frm=1, term="1"), id="term-as-string"),
    pytest.param(Message(type=MT.MSG_APP, to=2, frm=1, term=1, index=-4), id="negative-index"),
    pytest.param(Message(type=MT.MSG_HEARTBEAT, to=2, frm=1, term=1, commit=1.5), id="float"),
    pytest.param(Message(type=MT.MSG_APP_RESP, to=2, frm=1, term=1, reject=1), id="int-reject"),
    pytest.param(Message(type=MT.MSG_APP, to=2, frm=1, term=1, entries=None), id="no-list"),
    pytest.param(
        Message(type=MT.MSG_APP, to=2, frm=1, term=1, entries=[Entry(1, 1, data="x")]),
        id="entry-data-str",
    ),
    pytest.param(
        Message(type=MT.MSG_APP, to=2, frm=1, term=1, entries=[Entry(1, 1), Entry(1, 3)]),
        id="entries-with-gap",
    ),
    pytest.param(
        Message(type=MT.MSG_APP, to=2, frm=1, term=1, entries=[Entry(5, 1)]),
        id="entry-from-the-future",
    ),
    pytest.param(Message(type=MT.MSG_SNAP, to=2, frm=1, term=1), id="snap-without-snapshot"),
    pytest.param(
        Message(type=MT.MSG_SNAP, to=2, frm=1, term=1, snapshot=Snapshot(b"", "meta")),
        id="snapshot-bad-metadata",
    ),
    pytest.param(Message(type=MT.MSG_HEARTBEAT, to=2, frm=0, term=1), id="no-sender"),
    pytest.param(Message(type=MT.MSG_HEARTBEAT, to=3, frm=1, term=1), id="misaddressed"),
    pytest.param(Message(type=MT.MSG_HEARTBEAT, to=2, frm=2, term=1), id="from-itself"),
    pytest.param(Message(type=MT.MSG_APP, to=2, frm=1, term=0), id="termless-append"),
    pytest.param(Message(type=MT.MSG_HUP, to=2, frm=1), id="local-hup"),
    pytest.param(Message(type=MT.MSG_READ_INDEX, to=2, frm=1, entries=[]), id="read-no-ctx"),
    pytest.param(Message(type=MT.MSG_PROP, to=2, frm=1, entries=[]), id="empty-proposal"),
]


@pytest.mark.parametrize("garbage", GARBAGE)
def test_malformed_input_is_dropped_and_counted(garbage):
    net = Network()
    net.elect(1)
    follower = net.node(2)
    before = follower.status()
    follower.step(garbage)
    after = follower.status()
    assert (after.term, after.commit, after.lead) == (before.term, before.commit, before.lead)
    assert after.raft_state == StateType.FOLLOWER
    assert after.dropped_messages == before.dropped_messages + 1
    assert not follower.has_ready()


def test_a_response_from_an_unknown_node_is_ignored():
    net = Network()
    net.elect(1)
    leader = net.node(1)
    term = net.term(1)
    leader.step(Message(type=MT.MSG_APP_RESP, to=1, frm=99, term=term, index=net.boot + 1))
    leader.step(Message(type=MT.MSG_HEARTBEAT_RESP, to=1, frm=99, term=term))
    assert 99 not in leader.status().progress
    assert leader.status().dropped_messages == 2


def test_a_stale_term_message_is_ignored():
    net = Network()
    net.elect(1)
    net.tick([2, 3], times=30)
    net.isolate(1)
    net.node(1).campaign()
    net.heal()
    follower = net.node(2)
    before = follower.status()
    assert before.term > BOOT_TERM
    follower.step(Message(type=MT.MSG_APP_RESP, to=2, frm=3, term=BOOT_TERM, index=9))
    follower.step(Message(type=MT.MSG_VOTE_RESP, to=2, frm=3, term=BOOT_TERM))
    assert follower.status().term == before.term
    assert follower.status().raft_state == before.raft_state


def test_a_leader_ignores_an_acknowledgement_beyond_its_log():
    net = Network()
    net.elect(1)
    leader = net.node(1)
    leader.step(Message(type=MT.MSG_APP_RESP, to=1, frm=2, term=net.term(1), index=1000))
    assert leader.status().progress[2].match == net.boot + 1
    assert leader.status().commit == net.boot + 1


def test_bad_requests_to_the_api_do_not_raise():
    node = fresh_node()
    node.read_index("not bytes")
    node.transfer_leader(-1)
    node.transfer_leader("2")
    node.campaign()
    assert node.status().dropped_messages == 3


def test_propose_refuses_non_bytes_data():
    with pytest.raises(TypeError):
        fresh_node(voters=[1]).propose("text")


def test_an_append_message_round_trips_through_the_wire_form():
    msg = Message(
        type=MT.MSG_APP, to=2, frm=1, term=3, log_term=2, index=7,
        entries=[Entry(3, 8, EntryType.NORMAL, b"a"), Entry(3, 9, EntryType.CONF_CHANGE, b"b")],
        commit=6, context=b"ctx",
    )
    assert Message.decode(msg.encode()) == msg


def test_a_snapshot_message_round_trips_through_the_wire_form():
    snapshot = Snapshot(b"image", SnapshotMetadata(ConfState([1, 2], [3]), index=40, term=5))
    msg = Message(type=MT.MSG_SNAP, to=3, frm=1, term=5, snapshot=snapshot)
    assert Message.from_wire(msg.to_wire()) == msg


def test_a_rejection_round_trips_through_the_wire_form():
    msg = Message(type=MT.MSG_APP_RESP, to=1, frm=2, term=5, index=9, reject=True,
                  reject_hint=4, log_term=3)
    assert Message.decode(msg.encode()) == msg


def test_wire_garbage_is_a_malformed_record():
    with pytest.raises(MalformedRecord):
        Message.decode(b"\xff\x00")
    with pytest.raises(MalformedRecord):
        Message.from_wire([3, 1, 2, -1, 0, 0, [], 0, False, 0, None, b""])


def test_a_heartbeat_claiming_a_commit_beyond_our_log_does_not_move_commit():
    net = Network()
    net.elect(1)
    follower = net.node(2)
    follower.step(Message(type=MT.MSG_HEARTBEAT, to=2, frm=1, term=net.term(1), commit=50))
    assert follower.status().commit == net.boot + 1
