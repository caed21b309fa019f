"""The members panel: one row per member, the leader highlighted, replication lag as bars.

A member that does not answer shows "unreachable" and dashes, never the numbers it last gave.
Rows are updated cell by cell, and only the cells whose text changed.
"""

from __future__ import annotations

from rich.text import Text
from textual.app import ComposeResult
from textual.containers import Vertical
from textual.message import Message
from textual.widgets import DataTable

from console.tui.cluster_view import ClusterView, LiveMember

BAR_WIDTH = 6
COLUMNS = (
    ("name", "NAME"),
    ("id", "ID"),
    ("state", "STATE"),
    ("role", "ROLE"),
    ("term", "TERM"),
    ("leader", "LEADER"),
    ("commit", "COMMIT"),
    ("applied", "APPLIED"),
    ("last", "LAST"),
    ("log", "LOG"),
    ("db", "DB"),
    ("health", "HEALTH"),
    ("match", "MATCH"),
)
"""Column keys and headers; MATCH is a follower's match index against the leader's last."""
_NO_VALUE = "—"
_ROLE_NAMES = {"pre_candidate": "precand"}


def human_bytes(size: int) -> str:
    """A byte count in a few characters: 512B, 52K, 3.1M, 1.2G."""
    if size < 1024:
        return f"{size}B"
    if size < 1024**2:
        return f"{size / 1024:.0f}K"
    if size < 1024**3:
        return f"{size / 1024**2:.1f}M"
    return f"{size / 1024**3:.1f}G"


def replication_bar(match: int, leader_last: int, width: int = BAR_WIDTH) -> Text:
    """A follower's match index against the leader's last index: a bar, and how far behind."""
    share = 1.0 if leader_last <= 0 else min(match / leader_last, 1.0)
    filled = round(share * width)
    behind = max(leader_last - match, 0)
    style = "green" if not behind else ("yellow" if share >= 0.5 else "red")
    bar = Text("█" * filled, style=style)
    bar.append("░" * (width - filled), style="dim")
    bar.append(f" -{behind}" if behind else " ok", style=style)
    return bar


def member_cells(
    member: LiveMember, cluster: ClusterView, process_state: str, leader: LiveMember | None
) -> dict[str, Text]:
    """What each cell of `member`'s row shows, by column key."""
    is_leader = leader is member
    cells = {
        "name": Text(member.label, style="bold black on green" if is_leader else "bold"),
        "id": Text(f"{member.id:x}" if member.id else _NO_VALUE),
        "state": Text(process_state, style=_state_style(process_state)),
    }
    if not member.reachable:
        for column in ("role", "term", "leader", "commit", "applied", "last", "log", "db"):
            cells[column] = Text(_NO_VALUE, style="dim")
        cells["health"] = Text("unreachable", style="bold red")
        cells["match"] = Text("")
        return cells
    role = "learner" if member.is_learner and member.role == "follower" else member.role
    cells["role"] = Text(
        _ROLE_NAMES.get(role, role) or "?", style="bold green" if is_leader else ""
    )
    cells["term"] = Text(str(member.term))
    cells["leader"] = Text(cluster.name_of(member.leader))
    cells["commit"] = Text(str(member.commit))
    cells["applied"] = Text(str(member.applied))
    cells["last"] = Text(str(member.last_index))
    cells["log"] = Text(str(member.raft_log_entries))
    cells["db"] = Text(human_bytes(member.db_size))
    cells["health"] = _health(member)
    cells["match"] = _match(member, leader)
    return cells


def _state_style(state: str) -> str:
    if state in ("up", "reachable"):
        return "green"
    if state.startswith(("partitioned", "slow", "paused")):
        return "yellow"
    return "red"


def _health(member: LiveMember) -> Text:
    if member.errors:
        first = member.errors[0].removeprefix("etcdserver: ")
        more = f" +{len(member.errors) - 1}" if len(member.errors) > 1 else ""
        return Text(first + more, style="bold red")
    if not member.leader:
        return Text("no leader", style="yellow")
    return Text("healthy", style="green")


def _match(member: LiveMember, leader: LiveMember | None) -> Text:
    if leader is None:
        return Text("")
    if leader is member:
        return Text("leader", style="dim")
    progress = leader.peers.get(member.id)
    if progress is None:
        return Text("")
    return replication_bar(progress.match, leader.last_index)


def _padded(text: Text) -> Text:
    """One space before a cell: the columns' only separation, to fit 120 columns."""
    return Text(" ").append_text(text)


class MembersPanel(Vertical):
    """Panel 1: the members table; the highlighted row is the selected member."""

    ALLOW_MAXIMIZE = True

    class Selected(Message):
        """The user moved the selection to another member."""

        def __init__(self, key: str) -> None:
            super().__init__()
            self.key = key

    def __init__(self, *, id: str | None = None) -> None:
        super().__init__(id=id)
        self._shown: dict[str, dict[str, Text]] = {}
        """The cells on screen, by member key and column: only changed ones are redrawn."""

    def compose(self) -> ComposeResult:
        table: DataTable[Text] = DataTable(cursor_type="row", cell_padding=0, id="members")
        for key, title in COLUMNS:
            table.add_column(f" {title}", key=key)
        yield table

    def on_mount(self) -> None:
        self.border_title = "1 Members"

    @property
    def table(self) -> DataTable[Text]:
        """The table inside the panel."""
        return self.query_one(DataTable)

    def show(self, cluster: ClusterView, process_states: dict[str, str]) -> None:
        """Bring every row up to date with `cluster`."""
        table = self.table
        leader = cluster.leader()
        for key in [key for key in self._shown if key not in cluster.members]:
            table.remove_row(key)
            del self._shown[key]
        for key, member in cluster.members.items():
            cells = {
                column: _padded(text)
                for column, text in member_cells(
                    member, cluster, process_states.get(key, ""), leader
                ).items()
            }
            shown = self._shown.get(key)
            if shown is None:
                table.add_row(*(cells[column] for column, _ in COLUMNS), key=key)
                self._shown[key] = cells
                continue
            for column, _ in COLUMNS:
                if shown[column] != cells[column]:
                    table.update_cell(key, column, cells[column], update_width=True)
                    shown[column] = cells[column]
        self.border_subtitle = "  ".join(
            f"{member.label}: {member.problem}"
            for member in cluster.members.values()
            if not member.reachable
        )

    def on_data_table_row_highlighted(self, event: DataTable.RowHighlighted) -> None:
        """Tell the app which member is selected now."""
        event.stop()
        if event.row_key.value is not None:
            self.post_message(self.Selected(event.row_key.value))
