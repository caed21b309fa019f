"""The y/n question a dashboard action that harms a member asks first (kill, stop, isolate),
so a key pressed by accident never acts on the cluster."""

from __future__ import annotations

from textual import events
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.screen import ModalScreen
from textual.widgets import Label


class ConfirmDialog(ModalScreen[bool]):
    """Asks `question`; dismisses with True on y, False on any other key."""

    def __init__(self, question: str) -> None:
        super().__init__()
        self.question = question

    def compose(self) -> ComposeResult:
        with Vertical(id="confirm-dialog"):
            yield Label(self.question, id="confirm-question")
            yield Label("y: yes    n or any other key: no", id="confirm-keys")

    def on_key(self, event: events.Key) -> None:
        """y confirms; every other key cancels (and does nothing else)."""
        event.stop()
        event.prevent_default()
        self.dismiss(event.key in ("y", "Y"))
