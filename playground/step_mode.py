"""Step mode over a whole playground: hold every member, list what they hold with ids unique in
the cluster (`n1.3`: member n1's held message 3), deliver, drop, tick, release.

Each member holds its own clock and outgoing messages (its Admin.Step call); this module only
fans the calls out and names members by their playground names.
"""

from __future__ import annotations

from collections.abc import Callable, Coroutine, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import anyio

from node.client import Client, ClientTls, Response
from node.messages.step_mode import StepAction
from playground.errors import PlaygroundError, unknown_member
from playground.member_call import CALL_TIMEOUT, call_members
from playground.record import MemberRecord

NEXT, ALL = "next", "all"
"""The two names `deliver` and `drop` take beside a held message's id."""
SETTLE_POLL = 0.05
SETTLE_POLLS = 3
SETTLE_LIMIT = 2.0
"""A delivery or a tick returns once the held messages stayed the same for SETTLE_POLLS polls
SETTLE_POLL seconds apart (the members have answered what they got), or after SETTLE_LIMIT."""


@dataclass(slots=True)
class HeldMessage:
    """One message a member holds, its sender and recipient by name, fields as raft's."""

    ref: str
    """Its id in the playground: `<sender>.<id in the sender>`, as `n1.3`."""
    sender: str
    recipient: str
    type: str
    term: int
    index: int
    log_term: int
    entries: int
    commit: int
    reject: bool
    reject_hint: int
    held_at: float

    def describe(self) -> str:
        """`n1->n2 MsgApp Term:2 Log:2/7 Commit:7 Entries:1`, etcd-io/raft's message form with
        member names and the entries counted."""
        text = f"{self.sender}->{self.recipient} {self.type} Term:{self.term} "
        text += f"Log:{self.log_term}/{self.index}"
        if self.reject:
            text += f" Rejected (Hint: {self.reject_hint})"
        if self.commit:
            text += f" Commit:{self.commit}"
        if self.entries:
            text += f" Entries:{self.entries}"
        return text


@dataclass(slots=True)
class StepOutcome:
    """What one step-mode command did: messages delivered or dropped, ticks fired, and what
    the cluster still holds."""

    done: list[HeldMessage]
    held: list[HeldMessage]
    ticks: int = 0
    holding: list[str] | None = None
    """The members in step mode, when every running member was asked (None otherwise)."""


