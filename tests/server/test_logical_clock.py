"""The raft ticker as a logical clock: real-time ticks, none while held, exactly N on fire."""

import pytest
import trio
import trio.testing

from node.server.logical_clock import LogicalClock


async def test_a_held_clock_ticks_only_when_fired_and_in_real_time_again_once_released(
    autojump_clock: trio.testing.MockClock,
):
    ticks: list[float] = []
    clock = LogicalClock(0.1, lambda: ticks.append(trio.current_time()))
    async with trio.open_nursery() as nursery:
        nursery.start_soon(clock.run)
        await trio.sleep(0.55)
        assert len(ticks) == 5

        clock.hold()
        await trio.sleep(10)
        assert len(ticks) == 5
        clock.fire(3)
        assert len(ticks) == 8

        clock.release()
        await trio.sleep(0.55)
        assert len(ticks) >= 12
        nursery.cancel_scope.cancel()


def test_fire_is_refused_in_real_time_and_for_no_ticks():
    clock = LogicalClock(0.1, lambda: None)
    with pytest.raises(ValueError, match="real time"):
        clock.fire(1)
    clock.hold()
    with pytest.raises(ValueError, match="must be positive"):
        clock.fire(0)
