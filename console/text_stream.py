"""What the console's writers need of their output: standard output, or a dashboard panel.

A demo's transcript and a chaos run's progress write lines through these, so that the same
code prints on a terminal or fills the dashboard's Output panel.
"""

from __future__ import annotations

from typing import Protocol


class TextStream(Protocol):
    """Somewhere text is written and flushed (sys.stdout is one)."""

    def write(self, text: str, /) -> int: ...

    def flush(self) -> None: ...


class TerminalStream(TextStream, Protocol):
    """A text stream that says whether it is a terminal (a status line is redrawn on one)."""

    def isatty(self) -> bool: ...
