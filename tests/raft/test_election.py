"""Leader election: timeouts, votes, pre-vote, check-quorum and the leader lease."""

from node.raft import (
    ConfChange,
    ConfChangeType,
    ConfState,
    Entry,
    EntryType,
    Message,
    MessageType,
    StateType,
)
from tests.raft.network import BOOT_TERM, Network, bootstrapped

MT = MessageType


def test_a_follower_campaigns_after_a_randomized_timeout_and_wins():
    net = Network()
    ticks = 0
    while net.state(1) != StateType.LEADER and ticks < 30:
        net.tick([1])
        ticks += 1
    assert 10 <= ticks < 20
    assert net.term(1) == BOOT_TERM + 1
    assert all(net.node(i).status().lead == 1 for i in (1, 2, 3))


def test_election_timeouts_are_randomized_within_one_to_two_election_ticks():
    timeouts = set()
    for seed in range(30):
        node = bootstrapped(1, ConfState(voters=[1, 2, 3]), seed=seed)
        ticks = 0
        while node.status().raft_state == StateType.FOLLOWER and ticks < 40:
            node.tick()
            ticks += 1
        timeouts.add(ticks)
    assert min(timeouts) >= 10
    assert max(timeouts) <= 19
    assert len(timeouts) > 3


def test_a_single_voter_becomes_leader_at_once_and_commits_its_empty_entry():
    net = Network(voters=[1])
    net.elect(1)
    assert net.commit(1) == net.boot + 1
    assert net.log_terms(1) == [BOOT_TERM + 1]


def test_a_new_leader_appends_an_empty_entry_of_its_term():
    net = Network()
    net.elect(1)
    [entry] = net.members[2].storage.entries(net.boot + 1, net.boot + 2)
    assert (entry.term, entry.type, entry.data) == (BOOT_TERM + 1, EntryType.NORMAL, b"")
    assert net.commit(2) == net.boot + 1


def test_each_node_votes_at_most_once_per_term():
    net = Network(pre_vote=False)
    net.isolate(3)
    net.node(1).campaign()
    net.node(2).campaign()
    net.deliver()
    assert net.state(1) == StateType.CANDIDATE
    assert net.state(2) == StateType.CANDIDATE
    assert net.members[1].storage.initial_state()[0].vote == 1


def test_a_candidate_with_a_shorter_log_is_refused():
    net = Network(voters=[1, 2, 3], pre_vote=False)
    net.elect(1)
    leader_term = net.term(1)
    net.isolate(3)
    net.propose(1, b"x")
    net.heal()
    net.node(3).campaign()
    net.deliver()
    assert net.state(3) != StateType.LEADER
    assert net.node(3).status().term == leader_term + 1
    net.tick(times=40)
    assert net.leader() in (1, 2)
    assert net.applied(net.leader()) == [b"x"]


def test_pre_vote_keeps_an_isolated_node_from_bumping_its_term():
    net = Network()
    net.elect(1)
    leader_term = net.term(1)
    net.isolate(3)
    net.tick([3], times=100)
    assert net.term(3) == leader_term
    assert net.state(3) == StateType.PRE_CANDIDATE


def test_a_rejoining_node_with_pre_vote_does_not_disrupt_the_cluster():
    net = Network()
    net.elect(1)
    leader_term = net.term(1)
    net.isolate(3)
    net.tick([3], times=100)
    net.heal()
    net.tick(times=5)
    assert net.leader() == 1
    assert [net.term(i) for i in (1, 2, 3)] == [leader_term] * 3
    assert net.state(3) == StateType.FOLLOWER


def test_without_pre_vote_a_rejoining_node_forces_a_new_term():
    net = Network(pre_vote=False, check_quorum=False)
    net.elect(1)
    leader_term = net.term(1)
    net.isolate(3)
    net.tick([3], times=40)
    assert net.term(3) > leader_term
    net.heal()
    net.tick([3], times=20)
    assert net.term(1) > leader_term, "the old leader adopted the rejoining node's higher term"
    assert net.state(1) != StateType.LEADER or net.term(1) == net.term(3)


