"""One broken guarantee found by a checker, described for a human."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(slots=True, frozen=True)
class Violation:
    """A guarantee (`check`) broken by `subject` (a watcher, a key, an operation) at
    `revision` (0 when no single revision applies), with what was seen in `detail`."""

    check: str
    subject: str
    revision: int
    detail: str

    def describe(self) -> str:
        """`[check] subject @rev N: detail`."""
        at = f" @rev {self.revision}" if self.revision else ""
        return f"[{self.check}] {self.subject}{at}: {self.detail}"
