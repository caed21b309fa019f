"""The nemesis' fault names and schedule: every selected fault comes once per round, and a
seed replays the same order."""

from __future__ import annotations

import random

import pytest

from console.chaos.nemesis import ALL_FAULTS, Fault, FaultSchedule, parse_faults


def test_all_names_every_fault_kind() -> None:
    assert parse_faults("all") == list(ALL_FAULTS)
    assert len(ALL_FAULTS) == 17


def test_faults_are_named_as_on_the_command_line() -> None:
    assert parse_faults("kill-leader, wal-bitflip,") == [Fault.KILL_LEADER, Fault.WAL_BITFLIP]


def test_an_unknown_fault_name_is_refused_with_the_known_ones() -> None:
    with pytest.raises(ValueError, match=r"unknown fault 'kill-everyone'.*kill-leader"):
        parse_faults("kill-leader,kill-everyone")


def test_every_fault_comes_once_in_each_round() -> None:
    faults = parse_faults("kill-leader,pause,link-drop")
    schedule = FaultSchedule(faults, random.Random(1))
    rounds = [sorted(schedule.next() for _ in faults) for _ in range(4)]
    assert rounds == [sorted(faults)] * 4


def test_the_same_seed_gives_the_same_order() -> None:
    def order(seed: str) -> list[Fault]:
        schedule = FaultSchedule(ALL_FAULTS, random.Random(seed))
        return [schedule.next() for _ in range(30)]

    assert order("7/nemesis") == order("7/nemesis")
    assert order("7/nemesis") != order("8/nemesis")
