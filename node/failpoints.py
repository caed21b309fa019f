"""Named crash points in the member, as etcd's gofail failpoints: each point is a call to
`hit(NAME)` where the member does something a crash must not break; arming one makes the
process die (`panic`), stall (`sleep(ms)`) or fail (`return`) right there.

Points are armed at start from GOFAIL_FAILPOINTS="name=terms;name=terms" (etcd's variable)
and at run time through the fault-injection door. A disarmed point costs one dict lookup.
The names and what each one tests are in node/server/README.md ("Crash points").
"""

from __future__ import annotations

import os
import re
import sys
import threading
import time
from collections.abc import Mapping
from dataclasses import dataclass

from node.messages.faults import FAILPOINTS

FAILPOINTS_ENV = "GOFAIL_FAILPOINTS"
"""The environment variable gofail arms failpoints from when a member starts."""
PANIC_EXIT_STATUS = 2
"""What a `panic` point exits with: a Go panic's status."""

_TERMS = re.compile(
    r"^(?:(?P<count>\d+)\*)?(?P<action>off|panic|sleep|return)(?:\((?P<arg>[^()]*)\))?$"
)


class FailpointError(Exception):
    """What a point armed with `return` raises where the member passes it."""

    def __init__(self, name: str, value: str) -> None:
        super().__init__(f"failpoint {name}: {value}" if value else f"failpoint {name}")
        self.name = name
        self.value = value


@dataclass(slots=True)
class Terms:
    """What an armed point does: gofail's `[count*]action[(argument)]`."""

    text: str
    action: str
    argument: str
    remaining: int | None
    """How many more times it fires; None for every time."""


def parse_terms(text: str) -> Terms:
    """gofail terms: `panic`, `sleep(N)` (milliseconds), `return` or `return(VALUE)`, `off`,
    each with an optional count prefix (`1*panic`: once). ValueError on anything else."""
    match = _TERMS.match(text.strip())
    if match is None:
        raise ValueError(
            f"bad failpoint terms {text!r}: want [N*]panic, sleep(MS), return[(VALUE)] or off"
        )
    action, argument = match["action"], match["arg"] or ""
    if action == "sleep" and not argument.isdigit():
        raise ValueError(f"bad failpoint terms {text!r}: sleep takes milliseconds, e.g. sleep(100)")
    count = match["count"]
    if count is not None and int(count) == 0:
        raise ValueError(f"bad failpoint terms {text!r}: the count must be at least 1")
    return Terms(text.strip(), action, argument, None if count is None else int(count))


def check_name(name: str) -> None:
    """ValueError unless `name` is one of the member's points."""
    if name not in FAILPOINTS:
        raise ValueError(f"unknown failpoint {name!r} (known: {', '.join(FAILPOINTS)})")


_armed: dict[str, Terms] = {}
_lock = threading.Lock()
"""Guards a counted point's countdown: points are passed in worker threads too."""


def arm(name: str, terms: str) -> None:
    """Arm point `name` with gofail `terms` (`off` disarms it); ValueError on a bad name or
    terms."""
    check_name(name)
    parsed = parse_terms(terms)
    if parsed.action == "off":
        _armed.pop(name, None)
    else:
        _armed[name] = parsed


def disarm_all() -> None:
    """Disarm every point."""
    _armed.clear()


def armed() -> dict[str, str]:
    """The armed points and their terms, as given."""
    return {name: terms.text for name, terms in sorted(_armed.items())}


def arm_from_environment(environ: Mapping[str, str] = os.environ) -> None:
    """Arm what GOFAIL_FAILPOINTS names (`name=terms;name=terms`); ValueError naming the
    first bad entry."""
    for entry in environ.get(FAILPOINTS_ENV, "").split(";"):
        if not entry.strip():
            continue
        name, sep, terms = entry.partition("=")
        if not sep:
            raise ValueError(f"{FAILPOINTS_ENV}: {entry!r} is not name=terms")
        arm(name.strip(), terms)


def hit(name: str) -> None:
    """The member passes point `name`: nothing unless it is armed."""
    terms = _armed.get(name)
    if terms is not None:
        _fire(name, terms)


def _fire(name: str, terms: Terms) -> None:
    with _lock:
        if terms.remaining is not None:
            if terms.remaining <= 0:
                return
            terms.remaining -= 1
            if terms.remaining == 0 and _armed.get(name) is terms:
                del _armed[name]
    if terms.action == "panic":
        sys.stderr.write(f"panic: failpoint {name} ({terms.text})\n")
        sys.stderr.flush()
        os._exit(PANIC_EXIT_STATUS)
    if terms.action == "sleep":
        time.sleep(int(terms.argument) / 1000)
    elif terms.action == "return":
        raise FailpointError(name, terms.argument)
