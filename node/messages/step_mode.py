"""Ours: step mode's admin call (not part of etcd's API): hold a member's clock and outgoing
messages, list, deliver or drop what it holds, fire ticks, release it back to real time."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntEnum

from node.messages.header import ResponseHeader


class StepAction(IntEnum):
    """Ours: what a Step call does."""

    HELD = 0
    """Only list the held messages."""
    HOLD = 1
    DELIVER = 2
    DROP = 3
    TICK = 4
    RELEASE = 5


@dataclass(slots=True)
class StepRequest:
    """Ours: one step-mode action on one member.

    `ids` names held messages (empty with `all` for every one); DELIVER sends only those to
    member `to` when it is not 0; TICK fires `ticks` ticks, or, when 0, as many as this member
    lacks to reach its election timeout (it campaigns).
    """

    action: StepAction = StepAction.HELD
    ids: list[int] = field(default_factory=list)
    all: bool = False
    to: int = 0
    ticks: int = 0


@dataclass(slots=True)
class HeldMessageInfo:
    """Ours: one held message, with etcd-io/raft's names: `type` is `MsgApp`, `MsgVote`, ...;
    `text` is the whole message as raft's describe prints it."""

    id: int = 0
    frm: int = 0
    to: int = 0
    type: str = ""
    term: int = 0
    index: int = 0
    log_term: int = 0
    entries: int = 0
    commit: int = 0
    reject: bool = False
    reject_hint: int = 0
    held_at: float = 0.0
    text: str = ""


@dataclass(slots=True)
class StepResponse:
    """Ours: whether the member is held, the ticks fired by this call, the messages this call
    delivered or dropped (`done`) and those still held, oldest first."""

    header: ResponseHeader | None = None
    holding: bool = False
    ticks: int = 0
    done: list[HeldMessageInfo] = field(default_factory=list)
    held: list[HeldMessageInfo] = field(default_factory=list)
