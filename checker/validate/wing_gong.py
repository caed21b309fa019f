"""Wing & Gong's linearizability search with Lowe's memoization, as porcupine runs it.

Calls are laid out on a doubly linked list of invocation and return entries in time order.
The search walks the list from its head: at an invocation it tries to linearize that call
next (the model must accept it from the current state); at a return entry whose call is
still pending it backtracks, since that call had to take effect before it returned. A
linearized call's two entries are unlinked (and relinked on backtracking, dancing-links
style). A cache of (set of linearized calls, model state) prunes every configuration
already explored: reaching it again cannot end differently.

A call whose completion is infinite may take effect at any point after its invocation;
unless it is `required`, it may also never take effect. The search succeeds once every
required call is linearized.
"""

from __future__ import annotations

import math
import time
from collections.abc import Callable, Hashable, Sequence
from dataclasses import dataclass, field
from enum import Enum
from typing import Generic, TypeVar

S = TypeVar("S", bound=Hashable)

_DEADLINE_CHECK_EVERY = 4096


class Outcome(Enum):
    """How a search ended."""

    LINEARIZABLE = "linearizable"
    NOT_LINEARIZABLE = "not linearizable"
    EXHAUSTED = "budget exhausted"


@dataclass(slots=True, frozen=True)
class Call(Generic[S]):
    """One operation for the search: its real-time interval, its model transition (the
    states applying it can lead to; none when it cannot happen in that state), and
    whether it must take effect (a call that completed, or is known to have)."""

    invoked: float
    completed: float
    transition: Callable[[S], Sequence[S]]
    required: bool = True


@dataclass(slots=True)
class SearchBudget:
    """How much one search may explore (`max_states`) and until when (a
    `time.monotonic()` deadline shared by all searches of a check), before giving up."""

    max_states: int = 1_000_000
    deadline: float | None = None

    def expired(self) -> bool:
        """True once the deadline has passed."""
        return self.deadline is not None and time.monotonic() > self.deadline


@dataclass(slots=True)
class SearchResult(Generic[S]):
    """The outcome, the number of model states explored, and (when asked for) every state
    a complete linearization can end in."""

    outcome: Outcome
    explored: int
    final_states: set[S] = field(default_factory=set)


def search(
    calls: Sequence[Call[S]],
    initial: S,
    budget: SearchBudget,
    collect_final_states: bool = False,
) -> SearchResult[S]:
    """Decide whether `calls` can be linearized from `initial`.

    With `collect_final_states` the search does not stop at the first linearization but
    enumerates them all and returns the set of states they end in.
    """
    events = sorted(
        [(c.invoked, 0, i) for i, c in enumerate(calls)]
        + [(c.completed, 1, i) for i, c in enumerate(calls) if c.completed != math.inf]
    )
    tail = len(events) + 1
    nxt = [*range(1, tail + 1), tail]
    prv = [0, *range(tail)]
    entry_call = [-1] + [i for _, _, i in events]
    entry_is_invocation = [False] + [kind == 0 for _, kind, _ in events]
    return_entry = [0] * len(calls)
    for entry, (_, kind, i) in enumerate(events, start=1):
        if kind == 1:
            return_entry[i] = entry

    def unlink(entry: int) -> None:
        nxt[prv[entry]] = nxt[entry]
        prv[nxt[entry]] = prv[entry]

    def relink(entry: int) -> None:
        nxt[prv[entry]] = entry
        prv[nxt[entry]] = entry

    optional = [not c.required for c in calls]
    transitions = [c.transition for c in calls]
    required_left = sum(not o for o in optional)
    state = initial
    linearized = 0
    cache: set[tuple[int, S]] = set()
    stack: list[list] = []
    result: SearchResult[S] = SearchResult(Outcome.NOT_LINEARIZABLE, 0)

    def first_admissible(
        alternatives: Sequence[S], start: int, before: S, i: int, bits: int
    ) -> int:
        # An optional call that changes nothing is never worth linearizing: leaving it
        # out reaches the same state with more calls still available.
        skip_unchanged = optional[i]
        for k in range(start, len(alternatives)):
            candidate = alternatives[k]
            if skip_unchanged and candidate == before:
                continue
            if (bits, candidate) not in cache:
                return k
        return -1

    def note_progress() -> Outcome | None:
        result.explored += 1
        if result.explored > budget.max_states or (
            result.explored % _DEADLINE_CHECK_EVERY == 1 and budget.expired()
        ):
            return Outcome.EXHAUSTED
        if required_left == 0:
            if not collect_final_states:
                return Outcome.LINEARIZABLE
            result.final_states.add(state)
        return None

    if required_left == 0:
        if not collect_final_states:
            result.outcome = Outcome.LINEARIZABLE
            return result
        result.final_states.add(state)

    entry = nxt[0]
    while True:
        if entry != tail and entry_is_invocation[entry]:
            i = entry_call[entry]
            bits = linearized | (1 << i)
            alternatives = transitions[i](state)
            chosen = first_admissible(alternatives, 0, state, i, bits) if alternatives else -1
            if chosen < 0:
                entry = nxt[entry]
                continue
            cache.add((bits, alternatives[chosen]))
            stack.append([entry, state, alternatives, chosen])
            state = alternatives[chosen]
            linearized = bits
            required_left -= not optional[i]
            unlink(entry)
            if return_entry[i]:
                unlink(return_entry[i])
            stop = note_progress()
            if stop is not None:
                result.outcome = stop
                return result
            entry = nxt[0]
            continue
        # A pending call's return, or the end of the list: undo the latest choice.
        if not stack:
            found = collect_final_states and result.final_states
            result.outcome = Outcome.LINEARIZABLE if found else Outcome.NOT_LINEARIZABLE
            return result
        frame = stack[-1]
        call_entry, before, alternatives, chosen = frame
        i = entry_call[call_entry]
        chosen = first_admissible(alternatives, chosen + 1, before, i, linearized)
        if chosen >= 0:
            # The same call, linearized at the same point, into another possible state.
            frame[3] = chosen
            state = alternatives[chosen]
            cache.add((linearized, state))
            stop = note_progress()
            if stop is not None:
                result.outcome = stop
                return result
            entry = nxt[0]
            continue
        stack.pop()
        state = before
        linearized &= ~(1 << i)
        required_left += not optional[i]
        if return_entry[i]:
            relink(return_entry[i])
        relink(call_entry)
        entry = nxt[call_entry]
