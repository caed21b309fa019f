"""How a playground operation fails: one plain line meant for the user."""

from __future__ import annotations

from collections.abc import Iterable


class PlaygroundError(Exception):
    """A supervisor operation that failed; the message is one plain line meant for the user."""


class OutcomeUnknown(PlaygroundError):
    """A call whose reply never came: the change it asked for may or may not have been made."""


def unknown_member(name: str, known: Iterable[str]) -> PlaygroundError:
    """The error for a member name the playground does not have, listing the ones it has."""
    return PlaygroundError(
        f"no member named {name!r} in the playground (members: {', '.join(known) or 'none'})"
    )
