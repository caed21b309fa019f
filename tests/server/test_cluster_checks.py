"""etcd's membership checks on the applied membership, and its persistence in the backend."""

from __future__ import annotations

import pytest

from node.messages import errors
from node.messages.cluster import Member
from node.mvcc.backend import Backend
from node.raft import ConfChange, ConfChangeType
from node.server.cluster import ConfChangeContext, RaftCluster, added_member_id

ADD, REMOVE, LEARNER = (
    ConfChangeType.ADD_NODE,
    ConfChangeType.REMOVE_NODE,
    ConfChangeType.ADD_LEARNER_NODE,
)


@pytest.fixture
def backend(tmp_path):
    backend = Backend(tmp_path / "backend", map_size=1 << 24)
    yield backend
    backend.close()


def test_adding_a_voter_needs_a_quorum_of_started_members(backend):
    cluster = RaftCluster(backend)
    cluster.replace_all([Member(1, "", ["http://a:1"])])
    assert not cluster.is_ready_to_add_voting_member()  # 0 of 2 started
    cluster.set_attributes(1, "a", [])
    assert cluster.is_ready_to_add_voting_member()  # 1 -> 2: etcd lets a lone member grow
    cluster.replace_all(
        [
            Member(1, "a", ["http://a:1"]),
            Member(2, "", ["http://b:1"]),
            Member(3, "", ["http://c:1"]),
        ]
    )
    assert not cluster.is_ready_to_add_voting_member()  # 1 of 4 started
    cluster.set_attributes(2, "b", [])
    cluster.set_attributes(3, "c", [])
    assert cluster.is_ready_to_add_voting_member()


def test_removing_needs_a_quorum_of_started_members_left_and_never_the_last_voter(backend):
    cluster = RaftCluster(backend)
    cluster.replace_all([Member(1, "a", ["http://a:1"])])
    assert not cluster.is_ready_to_remove_voting_member(1)
    cluster.replace_all(
        [
            Member(1, "a", ["http://a:1"]),
            Member(2, "b", ["http://b:1"]),
            Member(3, "", ["http://c:1"]),
        ]
    )
    assert cluster.is_ready_to_remove_voting_member(3)
    assert not cluster.is_ready_to_remove_voting_member(1)  # leaves b and unstarted c


def test_conf_changes_are_validated_against_the_applied_membership(backend):
    cluster = RaftCluster(backend)
    cluster.replace_all([Member(1, "a", ["http://a:1"]), Member(5, "l", ["http://l:1"], [], True)])

    def context(member_id, urls, promote=False):
        return ConfChangeContext(Member(member_id, "", urls), promote)

    with pytest.raises(errors.MemberExists):
        cluster.validate(ConfChange(ADD, 1), context(1, ["http://z:1"]))
    with pytest.raises(errors.PeerURLExists):
        cluster.validate(ConfChange(ADD, 2), context(2, ["http://a:1"]))
    with pytest.raises(errors.TooManyLearners):
        cluster.validate(ConfChange(LEARNER, 3), context(3, ["http://c:1"]))
    with pytest.raises(errors.MemberNotLearner):
        cluster.validate(ConfChange(ADD, 1), context(1, [], promote=True))
    cluster.validate(ConfChange(ADD, 5), context(5, [], promote=True))
    cluster.remove(5)
    with pytest.raises(errors.MemberNotFound):
        cluster.validate(ConfChange(REMOVE, 5), None)
    with pytest.raises(errors.MemberNotFound):
        cluster.validate(ConfChange(ADD, 5), context(5, ["http://new:1"]))


def test_membership_survives_a_reopen(backend, tmp_path):
    cluster = RaftCluster(backend)
    cluster.replace_all([Member(1, "a", ["http://a:1"]), Member(2, "b", ["http://b:1"])])
    cluster.remove(2)
    cluster.set_attributes(1, "a", ["http://a:2379"])
    reopened = RaftCluster(backend)
    assert reopened.members() == [Member(1, "a", ["http://a:1"], ["http://a:2379"])]
    assert reopened.is_removed(2)
    assert reopened.was_applied(ConfChange(REMOVE, 2))
    assert not reopened.was_applied(ConfChange(ADD, 9))


def test_an_added_members_id_is_etcds_for_the_same_peer_urls_and_second():
    # `etcdctl member add x --learner --peer-urls=http://10.9.9.9:2380` against etcd 3.4.23
    # answered ID 4390639772726403071 at unix time 1795549032 (its cluster token was not used).
    assert added_member_id(["http://10.9.9.9:2380"], 1795549032.7) == 4390639772726403071
    assert added_member_id(["http://10.9.9.9:2380"], 1795549033) != 4390639772726403071
