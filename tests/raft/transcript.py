"""Raft transcripts: a scenario of commands in, the described Readys and messages out.

As etcd-io/raft's datadriven interaction tests. A transcript file (tests/raft/testdata/*.txt)
is a list of blocks, each a command, a `----` line and the output the command must produce:

    # comment lines (a learner's explanation) go before a command
    campaign 1
    ----
    ok

A block's output ends at the first blank line. The commands drive a `Network` (network.py):
nothing moves until a command says so, so every Ready and every message shows up in order.

    add-nodes 3 voters=(1,2,3) [learners=(4)] [pre-vote=true] [check-quorum=true]
                              the first call starts the cluster (election_tick 3,
                              heartbeat_tick 1); later calls add empty members that join
    campaign N                N starts an election (a pre-vote first when on)
    propose N DATA            N proposes DATA
    read-index N CTX          N asks for a linearizable read named CTX
    transfer-leadership from=N to=M
    tick-heartbeat N...       one heartbeat interval on each node
    tick-election N...        tick each node until its election timer fires (a follower
                              campaigns, a leader checks its quorum), two timeouts at most
    process-ready N...        handle one Ready of each node and print it
    deliver-msgs N... [drop=true]
                              step the messages queued for each node and print them
    stabilize [N...]          handle Readys and deliver messages until nothing moves
    (any command) log-level=none
                              run it but print only `ok` (for the set-up of a scenario)
    isolate N / heal          cut every link of N / restore all links
    compact N                 snapshot N's state machine at its applied index, compact its log
    status N                  N's term, role, indexes and, on a leader, every peer's progress
    raft-state                every node's role, term and leader
    raft-log N                the entries in N's storage

`run_transcript(text)` replays a whole file and returns it with each output as produced,
so the file is unchanged exactly when raft still behaves as the file says.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from dataclasses import dataclass, field

from node.raft import ProgressState, ProposalDropped, Ready
from node.raft.describe import (
    describe_conf_state,
    describe_entries,
    describe_message,
    describe_node,
    describe_ready,
    describe_state,
)
from tests.raft.network import Network

SEPARATOR = "----"
ELECTION_TICK = 3
HEARTBEAT_TICK = 1

_PROGRESS_NAMES = {
    ProgressState.PROBE: "StateProbe",
    ProgressState.REPLICATE: "StateReplicate",
    ProgressState.SNAPSHOT: "StateSnapshot",
}


@dataclass(slots=True)
class Block:
    """One command of a transcript, the comments before it and the output after it."""

    comments: list[str]
    command: str
    output: list[str]


def parse(text: str) -> list[Block]:
    """Split a transcript file into its blocks; raises ValueError on a malformed file."""
    blocks: list[Block] = []
    comments: list[str] = []
    lines = iter(text.splitlines())
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        if line.startswith("#"):
            comments.append(line)
            continue
        if next(lines, None) != SEPARATOR:
            raise ValueError(f"line {number}: {line!r} is not followed by {SEPARATOR!r}")
        output = []
        for out in lines:
            if not out.strip():
                break
            output.append(out)
        blocks.append(Block(comments, line, output))
        comments = []
    if comments:
        raise ValueError("comments after the last command")
    return blocks


def render(blocks: list[Block]) -> str:
    """The transcript text of these blocks, a blank line between two."""
    texts = ["\n".join([*b.comments, b.command, SEPARATOR, *b.output]) for b in blocks]
    return "\n\n".join(texts) + "\n" if texts else ""


def run_transcript(text: str) -> str:
    """Run every command of a transcript on a fresh cluster; the text with actual outputs."""
    interpreter = Interpreter()
    blocks = [Block(b.comments, b.command, interpreter.run(b.command)) for b in parse(text)]
    return render(blocks)


@dataclass(slots=True)
class Command:
    """A command line split into its name, positional arguments and key=value options."""

    name: str
    args: list[str] = field(default_factory=list)
    options: dict[str, str] = field(default_factory=dict)

    @classmethod
    def parse(cls, line: str) -> Command:
        name, *words = line.split()
        command = cls(name)
        for word in words:
            key, eq, value = word.partition("=")
            if eq:
                command.options[key] = value
            else:
                command.args.append(word)
        return command

    def ids(self) -> list[int]:
        return [int(a) for a in self.args]

    def id_list(self, key: str) -> list[int]:
        """An option such as voters=(1,2,3)."""
        value = self.options.get(key, "()").strip("()")
        return [int(v) for v in value.split(",") if v]

    def flag(self, key: str, default: bool) -> bool:
        value = self.options.get(key)
        return default if value is None else value == "true"


class Interpreter:
    """Runs transcript commands one at a time on one Network and returns what each printed."""

    def __init__(self) -> None:
        self._net: Network | None = None
        self._out: list[str] = []
        self._indent = ""

    @property
    def net(self) -> Network:
        if self._net is None:
            raise ValueError("no cluster yet: start with add-nodes")
        return self._net

    def run(self, line: str) -> list[str]:
        """Run one command line; its output lines (`ok` when it printed nothing)."""
        command = Command.parse(line)
        handler = getattr(self, "_cmd_" + command.name.replace("-", "_"), None)
        if handler is None:
            raise ValueError(f"unknown command {command.name!r}")
        self._out = []
        handler(command)
        if command.options.get("log-level") == "none":
            self._out = []
        return self._out or ["ok"]

    def _print(self, text: str) -> None:
        self._out.extend(self._indent + line for line in text.rstrip("\n").split("\n"))

    @contextlib.contextmanager
    def _indented(self) -> Iterator[None]:
        saved, self._indent = self._indent, self._indent + "  "
        try:
            yield
        finally:
            self._indent = saved

    def _on_ready(self, node_id: int, rd: Ready) -> None:
        self._print(describe_ready(rd))

    # -- building the cluster ------------------------------------------------------------

    def _cmd_add_nodes(self, command: Command) -> None:
        (count,) = command.ids()
        if self._net is None:
            voters, learners = command.id_list("voters"), command.id_list("learners")
            if count != len(voters) + len(learners):
                raise ValueError(f"add-nodes {count}: voters and learners name other nodes")
            self._net = Network(
                voters, learners, election_tick=ELECTION_TICK, heartbeat_tick=HEARTBEAT_TICK,
                pre_vote=command.flag("pre-vote", True),
                check_quorum=command.flag("check-quorum", True),
            )
            self._net.on_ready = self._on_ready
            new = [*voters, *learners]
        else:
            first = max(self._net.members) + 1
            new = list(range(first, first + count))
            for node_id in new:
                self._net.add(node_id)
        for node_id in new:
            self._print_node(node_id)

    def _print_node(self, node_id: int) -> None:
        status = self.net.node(node_id).status()
        self._print(
            f"{describe_node(node_id)}: Term:{status.term} Commit:{status.commit} "
            f"Applied:{status.applied} {describe_conf_state(status.conf_state)}"
        )

    # -- input ---------------------------------------------------------------------------

    def _cmd_campaign(self, command: Command) -> None:
        (node_id,) = command.ids()
        self.net.node(node_id).campaign()

    def _cmd_propose(self, command: Command) -> None:
        node_id, data = command.args
        try:
            self.net.node(int(node_id)).propose(data.encode())
        except ProposalDropped as exc:
            self._print(f"dropped: {exc}")

    def _cmd_read_index(self, command: Command) -> None:
        node_id, ctx = command.args
        self.net.node(int(node_id)).read_index(ctx.encode())

    def _cmd_transfer_leadership(self, command: Command) -> None:
        leader, transferee = int(command.options["from"]), int(command.options["to"])
        self.net.node(leader).transfer_leader(transferee)

    def _cmd_tick_heartbeat(self, command: Command) -> None:
        for node_id in command.ids():
            for _ in range(HEARTBEAT_TICK):
                self.net.node(node_id).tick()

    def _cmd_tick_election(self, command: Command) -> None:
        for node_id in command.ids():
            node = self.net.node(node_id)
            before = self._role(node_id)
            for _ in range(2 * ELECTION_TICK):
                node.tick()
                if self._role(node_id) != before:
                    break

    def _role(self, node_id: int) -> tuple[object, ...]:
        status = self.net.node(node_id).status()
        return (status.raft_state, status.term, status.lead)

    # -- the Ready loop and the network --------------------------------------------------

    def _cmd_process_ready(self, command: Command) -> None:
        for node_id in command.ids():
            self._process_ready(node_id, header=len(command.args) > 1)

    def _process_ready(self, node_id: int, header: bool) -> None:
        if header:
            self._print(f"> {describe_node(node_id)} handling Ready")
        with self._indented() if header else contextlib.nullcontext():
            if not self.net.process(node_id):
                self._print("<empty Ready>")

    def _cmd_deliver_msgs(self, command: Command) -> None:
        drop = command.flag("drop", False)
        for node_id in command.ids():
            self._deliver(node_id, drop)

    def _deliver(self, node_id: int, drop: bool) -> None:
        for msg, lost in self.net.deliver_to(node_id, drop):
            self._print(("dropped: " if lost else "") + describe_message(msg))

    def _cmd_stabilize(self, command: Command) -> None:
        ids = command.ids() or list(self.net.members)
        busy = True
        while busy:
            busy = False
            for node_id in ids:
                if self.net.node(node_id).has_ready():
                    self._process_ready(node_id, header=True)
                    busy = True
            for node_id in ids:
                if any(m.to == node_id for m in self.net.queue):
                    self._print(f"> {describe_node(node_id)} receiving messages")
                    with self._indented():
                        self._deliver(node_id, drop=False)
                    busy = True

    def _cmd_isolate(self, command: Command) -> None:
        for node_id in command.ids():
            self.net.isolate(node_id)

    def _cmd_heal(self, command: Command) -> None:
        self.net.heal()

    def _cmd_compact(self, command: Command) -> None:
        (node_id,) = command.ids()
        index = self.net.compact(node_id)
        self._print(f"snapshot at {index}, log compacted to {index}")
        self._print_log(node_id)

    # -- observing -----------------------------------------------------------------------

    def _cmd_status(self, command: Command) -> None:
        (node_id,) = command.ids()
        s = self.net.node(node_id).status()
        self._print(
            f"{describe_node(node_id)}: {describe_state(s.raft_state)} Term:{s.term} "
            f"Lead:{describe_node(s.lead)} Commit:{s.commit} Applied:{s.applied}"
        )
        with self._indented():
            for peer, pr in sorted(s.progress.items()):
                extra = (" learner" if pr.is_learner else "") + (
                    "" if pr.recent_active else " inactive"
                )
                self._print(
                    f"{describe_node(peer)}: {_PROGRESS_NAMES[pr.state]} match={pr.match} "
                    f"next={pr.next}{extra}"
                )

    def _cmd_raft_state(self, command: Command) -> None:
        for node_id in self.net.members:
            s = self.net.node(node_id).status()
            self._print(
                f"{describe_node(node_id)}: {describe_state(s.raft_state)} Term:{s.term} "
                f"Lead:{describe_node(s.lead)}"
            )

    def _cmd_raft_log(self, command: Command) -> None:
        (node_id,) = command.ids()
        self._print_log(node_id)

    def _print_log(self, node_id: int) -> None:
        storage = self.net.members[node_id].storage
        first, last = storage.first_index(), storage.last_index()
        if last < first:
            self._print(f"log is empty: first index={first}, last index={last}")
            return
        self._print(describe_entries(storage.entries(first, last + 1, 1 << 62)))

