"""The commit panel: each member's commit index over the last minute as a sparkline, and the
cluster's writes per second (entries the leader commits)."""

from __future__ import annotations

from textual.app import ComposeResult
from textual.containers import Horizontal, Vertical
from textual.widgets import Label, Sparkline

from console.tui.cluster_view import ClusterView, LiveMember


class CommitLine(Horizontal):
    """One member: its name, its commit index sparkline, and the index now."""

    def __init__(self, key: str) -> None:
        super().__init__(classes="commit-line")
        self.key = key

    def compose(self) -> ComposeResult:
        yield Label(self.key, classes="commit-name")
        yield Sparkline([], classes="commit-spark")
        yield Label("", classes="commit-value")

    def show(self, member: LiveMember) -> None:
        """Redraw from the member's samples (once the line is mounted)."""
        if not self.is_mounted:
            return
        self.query_one(".commit-name", Label).update(member.label)
        spark = self.query_one(Sparkline)
        value = self.query_one(".commit-value", Label)
        if not member.reachable:
            spark.data = []
            value.update("[red]unreachable[/]")
            return
        spark.data = list(member.commits)
        value.update(str(member.commit))


class CommitPanel(Vertical):
    """Panel 2: commit index over time for every member, and writes/s."""

    ALLOW_MAXIMIZE = True
    can_focus = True

    def on_mount(self) -> None:
        self.border_title = "2 Commit index"

    def show(self, cluster: ClusterView) -> None:
        """Bring the lines up to date with `cluster`."""
        lines = {line.key: line for line in self.query(CommitLine)}
        for key, line in lines.items():
            if key not in cluster.members:
                line.remove()
        for key, member in cluster.members.items():
            shown = lines.get(key)
            if shown is None:
                self.mount(CommitLine(key))
            else:
                shown.show(member)
        self.border_subtitle = f"{cluster.writes_per_second():.0f} writes/s"
