"""The dialog that opens a watch: a key or prefix, and the revision to start from."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.screen import ModalScreen
from textual.widgets import Button, Checkbox, Input, Label

from console.tui.records import WatchSpec


class WatchDialog(ModalScreen[WatchSpec | None]):
    """Asks what to watch; dismisses with the WatchSpec, or None when cancelled."""

    BINDINGS = [("escape", "cancel", "Cancel")]

    def compose(self) -> ComposeResult:
        with Vertical(id="watch-dialog"):
            yield Label("Open a watch")
            yield Input(placeholder="key or prefix", id="watch-key")
            yield Checkbox("every key with this prefix", value=True, id="watch-prefix")
            yield Input(
                placeholder="from revision (empty: from now)", id="watch-rev", type="integer"
            )
            yield Label("", id="watch-error")
            with Horizontal(id="watch-buttons"):
                yield Button("Watch", variant="primary", id="watch-open")
                yield Button("Cancel", id="watch-cancel")

    def on_mount(self) -> None:
        self.query_one("#watch-key", Input).focus()

    def _spec(self) -> WatchSpec | None:
        key = self.query_one("#watch-key", Input).value
        prefix = self.query_one("#watch-prefix", Checkbox).value
        revision_text = self.query_one("#watch-rev", Input).value.strip()
        revision = int(revision_text) if revision_text else 0
        if not key and not prefix:
            self.query_one("#watch-error", Label).update("a key is needed (or watch a prefix)")
            return None
        if revision < 0:
            self.query_one("#watch-error", Label).update("a revision cannot be negative")
            return None
        return WatchSpec(key.encode(), prefix, revision)

    def on_button_pressed(self, event: Button.Pressed) -> None:
        """Watch opens the watch; Cancel closes the dialog."""
        if event.button.id == "watch-cancel":
            self.dismiss(None)
            return
        spec = self._spec()
        if spec is not None:
            self.dismiss(spec)

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Enter in a field opens the watch."""
        event.stop()
        spec = self._spec()
        if spec is not None:
            self.dismiss(spec)

    def action_cancel(self) -> None:
        """Close without watching."""
        self.dismiss(None)
