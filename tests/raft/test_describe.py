"""The text forms of node.raft.describe: each record reads as etcd-io/raft's Describe* prints it."""

from node.raft import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    HardState,
    Message,
    MessageType,
    ReadState,
    Ready,
    Snapshot,
    SnapshotMetadata,
    SoftState,
    StateType,
)
from node.raft.describe import (
    describe_conf_state,
    describe_entry,
    describe_hard_state,
    describe_message,
    describe_message_type,
    describe_ready,
    describe_snapshot,
    describe_soft_state,
    quote,
)

MT = MessageType


def conf_change_entry(term: int, index: int, kind: ConfChangeType, node_id: int) -> Entry:
    return Entry(term, index, EntryType.CONF_CHANGE, ConfChange(kind, node_id).encode())


def test_every_message_type_has_etcds_name():
    assert describe_message_type(MT.MSG_APP) == "MsgApp"
    assert describe_message_type(MT.MSG_PRE_VOTE_RESP) == "MsgPreVoteResp"
    assert describe_message_type(MT.MSG_TIMEOUT_NOW) == "MsgTimeoutNow"
    names = {describe_message_type(t) for t in MessageType}
    assert len(names) == len(MessageType)
    assert all(name.startswith("Msg") for name in names)


def test_entries_show_term_index_type_and_data():
    assert describe_entry(Entry(2, 6, EntryType.NORMAL, b"foo")) == '2/6 EntryNormal "foo"'
    assert describe_entry(Entry(2, 3)) == '2/3 EntryNormal ""'
    add = conf_change_entry(1, 1, ConfChangeType.ADD_NODE, 1)
    assert describe_entry(add) == "1/1 EntryConfChange v1"
    learner = conf_change_entry(3, 9, ConfChangeType.ADD_LEARNER_NODE, 4)
    assert describe_entry(learner) == "3/9 EntryConfChange l4"
    remove = conf_change_entry(3, 10, ConfChangeType.REMOVE_NODE, 2)
    assert describe_entry(remove) == "3/10 EntryConfChange r2"


def test_entry_data_may_be_formatted_by_the_caller():
    entry = Entry(2, 6, EntryType.NORMAL, b"foo")
    assert describe_entry(entry, lambda data: data.decode().upper()) == "2/6 EntryNormal FOO"


def test_undecodable_conf_change_data_shows_the_error():
    text = describe_entry(Entry(1, 1, EntryType.CONF_CHANGE, b"\xff"))
    assert text.startswith("1/1 EntryConfChange conf change is not valid cbor")


def test_bytes_are_quoted_as_go_does():
    assert quote(b"a\"b\\c") == '"a\\"b\\\\c"'
    assert quote(b"\n\x00\xff") == '"\\n\\x00\\xff"'


def test_hard_state_leaves_out_an_empty_vote():
    assert describe_hard_state(HardState(2, 1, 5)) == "Term:2 Vote:1 Commit:5"
    assert describe_hard_state(HardState(2, 0, 5)) == "Term:2 Commit:5"


def test_soft_state_names_the_leader_and_role():
    assert describe_soft_state(SoftState(1, StateType.LEADER)) == "Lead:1 State:StateLeader"
    assert (
        describe_soft_state(SoftState(0, StateType.PRE_CANDIDATE))
        == "Lead:None State:StatePreCandidate"
    )


def test_node_ids_print_in_hex_as_etcds_do():
    assert describe_soft_state(SoftState(0x1A, StateType.FOLLOWER)) == "Lead:1a State:StateFollower"


def test_snapshot_and_conf_state():
    snap = Snapshot(b"x", SnapshotMetadata(ConfState([1, 2, 3], [4]), index=11, term=2))
    assert describe_conf_state(snap.metadata.conf_state) == "Voters:[1 2 3] Learners:[4]"
    assert describe_snapshot(snap) == "Index:11 Term:2 ConfState:Voters:[1 2 3] Learners:[4]"


