"""All checks over one recorded chaos run, and the verdict lines the command prints."""

from __future__ import annotations

from dataclasses import dataclass, field

from checker.model.history import History
from checker.validate.durability import check_durability
from checker.validate.lease_check import check_kept_alive_leases, check_leased_keys
from checker.validate.linearizability import LinearizabilityResult, Verdict, check_linearizability
from checker.validate.violation import Violation
from checker.validate.watch_check import WatchReport, check_watches
from checker.validate.wing_gong import SearchBudget


@dataclass(slots=True)
class RunVerdict:
    """Every checker's result for one run."""

    linearizability: LinearizabilityResult
    watch: WatchReport
    leases: list[Violation] = field(default_factory=list)
    durability: list[Violation] = field(default_factory=list)
    operations: int = 0
    indeterminate: int = 0

    @property
    def passed(self) -> bool:
        """True when every check passed outright (an `unknown` is not a pass)."""
        return (
            self.linearizability.verdict is Verdict.LINEARIZABLE
            and not self.watch.violations
            and not self.leases
            and not self.durability
        )

    def summary(self) -> str:
        """The one verdict line: `linearizable, watch OK, leases OK, no lost write, ...`."""
        leases = "leases OK" if not self.leases else f"{len(self.leases)} lease violations"
        lost = "no lost write" if not self.durability else f"{len(self.durability)} lost writes"
        return (
            f"{self.linearizability.verdict.value}, {self.watch.summary}, {leases}, {lost} "
            f"({self.operations} operations, {self.indeterminate} indeterminate, "
            f"{self.watch.revisions} revisions watched)"
        )

    def describe(self) -> str:
        """The summary line and then the details of everything that failed."""
        lines = [self.summary()]
        if self.linearizability.verdict is not Verdict.LINEARIZABLE:
            lines.append(self.linearizability.describe())
        lines.extend(v.describe() for v in self.watch.violations)
        lines.extend(v.describe() for v in self.leases + self.durability)
        return "\n".join(lines)


def check_history(history: History, budget: SearchBudget | None = None) -> RunVerdict:
    """Run every checker over `history`; the watch history, once checked, also resolves
    the indeterminate operations for the linearizability search."""
    watch = check_watches(
        history.watch_requests, history.watch_responses, history.operations, history.initial
    )
    verdict = RunVerdict(
        linearizability=check_linearizability(
            history.operations, history.initial, budget, watch=watch.merged
        ),
        watch=watch,
        leases=[
            *check_leased_keys(history.operations, watch.merged),
            *check_kept_alive_leases(history.operations),
        ],
        operations=len(history.operations),
        indeterminate=sum(op.indeterminate for op in history.operations),
    )
    if history.final is not None:
        verdict.durability = check_durability(history.operations, history.final)
    return verdict
