"""How a playground operation fails: one plain line meant for the user."""

from __future__ import annotations


class PlaygroundError(Exception):
    """A supervisor operation that failed; the message is one plain line meant for the user."""


class OutcomeUnknown(PlaygroundError):
    """A call whose reply never came: the change it asked for may or may not have been made."""
