"""The keys panel: a lazily loaded tree of the key space split on `/`, and the chosen key's
details (value, revisions, version, lease with its TTL counting down, history).

Each directory loads one page of children when opened; a "… more" node loads the next page.
Finding by prefix asks the server, so keys not loaded yet are found too.
"""

from __future__ import annotations

import math
import time
from dataclasses import dataclass

from rich.console import Group
from rich.table import Table
from rich.text import Text
from textual import work
from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical, VerticalScroll
from textual.widgets import Input, Static, Tree
from textual.widgets.tree import TreeNode

from console.tui.key_space import KeyChild, KeyHistory, key_history, list_children
from console.tui.records import KeyRecord
from console.tui.source import DataSource, SourceUnavailable
from node.messages.errors import EtcdError

LEASE_REFRESH_SECONDS = 5
"""How often a shown lease's TTL is asked again (keep-alives may have renewed it)."""
_VALUE_SHOWN = 2000


@dataclass(slots=True)
class MoreKeys:
    """The tree node that loads the next page of a directory's children."""

    prefix: bytes
    resume: bytes


KeyNode = KeyChild | MoreKeys


def _text(data: bytes) -> str:
    return data.decode(errors="replace")


class KeyDetails(VerticalScroll):
    """One key: value, create/mod revision, version, lease and its TTL, history."""

    def __init__(self, source: DataSource, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        self.record: KeyRecord | None = None
        self.history: KeyHistory | None = None
        self.lease_remaining: int | None = None
        self._lease_deadline = 0.0
        self._ticks = 0

    def compose(self) -> ComposeResult:
        yield Static("Select a key in the tree.", id="key-fields")
        yield Static("", id="key-history")

    def on_mount(self) -> None:
        self.border_title = "Key"
        self.set_interval(1.0, self._tick)

    @work(exclusive=True, group="key-details")
    async def show_key(self, key: bytes) -> None:
        """Load and show `key` now."""
        self.border_title = _text(key)
        try:
            record = await self.source.get(key)
            history = await key_history(self.source, record) if record else None
            remaining = None
            if record is not None and record.lease:
                remaining = await self.source.lease_remaining(record.lease)
        except (SourceUnavailable, EtcdError) as error:
            self.query_one("#key-fields", Static).update(Text(str(error), style="red"))
            return
        self.record, self.history = record, history
        self._set_lease(remaining)
        self._render_key()

    def _set_lease(self, remaining: int | None) -> None:
        self.lease_remaining = remaining
        if remaining is not None:
            self._lease_deadline = time.monotonic() + max(remaining, 0)

    @work(exclusive=True, group="key-lease")
    async def _refresh_lease(self, lease_id: int) -> None:
        try:
            self._set_lease(await self.source.lease_remaining(lease_id))
        except (SourceUnavailable, EtcdError):
            return
        self._render_fields()

    def _tick(self) -> None:
        record = self.record
        if record is None or not record.lease or self.lease_remaining is None:
            return
        self._ticks += 1
        if self._ticks % LEASE_REFRESH_SECONDS == 0:
            self._refresh_lease(record.lease)
        self._render_fields()

    def _render_key(self) -> None:
        self._render_fields()
        history = self.history
        table = Table("REV", "VER", "VALUE", title="History", title_justify="left", expand=True)
        if history is not None:
            for version in history.versions:
                table.add_row(
                    str(version.mod_revision), str(version.version), _text(version.value)[:200]
                )
            ending = Text(history.ends, style="dim italic")
            self.query_one("#key-history", Static).update(Group(table, ending))
        else:
            self.query_one("#key-history", Static).update("")

    def _render_fields(self) -> None:
        record = self.record
        fields = self.query_one("#key-fields", Static)
        if record is None:
            fields.update(Text("The key does not exist (deleted?).", style="yellow"))
            return
        grid = Table.grid(padding=(0, 2))
        grid.add_column(style="bold")
        grid.add_column()
        grid.add_row("key", _text(record.key))
        grid.add_row("value", _text(record.value[:_VALUE_SHOWN]))
        grid.add_row("create revision", str(record.create_revision))
        grid.add_row("mod revision", str(record.mod_revision))
        grid.add_row("version", str(record.version))
        grid.add_row("lease", self._lease_text(record))
        fields.update(grid)

    def _lease_text(self, record: KeyRecord) -> str:
        if not record.lease:
            return "none"
        if self.lease_remaining is None or self.lease_remaining < 0:
            return f"{record.lease:x} (expired)"
        left = max(math.ceil(self._lease_deadline - time.monotonic()), 0)
        return f"{record.lease:x} (TTL {left} s)"


class KeysPanel(Horizontal):
    """Panel 5: the key tree and the selected key's details."""

    ALLOW_MAXIMIZE = True
    BINDINGS = [("ctrl+r", "reload", "Reload")]

    def __init__(self, source: DataSource, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self.source = source
        self.prefix: bytes | None = None
        """The prefix the tree starts at; None until the tree was first loaded."""
        self._loaded: set[int] = set()

    def compose(self) -> ComposeResult:
        with Vertical(id="key-browser"):
            yield Input(placeholder="find keys by prefix (asks the server)", id="key-find")
            tree: Tree[KeyNode] = Tree(
                "all keys", data=KeyChild("all keys", b"", True), id="key-tree"
            )
            yield tree
        yield KeyDetails(self.source, id="key-details")

    def on_mount(self) -> None:
        self.border_title = "5 Keys"

    @property
    def key_tree(self) -> Tree[KeyNode]:
        """The key tree."""
        return self.query_one("#key-tree", Tree)

    @property
    def details(self) -> KeyDetails:
        """The details of the selected key."""
        return self.query_one(KeyDetails)

    def browse(self, prefix: bytes) -> None:
        """Start the tree at `prefix` (empty: the whole key space) and load its first page."""
        self.prefix = prefix
        label = f"keys under {_text(prefix)!r}" if prefix else "all keys"
        tree = self.key_tree
        tree.reset(label, KeyChild(label, prefix, True))
        self._loaded.clear()
        self._load_children(tree.root)
        tree.root.expand()

    def _load_children(self, node: TreeNode[KeyNode]) -> None:
        data = node.data
        if isinstance(data, KeyChild) and data.is_directory and node.id not in self._loaded:
            self._loaded.add(node.id)
            self._load_page(node, data.path, None)

    @work(group="key-pages")
    async def _load_page(
        self, parent: TreeNode[KeyNode], prefix: bytes, resume: bytes | None
    ) -> None:
        try:
            page = await list_children(self.source, prefix, resume)
        except (SourceUnavailable, EtcdError) as error:
            parent.add_leaf(Text(str(error), style="red"))
            self._loaded.discard(parent.id)
            return
        for child in page.children:
            if child.is_directory:
                parent.add(child.label, data=child)
            else:
                parent.add_leaf(child.label, data=child)
        if page.resume is not None:
            parent.add_leaf(Text("… more", style="italic"), data=MoreKeys(prefix, page.resume))
        if not page.children and resume is None:
            parent.add_leaf(Text("(no keys)", style="dim"))

    def on_tree_node_expanded(self, event: Tree.NodeExpanded[KeyNode]) -> None:
        """Opening a directory loads its first page."""
        event.stop()
        self._load_children(event.node)

    def on_tree_node_selected(self, event: Tree.NodeSelected[KeyNode]) -> None:
        """A key shows its details; "… more" loads the next page in its place."""
        event.stop()
        data = event.node.data
        if isinstance(data, MoreKeys):
            parent = event.node.parent
            event.node.remove()
            if parent is not None:
                self._load_page(parent, data.prefix, data.resume)
        elif isinstance(data, KeyChild) and not data.is_directory:
            self.details.show_key(data.path)

    def action_reload(self) -> None:
        """Load the tree again from its prefix."""
        self.browse(self.prefix or b"")

    def on_input_submitted(self, event: Input.Submitted) -> None:
        """Find: browse from the typed prefix."""
        event.stop()
        self.browse(event.value.encode())
        self.key_tree.focus()