def test_check_quorum_makes_an_isolated_leader_step_down():
    net = Network()
    net.elect(1)
    net.isolate(1)
    net.tick([1], times=10)
    assert net.state(1) == StateType.LEADER, "the election round counts as activity"
    net.tick([1], times=10)
    assert net.state(1) == StateType.FOLLOWER
    assert net.node(1).status().lead == 0


def test_a_leader_hearing_from_a_quorum_stays_leader():
    net = Network()
    net.elect(1)
    net.isolate(3)
    net.tick(times=50)
    assert net.state(1) == StateType.LEADER


def test_leader_lease_refuses_votes_while_the_leader_is_heard_from():
    net = Network(pre_vote=False)
    net.elect(1)
    leader_term = net.term(1)
    follower = net.node(2)
    follower.step(
        Message(type=MT.MSG_VOTE, to=2, frm=3, term=5, index=99, log_term=leader_term)
    )
    assert follower.status().term == leader_term
    assert follower.status().vote == 1
    assert not follower.has_ready() or not follower.ready().messages


def test_a_vote_is_granted_once_the_lease_has_expired():
    net = Network(pre_vote=False)
    net.elect(1)
    net.isolate(1)
    net.tick([2], times=10)
    net.node(2).step(
        Message(type=MT.MSG_VOTE, to=2, frm=3, term=5, index=99, log_term=net.term(1))
    )
    net.process(2)
    assert net.node(2).status().vote == 3
    [resp] = [m for m in net.queue if m.type == MT.MSG_VOTE_RESP]
    assert not resp.reject


def test_a_leadership_transfer_vote_overrides_the_lease():
    net = Network()
    net.elect(1)
    leader_term = net.term(1)
    net.node(2).step(
        Message(type=MT.MSG_VOTE, to=2, frm=3, term=leader_term + 1, index=99,
                log_term=leader_term, context=b"CampaignTransfer")
    )
    assert net.node(2).status().vote == 3


def test_a_learner_never_campaigns():
    net = Network(voters=[1, 2], learners=[3])
    net.tick([3], times=100)
    assert net.state(3) == StateType.FOLLOWER
    net.node(3).campaign()
    assert net.state(3) == StateType.FOLLOWER


def test_a_node_outside_the_configuration_never_campaigns():
    net = Network()
    net.add(4)
    net.tick([4], times=100)
    net.node(4).campaign()
    assert net.state(4) == StateType.FOLLOWER
    assert net.term(4) == 0


def test_a_stale_term_message_gets_the_current_term_back():
    net = Network()
    net.elect(1)
    old_term = net.term(1)
    net.node(1).campaign()
    net.isolate(1)
    net.tick([2, 3], times=30)
    new_leader = net.leader()
    assert new_leader in (2, 3) and net.term(new_leader) == old_term + 1
    net.heal()
    net.tick([1])
    assert net.state(1) == StateType.FOLLOWER
    assert net.term(1) == old_term + 1


def test_a_restarted_node_keeps_its_term_and_vote():
    net = Network()
    net.elect(1)
    node = net.restart(2)
    status = node.status()
    assert (status.term, status.vote, status.commit) == (BOOT_TERM + 1, 1, net.boot + 1)
    assert status.raft_state == StateType.FOLLOWER


def test_a_node_with_unapplied_conf_changes_does_not_campaign():
    node = bootstrapped(1, ConfState(voters=[1, 2, 3]))
    last = node.status().commit
    add_4 = ConfChange(ConfChangeType.ADD_NODE, 4).encode()
    node.step(
        Message(type=MT.MSG_APP, to=1, frm=2, term=BOOT_TERM, index=last, log_term=BOOT_TERM,
                commit=last + 1,
                entries=[Entry(BOOT_TERM, last + 1, EntryType.CONF_CHANGE, add_4)])
    )
    assert node.status().commit == last + 1
    node.campaign()
    assert node.status().raft_state == StateType.FOLLOWER
