"""Auto compaction as etcd 3.4's compactor: periodic retention and revision retention."""

from __future__ import annotations

from datetime import timedelta

import trio

from node.server import compactor as compactor_module
from node.server.compactor import AutoCompactor


class FakeKeySpace:
    def __init__(self) -> None:
        self.revision = 1
        self.compacted: list[int] = []
        self.leading = True

    async def grow(self, per_minute: int) -> None:
        while True:
            await trio.sleep(60)
            self.revision += per_minute

    async def compact(self, revision: int) -> None:
        self.compacted.append(revision)

    def compactor(self, retention) -> AutoCompactor:
        return AutoCompactor(
            retention,
            current_revision=lambda: self.revision,
            compacted_revision=lambda: self.compacted[-1] if self.compacted else 0,
            is_leader=lambda: self.leading,
            compact=self.compact,
        )


async def test_periodic_compaction_keeps_one_retention_period_of_history(autojump_clock):
    keys = FakeKeySpace()
    async with trio.open_nursery() as nursery:
        nursery.start_soon(keys.grow, 10)
        nursery.start_soon(keys.compactor(timedelta(minutes=30)).run)
        await trio.sleep(29 * 60 + 1)
        assert keys.compacted == []
        await trio.sleep(31 * 60)
        nursery.cancel_scope.cancel()
    # every compaction is at a revision sampled at least 30 minutes before it ran
    assert keys.compacted and keys.compacted == sorted(keys.compacted)
    assert keys.compacted[-1] <= keys.revision - 30 * 10


async def test_revision_compaction_keeps_the_last_n_revisions_on_the_leader_only(autojump_clock):
    keys = FakeKeySpace()
    keys.leading = False
    async with trio.open_nursery() as nursery:
        nursery.start_soon(keys.grow, 100)
        nursery.start_soon(keys.compactor(250).run)
        await trio.sleep(compactor_module.REVISION_CHECK_INTERVAL * 2 + 1)
        assert keys.compacted == []
        keys.leading = True
        await trio.sleep(compactor_module.REVISION_CHECK_INTERVAL)
        nursery.cancel_scope.cancel()
    (compacted,) = keys.compacted  # one check while leading: 250 behind the revision then
    assert keys.revision - 100 - 250 <= compacted <= keys.revision - 250


async def test_a_zero_retention_turns_auto_compaction_off(autojump_clock):
    keys = FakeKeySpace()
    assert not keys.compactor(0).enabled
    assert not keys.compactor(timedelta(0)).enabled
    await keys.compactor(0).run()  # returns at once
