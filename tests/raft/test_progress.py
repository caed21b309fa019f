"""Progress flow control, the inflight window, quorum arithmetic and membership changes."""

from node.raft import ConfChange, ConfChangeType, ConfState
from node.raft.progress import Inflights, Progress, ProgressState, ProgressTracker
from node.raft.quorum import VoteResult, committed_index, vote_result


def progress(match: int = 0, next_index: int = 1, capacity: int = 4) -> Progress:
    return Progress(match=match, next=next_index, inflights=Inflights(capacity))


def test_inflights_fill_up_and_free_up_to_an_index():
    window = Inflights(3)
    for index in (5, 7, 9):
        window.add(index)
    assert window.full()
    window.free_le(7)
    assert len(window) == 1
    assert not window.full()
    window.free_first_one()
    assert len(window) == 0


def test_a_probing_peer_pauses_after_one_append_until_it_answers():
    pr = progress(match=3, next_index=4)
    assert not pr.is_paused()
    pr.probe_sent = True
    assert pr.is_paused()
    assert pr.maybe_update(5)
    assert not pr.is_paused()
    assert (pr.match, pr.next) == (5, 6)


def test_a_replicating_peer_pauses_when_its_window_is_full():
    pr = progress(capacity=2)
    pr.become_replicate()
    pr.inflights.add(1)
    assert not pr.is_paused()
    pr.inflights.add(2)
    assert pr.is_paused()


def test_a_peer_waiting_for_a_snapshot_is_always_paused():
    pr = progress()
    pr.become_snapshot(10)
    assert pr.is_paused()
    assert pr.pending_snapshot == 10


def test_probing_after_a_snapshot_starts_past_the_snapshot():
    pr = progress(match=1)
    pr.become_snapshot(10)
    pr.become_probe()
    assert (pr.state, pr.next) == (ProgressState.PROBE, 11)


def test_a_rejection_moves_a_probe_back_to_the_hint():
    pr = progress(match=2, next_index=10)
    assert pr.maybe_decr_to(9, 5)
    assert pr.next == 6
    assert not pr.maybe_decr_to(9, 5), "a stale rejection is ignored"


def test_a_rejection_never_moves_next_below_match():
    pr = progress(match=4, next_index=10)
    assert pr.maybe_decr_to(9, 0)
    assert pr.next == 5


def test_a_rejection_in_replicate_restarts_from_match():
    pr = progress(match=4, next_index=10)
    pr.state = ProgressState.REPLICATE
    assert not pr.maybe_decr_to(3, 0)
    assert pr.maybe_decr_to(8, 0)
    assert pr.next == 5


def test_committed_index_is_what_a_majority_matched():
    assert committed_index([]) == 0
    assert committed_index([7]) == 7
    assert committed_index([5, 1, 9]) == 5
    assert committed_index([5, 1, 9, 4]) == 4
    assert committed_index([5, 1, 9, 4, 8]) == 5


def test_vote_result_wins_loses_or_waits():
    voters = {1, 2, 3}
    assert vote_result(voters, {1: True}) == VoteResult.PENDING
    assert vote_result(voters, {1: True, 2: True}) == VoteResult.WON
    assert vote_result(voters, {1: True, 2: False, 3: False}) == VoteResult.LOST
    assert vote_result(voters, {9: True, 8: True}) == VoteResult.PENDING


def tracker_of(voters=(1, 2, 3), learners=()) -> ProgressTracker:
    tracker = ProgressTracker(max_inflight=8)
    tracker.restore(ConfState(voters=list(voters), learners=list(learners)), next_index=5)
    return tracker


def test_learners_do_not_count_for_commit():
    tracker = tracker_of(voters=(1, 2, 3), learners=(4,))
    for node, match in {1: 9, 2: 2, 3: 2, 4: 9}.items():
        tracker.progress[node].match = match
    assert tracker.committed() == 2


def test_adding_a_voter_starts_probing_it_at_the_last_index():
    tracker = tracker_of()
    tracker.apply_conf_change(ConfChange(ConfChangeType.ADD_NODE, 4), last_index=12)
    assert tracker.conf_state() == ConfState(voters=[1, 2, 3, 4])
    assert (tracker.progress[4].match, tracker.progress[4].next) == (0, 12)
    assert tracker.progress[4].recent_active


def test_adding_an_existing_learner_promotes_it_keeping_its_progress():
    tracker = tracker_of(learners=(4,))
    tracker.progress[4].match = 7
    tracker.apply_conf_change(ConfChange(ConfChangeType.ADD_NODE, 4), last_index=12)
    assert tracker.conf_state() == ConfState(voters=[1, 2, 3, 4])
    assert tracker.progress[4].match == 7
    assert not tracker.progress[4].is_learner


def test_removing_nodes_and_repeated_changes():
    tracker = tracker_of(learners=(4,))
    tracker.apply_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 4), last_index=1)
    tracker.apply_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 2), last_index=1)
    tracker.apply_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 9), last_index=1)
    tracker.apply_conf_change(ConfChange(ConfChangeType.ADD_NODE, 1), last_index=1)
    assert tracker.conf_state() == ConfState(voters=[1, 3])
    assert set(tracker.progress) == {1, 3}


def test_removing_the_last_voter_is_ignored():
    tracker = tracker_of(voters=(1,))
    tracker.apply_conf_change(ConfChange(ConfChangeType.REMOVE_NODE, 1), last_index=1)
    assert tracker.conf_state() == ConfState(voters=[1])


def test_quorum_active_counts_recently_heard_voters():
    tracker = tracker_of(voters=(1, 2, 3), learners=(4,))
    for node in (2, 3, 4):
        tracker.progress[node].recent_active = False
    tracker.progress[4].recent_active = True
    assert not tracker.quorum_active()
    tracker.progress[2].recent_active = True
    assert tracker.quorum_active()