def test_an_append_with_one_entry_is_one_line():
    m = Message(MT.MSG_APP, to=2, frm=1, term=2, log_term=1, index=5, commit=5,
                entries=[Entry(2, 6, EntryType.NORMAL, b"foo")])
    assert describe_message(m) == (
        '1->2 MsgApp Term:2 Log:1/5 Commit:5 Entries:[2/6 EntryNormal "foo"]'
    )


def test_an_append_with_several_entries_lists_them_indented():
    m = Message(MT.MSG_APP, to=3, frm=1, term=2, log_term=2, index=4,
                entries=[Entry(2, 5, EntryType.NORMAL, b"a"), Entry(2, 6, EntryType.NORMAL, b"b")])
    assert describe_message(m) == (
        '1->3 MsgApp Term:2 Log:2/4 Entries:[\n  2/5 EntryNormal "a"\n  2/6 EntryNormal "b"\n]'
    )


def test_a_rejection_shows_its_hint():
    m = Message(MT.MSG_APP_RESP, to=1, frm=2, term=3, log_term=2, index=7, reject=True,
                reject_hint=3)
    assert describe_message(m) == "2->1 MsgAppResp Term:3 Log:2/7 Rejected (Hint: 3)"


def test_a_heartbeat_shows_its_read_context():
    m = Message(MT.MSG_HEARTBEAT, to=2, frm=1, term=2, commit=4, context=b"read-1")
    assert describe_message(m) == '1->2 MsgHeartbeat Term:2 Log:0/0 Commit:4 Context:"read-1"'


def test_a_snapshot_message_shows_the_metadata_on_its_own_line():
    snap = Snapshot(b"img", SnapshotMetadata(ConfState([1, 2, 3]), index=9, term=2))
    m = Message(MT.MSG_SNAP, to=3, frm=1, term=2, snapshot=snap)
    assert describe_message(m) == (
        "1->3 MsgSnap Term:2 Log:0/0\n"
        "  Snapshot: Index:9 Term:2 ConfState:Voters:[1 2 3] Learners:[]"
    )


def test_an_empty_ready():
    assert describe_ready(Ready()) == "<empty Ready>"


def test_a_ready_lists_its_parts_in_etcds_order():
    rd = Ready(
        soft_state=SoftState(1, StateType.LEADER),
        hard_state=HardState(2, 1, 4),
        read_states=[ReadState(4, b"r")],
        entries=[Entry(2, 5, EntryType.NORMAL, b"x")],
        committed_entries=[Entry(2, 4)],
        messages=[Message(MT.MSG_APP, to=2, frm=1, term=2, log_term=2, index=4, commit=4,
                          entries=[Entry(2, 5, EntryType.NORMAL, b"x")])],
        must_sync=True,
    )
    assert describe_ready(rd) == (
        "Ready MustSync=true:\n"
        "Lead:1 State:StateLeader\n"
        "HardState Term:2 Vote:1 Commit:4\n"
        'ReadStates [{Index:4 RequestCtx:"r"}]\n'
        "Entries:\n"
        '2/5 EntryNormal "x"\n'
        "CommittedEntries:\n"
        '2/4 EntryNormal ""\n'
        "Messages:\n"
        '1->2 MsgApp Term:2 Log:2/4 Commit:4 Entries:[2/5 EntryNormal "x"]\n'
    )


def test_a_ready_with_a_snapshot():
    snap = Snapshot(b"", SnapshotMetadata(ConfState([1, 2]), index=7, term=3))
    rd = Ready(hard_state=HardState(3, 0, 7), snapshot=snap, must_sync=True)
    assert describe_ready(rd) == (
        "Ready MustSync=true:\n"
        "HardState Term:3 Commit:7\n"
        "Snapshot Index:7 Term:3 ConfState:Voters:[1 2] Learners:[]\n"
    )