class ClusterStepMode:
    """Step mode on every running member of a playground."""

    def __init__(
        self,
        members: Callable[[], Mapping[str, MemberRecord]],
        is_up: Callable[[str], bool],
        tls: Callable[[], ClientTls | None] = lambda: None,
    ) -> None:
        self._members = members
        self._is_up = is_up
        self._tls = tls
        """How the members are dialed (a TLS playground's client certificate)."""

    async def hold(self) -> StepOutcome:
        """Stop every running member's clock and hold its outgoing messages."""
        return await self._on_every_member(StepAction.HOLD)

    async def held(self) -> StepOutcome:
        """The messages every running member holds, oldest first."""
        return await self._on_every_member(StepAction.HELD)

    async def release(self) -> StepOutcome:
        """Back to real time everywhere, delivering whatever is still held."""
        return await self._on_every_member(StepAction.RELEASE)

    async def hold_if_held(self, name: str) -> None:
        """Hold member `name` too when another member is held: one restarted or added during
        step mode joins it rather than run in real time. Nothing when nobody answers."""
        try:
            holding = (await self.held()).holding or []
            if any(other != name for other in holding):
                await self._step(self._running(name), StepAction.HOLD)
        except PlaygroundError:
            return

    async def deliver(
        self, which: str, to: str | None = None, *, settle: bool = True
    ) -> StepOutcome:
        """Deliver held message `which` (a ref as `n1.3`, `next`: the oldest, `all`), only
        those to member `to` when given; PlaygroundError if none matches. Unless `settle` is
        False, returns once the members have answered (see `settled`)."""
        to_id = self._member_id(to) if to is not None else 0
        if which == ALL:
            outcome = await self._on_every_member(StepAction.DELIVER, all=True, to=to_id)
        else:
            if which == NEXT:
                held = [m for m in (await self.held()).held if to is None or m.recipient == to]
                if not held:
                    raise PlaygroundError(
                        "no message is held" + (f" for {to}" if to is not None else "")
                    )
                which = held[0].ref
            outcome = await self._on_sender(StepAction.DELIVER, which, to=to_id)
        if not settle:
            return outcome
        settled = await self.settled()
        settled.done = outcome.done
        return settled

    async def drop(self, which: str) -> StepOutcome:
        """Drop held message `which` (a ref as `n1.3`, `next`: the oldest, or `all`)."""
        if which == ALL:
            return await self._on_every_member(StepAction.DROP, all=True)
        if which == NEXT:
            held = (await self.held()).held
            if not held:
                raise PlaygroundError("no message is held")
            which = held[0].ref
        return await self._on_sender(StepAction.DROP, which)

    async def deliver_each(self, refs: Sequence[str]) -> StepOutcome:
        """Deliver these held messages, each sender's in the order given (which may differ
        from the order they were sent in), every sender at once; no settling, and `held` is
        what those senders still hold."""
        return await self._on_senders(StepAction.DELIVER, refs)

    async def drop_each(self, refs: Sequence[str]) -> StepOutcome:
        """Drop these held messages, every sender at once."""
        return await self._on_senders(StepAction.DROP, refs)

    async def tick(self, name: str, ticks: int = 0, *, settle: bool = True) -> StepOutcome:
        """Fire `ticks` ticks on member `name` (0: up to its next timeout, so a follower
        campaigns and a leader sends heartbeats); unless `settle` is False, returns once the
        members have answered what it sent (else `held` is what that member holds)."""
        if ticks < 0:
            raise PlaygroundError(f"the number of ticks must be positive, got {ticks}")
        record = self._running(name)
        reply = await self._step(record, StepAction.TICK, ticks=ticks)
        outcome = await self.settled() if settle else StepOutcome([], self._messages(reply.held))
        outcome.ticks = reply.ticks
        return outcome

    async def settled(self) -> StepOutcome:
        """What is held once the members have answered the messages they just got (and sent
        what a request made a moment ago caused): the same held messages SETTLE_POLLS times in
        a row, or whatever is held after SETTLE_LIMIT."""
        outcome = await self.held()
        seen, same = [m.ref for m in outcome.held], 1
        with anyio.move_on_after(SETTLE_LIMIT):
            while same < SETTLE_POLLS:
                await anyio.sleep(SETTLE_POLL)
                outcome = await self.held()
                refs = [m.ref for m in outcome.held]
                same = same + 1 if refs == seen else 1
                seen = refs
        return outcome

    async def _on_sender(self, action: StepAction, ref: str, **body: Any) -> StepOutcome:
        sender, number = _parse_ref(ref)
        record = self._running(sender)
        reply = await self._step(record, action, ids=[number], **body)
        return StepOutcome(self._messages(reply.done), (await self.held()).held)

    async def _on_senders(self, action: StepAction, refs: Sequence[str]) -> StepOutcome:
        by_sender: dict[str, list[int]] = {}
        for ref in refs:
            sender, number = _parse_ref(ref)
            by_sender.setdefault(sender, []).append(number)
        records = [self._running(sender) for sender in by_sender]
        replies: list[Response] = []

        async def ask(record: MemberRecord) -> None:
            replies.append(await self._step(record, action, ids=by_sender[record.name]))

        await _all_of(ask, records)
        done = [m for reply in replies for m in self._messages(reply.done)]
        held = [m for reply in replies for m in self._messages(reply.held)]
        return StepOutcome(done, sorted(held, key=_age))

    async def _on_every_member(self, action: StepAction, **body: Any) -> StepOutcome:
        running = [r for r in self._members().values() if self._is_up(r.name)]
        if not running:
            raise PlaygroundError("no member is running")
        replies: dict[str, Response] = {}

        async def ask(record: MemberRecord) -> None:
            replies[record.name] = await self._step(record, action, **body)

        await _all_of(ask, running)
        done = [m for reply in replies.values() for m in self._messages(reply.done)]
        held = [m for reply in replies.values() for m in self._messages(reply.held)]
        holding = [name for name in self._members() if name in replies and replies[name].holding]
        return StepOutcome(sorted(done, key=_age), sorted(held, key=_age), holding=holding)

    async def _step(self, record: MemberRecord, action: StepAction, **body: Any) -> Response:
        async def call(client: Client) -> Response:
            return await client.step(action, **body)

        return await call_members(
            [record.native_endpoint], call, f"member {record.name}", CALL_TIMEOUT, self._tls()
        )

    def _messages(self, infos: list[Response]) -> list[HeldMessage]:
        names = {record.id: name for name, record in self._members().items() if record.id}
        return [
            HeldMessage(
                ref=f"{names.get(info.frm, f'{info.frm:x}')}.{info.id}",
                sender=names.get(info.frm, f"{info.frm:x}"),
                recipient=names.get(info.to, f"{info.to:x}"),
                type=info.type,
                term=info.term,
                index=info.index,
                log_term=info.log_term,
                entries=info.entries,
                commit=info.commit,
                reject=info.reject,
                reject_hint=info.reject_hint,
                held_at=info.held_at,
            )
            for info in infos
        ]

    def _running(self, name: str) -> MemberRecord:
        members = self._members()
        if name not in members:
            raise unknown_member(name, members)
        if not self._is_up(name):
            raise PlaygroundError(f"member {name} is not running")
        return members[name]

    def _member_id(self, name: str) -> int:
        members = self._members()
        if name not in members:
            raise unknown_member(name, members)
        if not members[name].id:
            raise PlaygroundError(f"member {name} has not told its id yet: try again")
        return members[name].id


def _parse_ref(ref: str) -> tuple[str, int]:
    sender, _, number = ref.rpartition(".")
    if not sender or not number.isdigit():
        raise PlaygroundError(f"a held message is named as n1.3 (member.id), got {ref!r}")
    return sender, int(number)


def _age(message: HeldMessage) -> tuple[float, str]:
    return (message.held_at, message.ref)


async def _all_of(
    ask: Callable[[MemberRecord], Coroutine[Any, Any, None]], records: Iterable[MemberRecord]
) -> None:
    """`ask` every member at once; the first refusal as the PlaygroundError it is (the callers
    promise one, not the task group's ExceptionGroup around it)."""
    try:
        async with anyio.create_task_group() as group:
            for record in records:
                group.start_soon(ask, record)
    except* PlaygroundError as refused:
        raise refused.exceptions[0] from None
