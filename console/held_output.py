"""Step mode's held messages as the console prints them: one line each, its ID first.

`n1.3   n1->n2 MsgApp Term:2 Log:2/7 Commit:7 Entries:1`: the ID that `deliver` and `drop`
take, then the message in etcd-io/raft's form with member names.
"""

from __future__ import annotations

from collections.abc import Iterable

from playground.step_mode import HeldMessage

NOTHING_HELD = "no message is held"
_ID_WIDTH = 6


def held_lines(messages: Iterable[HeldMessage]) -> list[str]:
    """One line per held message, oldest first as given."""
    return [f"{m.ref:<{_ID_WIDTH}} {m.describe()}" for m in messages]
