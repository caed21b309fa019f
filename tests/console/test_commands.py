"""The console's command language: parsing every command, and running it against real members.

Members run in-process with their native door (tests/api/native_cluster.py); outputs are
compared with what etcdctl 3.4 prints for the same command.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import replace
from pathlib import Path

import pytest
import trio

from console.cli import main as cli_main
from console.command_grammar import Arg, CommandError, CommandSpec
from console.command_output import draw_table, human_bytes, render_member_list
from console.command_specs import GRAMMAR
from console.commands import BackgroundOutput, Console, Result, parse
from node.client import Client, Response, connect_client
from playground.playground import Playground
from tests.api.native_cluster import native_cluster

WAIT = 10.0
LEASE_LINE = re.compile(r"^lease ([0-9a-f]{16}) granted with TTL\((\d+)s\)$")


# -- parsing -------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("line", "name", "args", "flags"),
    [
        ("put foo bar", "put", {"key": "foo", "value": "bar"}, {"prev_kv": False}),
        ("put k v --lease=694d --prev-kv", "put", {"key": "k"}, {"lease": 0x694D, "prev_kv": True}),
        ("put k --ignore-value", "put", {"key": "k", "value": None}, {"ignore_value": True}),
        ("get foo", "get", {"key": "foo", "end": None}, {"prefix": False, "consistency": "l"}),
        ("get a z --rev 3 --limit=2", "get", {"key": "a", "end": "z"}, {"rev": 3, "limit": 2}),
        ("get --prefix dir/", "get", {"key": "dir/"}, {"prefix": True}),
        ("get k --sort-by=modify --order=descend", "get", {}, {"sort_by": "MODIFY"}),
        ("get k --keys-only --consistency=s", "get", {}, {"keys_only": True, "consistency": "s"}),
        ("get '' --from-key --count-only", "get", {"key": ""}, {"from_key": True}),
        ("get k --print-value-only=true", "get", {}, {"print_value_only": True}),
        ("del k --prefix=false --prev-kv", "del", {"key": "k"}, {"prefix": False, "prev_kv": True}),
        ("del -- -dash", "del", {"key": "-dash"}, {}),
        ("compact 7 --physical", "compact", {"rev": 7}, {"physical": True}),
        ("watch job/ --prefix --rev=4 --prev-kv", "watch", {"key": "job/"}, {"rev": 4}),
        ("unwatch 2", "unwatch", {"id": 2}, {}),
        ("lease grant 10", "lease grant", {"ttl": 10}, {}),
        ("lease revoke 694d", "lease revoke", {"id": 0x694D}, {}),
        ("lease keep-alive 694d --once", "lease keep-alive", {"id": 0x694D}, {"once": True}),
        ("lease timetolive 694d --keys", "lease timetolive", {}, {"keys": True}),
        ("lease list", "lease list", {}, {}),
        ("lock printer --ttl=5", "lock", {"name": "printer"}, {"ttl": 5}),
        ("unlock printer", "unlock", {"name": "printer"}, {}),
        ("elect leader alice", "elect", {"name": "leader", "value": "alice"}, {}),
        ("observe leader", "observe", {"name": "leader"}, {}),
        ("resign leader", "resign", {"name": "leader"}, {}),
        ("member list", "member list", {}, {}),
        ("member add n4 --peer-urls=http://h:1 --learner", "member add", {"name": "n4"}, {}),
        ("member remove n2", "member remove", {"member": "n2"}, {}),
        ("member promote 8e9e05c52164694d", "member promote", {}, {}),
        ("status", "status", {}, {}),
        ("members", "members", {}, {}),
        ("endpoint status", "status", {}, {}),
        ("endpoint hashkv", "hash", {}, {}),
        ("leader", "leader", {}, {}),
        ("move-leader n2", "move-leader", {"member": "n2"}, {}),
        ("snapshot save /tmp/s.db", "snapshot save", {"file": "/tmp/s.db"}, {}),
        ("hash", "hash", {}, {}),
        ("kill n1", "kill", {"name": "n1"}, {}),
        ("restart n1", "restart", {"name": "n1"}, {}),
        ("pause n1", "pause", {"name": "n1"}, {}),
        ("resume n1", "resume", {"name": "n1"}, {}),
        ("partition n1,n2 / n3", "partition", {"groups": "n1,n2 / n3"}, {}),
        ("heal", "heal", {}, {}),
        ("slow n2 200", "slow", {"name": "n2", "ms": 200}, {}),
        ("add-node --learner", "add-node", {}, {"learner": True}),
        ("remove-node n4", "remove-node", {"name": "n4"}, {}),
        ("hold", "hold", {}, {}),
        ("held", "held", {}, {}),
        ("deliver n1.3", "deliver", {"id": "n1.3"}, {"to": None}),
        ("deliver all --to n2", "deliver", {"id": "all"}, {"to": "n2"}),
        ("drop next", "drop", {"id": "next"}, {}),
        ("tick n2", "tick", {"name": "n2", "n": None}, {}),
        ("tick n2 10", "tick", {"name": "n2", "n": 10}, {}),
        ("release", "release", {}, {}),
        ("jobs", "jobs", {}, {}),
        ("stop 3", "stop", {"id": 3}, {}),
        ("help", "help", {"command": None}, {}),
        ("help lease grant", "help", {"command": "lease grant"}, {}),
        (
            "inspect wal n1 --start-index 3 --types put,txn",
            "inspect wal",
            {"name": "n1"},
            {"start_index": 3, "end_index": None, "types": "put,txn"},
        ),
        ("inspect snap ./data/n2", "inspect snap", {"name": "./data/n2"}, {}),
        ("inspect db n1 --prefix=demo/", "inspect db", {"name": "n1"}, {"prefix": "demo/"}),
    ],
)
def test_every_command_parses_with_its_arguments_and_flags(line, name, args, flags):
    command = parse(line)

    assert command.name == name
    assert args.items() <= command.args.items()
    assert flags.items() <= command.flags.items()


def test_quotes_group_words_and_write_out_takes_each_form():
    assert parse('put "a key" "a value"').args == {"key": "a key", "value": "a value"}
    assert parse("get k -w json").write_out == "json"
    assert parse("get k -w=table").write_out == "table"
    assert parse("get k --write-out simple").write_out == "simple"
    assert parse("get k").write_out is None


@pytest.mark.parametrize(
    ("line", "error"),
    [
        ("gett foo", 'unknown command "gett": did you mean "get"?'),
        ("lease grnt 10", 'unknown command "lease grnt": did you mean "lease grant"?'),
        ("lease", "lease needs a subcommand: grant, revoke, keep-alive, timetolive, list"),
        ("frobnicate", 'unknown command "frobnicate": help lists the commands'),
        ("get k --prefx", "unknown flag: --prefx: did you mean --prefix?"),
        ("get k -x", "unknown shorthand flag: 'x' in -x"),
        ("get k --rev", "flag needs an argument: --rev"),
        ("get k --rev=x", 'invalid argument "x" for "--rev" flag: not an integer'),
        (
            "get k --order=UP",
            'invalid argument "UP" for "--order" flag: choose one of ASCEND, DESCEND',
        ),
        (
            "get k -w yaml",
            'invalid argument "yaml" for "--write-out" flag: choose one of simple, json, table',
        ),
        ("get", "get needs KEY [END], got 0 arguments"),
        ("heal now", "heal takes no arguments, got 1 argument"),
        ("deliver", "deliver needs ID, got 0 arguments"),
        ("put k", "put needs KEY VALUE, got 1 argument"),
        ("put k v --ignore-value", "put command needs only 1 argument when 'ignore-value' is set"),
        (
            "get a b --prefix",
            "too many arguments, only accept one argument when `--prefix` is set.",
        ),
        (
            "get a --prefix --from-key",
            "`--prefix` and `--from-key` cannot be set at the same time, choose one",
        ),
        ("lease revoke zz", 'bad lease ID "zz", expecting ID in Hex'),
        ("unwatch one", 'invalid ID "one": not an integer'),
        ('put "open v', 'unterminated quote in: "open v'),
        ("member add n4", "member peer urls not provided"),
        ("", "empty command: help lists the commands"),
        ('txn value(k) = "v" : put k v', 'malformed comparison: value(k) = "v"'),
        (
            'txn size("k") = "1" : put k v',
            'malformed comparison: size("k") = "1" (unknown target size)',
        ),
        ('txn version("k") = "x" : put k v', 'invalid txn compare request: version("k") = "x"'),
        ('txn version("k") = "0" : lease list', "invalid txn request: lease list"),
        (
            'txn version("k") = "0"',
            "a one-line txn is COMPARES : SUCCESS-OPS [: FAILURE-OPS], items separated by ';'",
        ),
    ],
)
def test_bad_lines_are_one_clear_error(line, error):
    with pytest.raises(CommandError) as raised:
        parse(line)

    assert str(raised.value) == error


def test_a_one_line_txn_holds_compares_and_both_branches():
    command = parse(
        'txn -w json value("k") = "v1"; version("k") > 0; \'lease("k") = "0"\' : '
        'put k v2 --prev-kv; get "k:colon" : del k'
    )

    assert command.write_out == "json"
    compares, success, failure = command.txn.compares, command.txn.success, command.txn.failure
    assert compares[0] == {"result": 0, "target": 3, "key": b"k", "range_end": b"", "value": b"v1"}
    assert (compares[1]["target"], compares[1]["result"], compares[1]["version"]) == (0, 1, 0)
    assert [op.name for op in success] == ["put", "get"]
    assert success[0].flags["prev_kv"] is True
    assert success[1].args["key"] == "k:colon"
    assert [op.args["key"] for op in failure] == ["k"]


def test_txn_alone_asks_for_its_parts_which_parse_like_etcdctl_txn_i():
    command = parse("txn")
    txn = GRAMMAR.parse_txn(['mod("k") > "3"', 'c("k") < "9"'], ["put k v"], [])

    assert command.txn is None
    assert command.flags["interactive"] is True
    assert [(c["target"], c["result"]) for c in txn.compares] == [(2, 1), (1, 2)]
    assert [op.name for op in txn.success] == ["put"] and txn.failure == []


def test_the_demo_runner_adds_verbs_to_a_copy_of_the_grammar():
    say = CommandSpec("say", "Narrates", "demo", (Arg("TEXT", rest=True),))
    demo = GRAMMAR.extended([say])

    assert demo.parse("say Here's a put:   watch it").args == {"text": "Here's a put:   watch it"}
    assert demo.parse("get k").name == "get"
    with pytest.raises(CommandError, match='unknown command "say"'):
        GRAMMAR.parse("say hi")


@pytest.mark.parametrize(
    ("typed", "kind", "detail"),
    [
        ("ge", "command", None),
        ("lease ", "subcommand", "lease"),
        ("get foo --pre", "flag", "get"),
        ("get foo --sort-by=MO", "flag-value", "sort-by"),
        ("get foo -w ", "flag-value", "write-out"),
        ("get fo", "argument", "KEY"),
        ("get foo --rev 3 ", "argument", "END"),
        ("kill ", "argument", "NAME"),
        ("help lea", "argument", "COMMAND"),
        ("heal ", "nothing", None),
    ],
)
def test_the_grammar_tells_what_the_word_being_typed_is(typed, kind, detail):
    expected = GRAMMAR.expects(typed)

    assert expected.kind == kind
    if kind == "subcommand":
        assert expected.group == detail
    elif kind == "flag":
        assert expected.spec.name == detail
    elif kind == "flag-value":
        assert expected.flag.name == detail
    elif kind == "argument":
        assert expected.arg.name == detail


# -- output formats without a cluster ------------------------------------------------------------


def test_member_list_draws_etcdctls_table_and_lines():
    reply = Response(
        {
            "header": {"cluster_id": 1, "member_id": 2, "raft_term": 2},
            "members": [
                {
                    "ID": 0x17425857EFF22A3F,
                    "name": "r1",
                    "peerURLs": ["http://127.0.0.1:53157"],
                    "clientURLs": ["http://127.0.0.1:33099"],
                    "isLearner": False,
                }
            ],
        }
    )

    rendered = render_member_list(reply)

    # etcdctl 3.4.23: `member list -w table` and `member list` for the same member
    assert rendered.lines_for("table") == [
        "+------------------+---------+------+------------------------+------------------------+------------+",
        "|        ID        | STATUS  | NAME |       PEER ADDRS       |      CLIENT ADDRS      | IS LEARNER |",  # noqa: E501
        "+------------------+---------+------+------------------------+------------------------+------------+",
        "| 17425857eff22a3f | started |   r1 | http://127.0.0.1:53157 | http://127.0.0.1:33099 |      false |",  # noqa: E501
        "+------------------+---------+------+------------------------+------------------------+------------+",
    ]  # fmt: skip
    assert rendered.lines_for("simple") == [
        "17425857eff22a3f, started, r1, http://127.0.0.1:53157, http://127.0.0.1:33099, false"
    ]
    assert json.loads(rendered.lines_for("json")[0])["members"][0]["ID"] == 0x17425857EFF22A3F


def test_sizes_print_as_etcdctl_prints_a_db_size():
    assert [human_bytes(size) for size in (5, 24576, 61440, 2_500_000)] == [
        "5 B",
        "25 kB",
        "61 kB",
        "2.5 MB",
    ]
    assert draw_table(("A",), [("long",)])[1] == "|  A   |"


# -- running commands ----------------------------------------------------------------------------


async def run(console: Console, line: str) -> Result:
    with trio.fail_after(WAIT):
        return await console.execute(line)


async def ok(console: Console, line: str) -> list[str]:
    result = await run(console, line)
    assert result.ok, result.lines
    return result.lines


class ReceivedOutputs:
    """The background outputs a console delivered, in order, and a wait for the next one."""

    def __init__(self) -> None:
        self.outputs: list[BackgroundOutput] = []
        self._arrived = trio.Event()

    def append(self, output: BackgroundOutput) -> None:
        self.outputs.append(output)
        self._arrived.set()

    async def wait_for(self, count: int) -> None:
        with trio.fail_after(WAIT):
            while len(self.outputs) < count:
                await self._arrived.wait()
                self._arrived = trio.Event()


def assert_one_error_line(result: Result, text: str) -> None:
    assert not result.ok
    assert result.lines == [f"Error: {text}"]


async def test_put_get_and_del_print_what_etcdctl_prints(tmp_path):
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        Console.open(client) as console,
    ):
        assert await ok(console, "put foo bar") == ["OK"]
        assert await ok(console, "put foo2 bar2 --prev-kv") == ["OK"]
        assert await ok(console, "put foo2 bar3 --prev-kv") == ["OK", "foo2", "bar2"]
        assert await ok(console, "get foo") == ["foo", "bar"]
        assert await ok(console, "get foo --prefix") == ["foo", "bar", "foo2", "bar3"]
        assert await ok(console, "get foo --prefix --keys-only") == ["foo", "", "foo2", ""]
        assert await ok(console, "get foo --prefix --print-value-only") == ["bar", "bar3"]
        assert await ok(console, "get foo --prefix --count-only") == ["2"]
        assert await ok(console, "get foo --prefix --sort-by=MODIFY --order=DESCEND --limit=1") == [
            "foo2",
            "bar3",
        ]
        assert await ok(console, "get foo foo2") == ["foo", "bar"]
        assert await ok(console, "get '' --from-key --keys-only") == ["foo", "", "foo2", ""]
        assert await ok(console, "get nothing") == []
        assert await ok(console, "del nothing") == ["0"]
        assert await ok(console, "del foo2 --prev-kv") == ["1", "foo2", "bar3"]
        assert await ok(console, "del foo --prefix") == ["1"]


async def test_json_output_is_etcds_json_shape(tmp_path):
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        Console.open(client) as console,
        Console.open(client, output="json") as json_console,
    ):
        put = json.loads((await ok(console, "put foo bar -w json"))[0])
        got = json.loads((await ok(console, "get foo -w json"))[0])
        missing = json.loads((await ok(json_console, "get nothing"))[0])
        simple = await ok(json_console, "get foo -w simple")
        result = await run(console, "get foo --prefix -w json")

    assert list(put) == ["header"]
    assert list(got["header"]) == ["cluster_id", "member_id", "revision", "raft_term"]
    assert got["kvs"] == [
        {"key": "Zm9v", "create_revision": 2, "mod_revision": 2, "version": 1, "value": "YmFy"}
    ]
    assert got["count"] == 1 and "more" not in got
    assert list(missing) == ["header"]
    assert simple == ["foo", "bar"]
    assert result.value["kvs"][0]["key"] == "Zm9v"


async def test_revisions_are_read_until_compacted_then_refused_in_etcds_words(tmp_path):
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        Console.open(client) as console,
    ):
        await ok(console, "put k v1")
        await ok(console, "put k v2")
        before = await ok(console, "get k --rev=2")
        assert await ok(console, "compact 3 --physical") == ["compacted revision 3"]
        compacted = await run(console, "get k --rev=2")
        future = await run(console, "get k --rev=100")

    assert before == ["k", "v1"]
    assert_one_error_line(compacted, "etcdserver: mvcc: required revision has been compacted")
    assert_one_error_line(future, "etcdserver: mvcc: required revision is a future revision")


async def test_a_txn_prints_its_branch_then_each_response(tmp_path):
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        Console.open(client) as console,
    ):
        await ok(console, "put k1 v1")
        swapped = await ok(console, 'txn value("k1") = "v1" : put k1 v2 --prev-kv; get k1 : get k1')
        refused = await ok(console, 'txn value("k1") = "v1" : put k1 v3 : get k1; del k0')
        as_json = json.loads((await ok(console, 'txn -w json version("k1") > 0 : del k1 :'))[0])
        asked = replace(
            parse("txn"), txn=GRAMMAR.parse_txn(['version("k1") = "0"'], ["put k1 again"], [])
        )
        interactive = await run(console, asked)
        without_parts = await run(console, "txn")

    assert swapped == ["SUCCESS", "", "OK", "k1", "v1", "", "k1", "v2"]
    assert refused == ["FAILURE", "", "k1", "v2", "", "0"]
    assert as_json["succeeded"] is True
    assert as_json["responses"] == [
        {"Response": {"ResponseDeleteRange": {"header": {"revision": 4}, "deleted": 1}}}
    ]
    assert interactive.lines == ["SUCCESS", "", "OK"]
    assert not without_parts.ok and without_parts.lines[0].startswith("Error: txn needs")


async def test_a_watch_prints_events_in_the_background_until_unwatched(tmp_path):
    received = ReceivedOutputs()
    outputs = received.outputs
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        Console.open(client) as console,
    ):
        console.on_background = received.append
        started = await run(console, "watch job/ --prefix --prev-kv")
        await ok(console, "put job/1 queued")
        await ok(console, "put job/1 running")
        await ok(console, "del job/1")
        await received.wait_for(3)
        listed = await ok(console, "jobs")
        stopped = await ok(console, f"unwatch {started.job.id}")
        after = await ok(console, "jobs")

    assert started.lines == ["[1] watch job/ --prefix --prev-kv (in the background: unwatch 1)"]
    assert [output.lines for output in outputs] == [
        ["PUT", "job/1", "queued"],
        ["PUT", "job/1", "queued", "job/1", "running"],
        ["DELETE", "job/1", "running", "job/1", ""],
    ]
    assert outputs[0].value["Events"][0]["kv"]["value"] == "cXVldWVk"
    assert listed == ["[1] watch job/ --prefix --prev-kv"]
    assert stopped == ["[1] stopped: watch job/ --prefix --prev-kv"]
    assert after == ["no background jobs"]


async def test_a_watch_from_a_compacted_revision_ends_with_etcds_reason(tmp_path):
    received = ReceivedOutputs()
    outputs = received.outputs
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        Console.open(client, output="json") as console,
    ):
        console.on_background = received.append
        for value in "abc":
            await ok(console, f"put k {value}")
        await ok(console, "compact 4")
        started = await run(console, "watch k --rev=2 -w simple")
        await received.wait_for(1)

    assert started.ok
    assert outputs[0].finished is True
    assert outputs[0].lines == [
        "watch was canceled (etcdserver: mvcc: required revision has been compacted)"
    ]
    assert console.jobs() == []


async def test_leases_are_granted_kept_alive_listed_and_revoked(tmp_path):
    received = ReceivedOutputs()
    outputs = received.outputs
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        Console.open(client) as console,
    ):
        console.on_background = received.append
        (granted,) = await ok(console, "lease grant 1")
        lease = LEASE_LINE.match(granted).group(1)
        await ok(console, f"put session alive --lease={lease}")
        alive = await ok(console, f"lease timetolive {lease} --keys")
        listed = await ok(console, "lease list")
        kept = await run(console, f"lease keep-alive {lease}")
        await received.wait_for(3)  # a renewal every TTL/3: this is past the 1 s TTL
        still_there = await ok(console, "get session --print-value-only")
        revoked = await ok(console, f"lease revoke {lease}")
        await received.wait_for(4)
        gone = await ok(console, f"lease timetolive {lease}")
        again = await run(console, f"lease revoke {lease}")

    assert re.fullmatch(
        rf"lease {lease} granted with TTL\(1s\), remaining\((0|1)s\), attached keys\(\[session\]\)",
        alive[0],
    )
    assert listed == ["found 1 leases", lease]
    assert kept.lines == [
        f"lease {lease} keepalived with TTL(1)",
        f"[1] lease keep-alive {lease} (in the background: stop 1)",
    ]
    assert outputs[0].lines == [f"lease {lease} keepalived with TTL(1)"]
    assert still_there == ["alive"]
    assert revoked == [f"lease {lease} revoked"]
    assert outputs[-1].lines == [f"lease {lease} expired or revoked."]
    assert outputs[-1].finished
    assert gone == [f"lease {lease} already expired"]
    assert_one_error_line(again, "etcdserver: requested lease not found")


async def _count_keys(client: Client, prefix: str) -> int:
    return (await client.get(prefix, prefix=True, count_only=True)).count


async def _wait_for_keys(client: Client, prefix: str, count: int) -> None:
    with trio.fail_after(WAIT):
        while await _count_keys(client, prefix) != count:  # noqa: ASYNC110 - polls the member
            await trio.sleep(0.01)


async def test_a_lock_is_held_in_the_background_until_unlock(tmp_path):
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        Console.open(client) as first,
        Console.open(client) as second,
    ):
        held = await run(first, "lock printer")
        twice = await run(first, "lock printer")
        waiting: dict[str, Result] = {}

        async def second_contender() -> None:
            waiting["result"] = await run(second, "lock printer")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(second_contender)
            await _wait_for_keys(client, "printer/", 2)
            released = await ok(first, "unlock printer")
        not_held = await run(first, "unlock printer")
        await ok(second, "unlock printer")
        await _wait_for_keys(client, "printer/", 0)

    assert re.fullmatch(r"printer/[0-9a-f]+", held.lines[0])
    assert held.lines[1] == "[1] lock printer (in the background: unlock printer)"
    assert_one_error_line(twice, "this console already holds 'printer' (job 1)")
    assert released == ["unlocked printer"]
    assert waiting["result"].lines[0].startswith("printer/")
    assert waiting["result"].lines[0] != held.lines[0]
    assert_one_error_line(not_held, "this console holds no lock named 'printer'")


async def test_an_election_is_led_observed_and_resigned(tmp_path):
    received = ReceivedOutputs()
    observed = received.outputs
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        Console.open(client) as alice,
        Console.open(client) as bob,
        Console.open(client) as audience,
    ):
        audience.on_background = received.append
        led = await run(alice, "elect coordinator alice")
        await ok(audience, "observe coordinator")
        await received.wait_for(1)
        outcome: dict[str, Result] = {}

        async def bob_campaigns() -> None:
            outcome["bob"] = await run(bob, "elect coordinator bob")

        async with trio.open_nursery() as nursery:
            nursery.start_soon(bob_campaigns)
            await _wait_for_keys(client, "coordinator/", 2)
            resigned = await ok(alice, "resign coordinator")
        await received.wait_for(2)

    assert led.lines[1:] == [
        "alice",
        "[1] elect coordinator alice (in the background: resign coordinator)",
    ]
    assert observed[0].lines == [led.lines[0], "alice"]
    assert resigned == ["resigned from coordinator"]
    assert outcome["bob"].lines[1] == "bob"
    assert observed[1].lines == [outcome["bob"].lines[0], "bob"]


async def test_cluster_commands_describe_and_steer_three_members(tmp_path):
    async with (
        native_cluster(tmp_path, size=3) as members,
        connect_client([m.endpoint for m in members]) as client,
        Console.open(client) as console,
    ):
        ids = {m.name: f"{m.server.member_id:x}" for m in members}
        leader_name = next(m.name for m in members if m.server.member_id == m.server.leader_id)
        follower = next(name for name in ids if name != leader_name)
        listed = await ok(console, "member list -w simple")
        table = await ok(console, "status")
        statuses = json.loads((await ok(console, "status -w json"))[0])
        leader = await ok(console, "leader")
        hashes = await ok(console, "hash")
        moved = await ok(console, f"move-leader {follower}")
        new_leader = await ok(console, "leader")
        names = console.member_names()

    assert sorted(line.split(", ")[2] for line in listed) == ["m1", "m2", "m3"]
    assert all(line.split(", ")[1] == "started" for line in listed)
    assert table[1].split("|")[1:3] == ["    ENDPOINT     ", "        ID        "]
    rows = [row for row in table[3:-1]]
    assert len(rows) == 3
    assert sorted(row.split("|")[5].strip() for row in rows) == ["false", "false", "true"]
    assert {entry["Endpoint"] for entry in statuses} == {m.endpoint for m in members}
    assert leader[0].startswith(f"{leader_name} is the leader (ID {ids[leader_name]}, term ")
    assert len({line.split(", ")[1] for line in hashes}) == 1
    assert moved == [f"Leadership transferred from {ids[leader_name]} to {ids[follower]}"]
    assert new_leader[0].startswith(f"{follower} is the leader")
    assert sorted(names) == ["m1", "m2", "m3"]


async def test_members_prints_each_members_raft_state_beside_its_revision(tmp_path):
    async with (
        native_cluster(tmp_path, size=3) as members,
        connect_client([m.endpoint for m in members]) as client,
        Console.open(client) as console,
    ):
        await ok(console, "put k v")
        leader_name = next(m.name for m in members if m.server.member_id == m.server.leader_id)
        with trio.fail_after(WAIT):
            while True:
                rows = json.loads((await ok(console, "members -w json"))[0])
                if len({(row["applied_index"], row["revision"]) for row in rows}) == 1:
                    break
                await trio.sleep(0.05)
        table = await ok(console, "members")

    assert sorted(row["member"] for row in rows) == ["m1", "m2", "m3"]
    assert sorted(row["role"] for row in rows) == ["follower", "follower", "leader"]
    assert {row["leader"] for row in rows} == {leader_name}
    assert len({row["term"] for row in rows}) == 1
    (row, *_) = rows
    assert row["revision"] == 2, "one put on a fresh store"
    assert row["commit_index"] > row["revision"], "raft entries are more than the puts"
    assert all(row["last_index"] >= row["commit_index"] for row in rows)
    (leader_row,) = [row for row in rows if row["role"] == "leader"]
    assert leader_row["vote"] == leader_name, "a leader voted for itself in its term"
    assert table[1].split("|")[1:3] == [" MEMBER ", "   ROLE   "]
    assert len(table) == 3 + 3 + 1


async def test_members_are_added_refused_promotion_and_removed_as_etcdctl_says(tmp_path):
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        Console.open(client) as console,
    ):
        added = await ok(console, "member add m9 --peer-urls=http://127.0.0.1:9 --learner")
        new_id = added[0].split()[1]
        promoted = await run(console, f"member promote {new_id}")
        removed = await ok(console, f"member remove {new_id}")
        unknown = await run(console, "member remove nobody")

    assert re.fullmatch(r"Member +[0-9a-f]+ added to cluster +[0-9a-f]+", added[0])
    assert added[1:3] == ["", 'ETCD_NAME="m9"']
    initial_cluster = added[3].removeprefix('ETCD_INITIAL_CLUSTER="').removesuffix('"')
    assert sorted(initial_cluster.split(",")) == [
        f"m1={member.server.config.initial_advertise_peer_urls[0]}",
        "m9=http://127.0.0.1:9",
    ]
    assert added[4:] == [
        'ETCD_INITIAL_ADVERTISE_PEER_URLS="http://127.0.0.1:9"',
        'ETCD_INITIAL_CLUSTER_STATE="existing"',
    ]
    assert_one_error_line(
        promoted, "etcdserver: can only promote a learner member which is in sync with leader"
    )
    assert re.fullmatch(rf"Member +{new_id} removed from cluster +[0-9a-f]+", removed[0])
    assert_one_error_line(unknown, "no member named 'nobody' (members: m1)")


async def test_a_snapshot_is_saved_to_a_file(tmp_path):
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        Console.open(client) as console,
    ):
        await ok(console, "put k v")
        saved = await ok(console, f"snapshot save {tmp_path / 'backup.db'}")
        unwritable = await run(console, f"snapshot save {tmp_path / 'missing' / 'backup.db'}")

    blob = (tmp_path / "backup.db").read_bytes()
    assert saved == [f"Snapshot saved at {tmp_path / 'backup.db'}"]
    assert hashlib.sha256(blob[:-32]).digest() == blob[-32:]
    assert not unwritable.ok and len(unwritable.lines) == 1


async def test_inspect_shows_a_live_members_wal_and_backend_from_a_child_process(tmp_path):
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        Console.open(client) as console,
    ):
        await ok(console, "put demo/k1 v1")
        await ok(console, "put demo/k1 v2")
        data_dir = member.server.config.data_dir
        wal = await ok(console, f"inspect wal {data_dir} --types put")
        db = await run(console, f"inspect db {data_dir} --prefix demo/ -w json")
        missing = await run(console, f"inspect snap {tmp_path / 'nothing'}")
        assert await ok(console, "get demo/k1") == ["demo/k1", "v2"]

    assert any('EntryNormal put "demo/k1" "v1"' in line for line in wal)
    assert any('EntryNormal put "demo/k1" "v2"' in line for line in wal)
    assert not any("hardstate" in line for line in wal)
    revisions = [row for row in db.value if row["row"] == "key_revision"]
    assert [(row["key"], row["version"], row["value"]) for row in revisions] == [
        ("demo/k1", 1, "v1"),
        ("demo/k1", 2, "v2"),
    ]
    assert not missing.ok and len(missing.lines) == 1
    assert "nothing" in missing.lines[0] and "no such directory" in missing.lines[0]


async def test_etcd_console_inspect_runs_on_a_data_directory(tmp_path, capfd):
    async with native_cluster(tmp_path) as (member,), connect_client([member.endpoint]) as client:
        await client.put("k", "v")
        data_dir = member.server.config.data_dir
    status = await trio.to_thread.run_sync(
        cli_main, ["inspect", "db", data_dir, "--dir", str(tmp_path / "no-playground")]
    )
    out, _ = capfd.readouterr()
    assert status == 0
    assert 'key "k"' in out and 'value "v"' in out
    with pytest.raises(SystemExit):
        cli_main(["inspect", "snap", data_dir, "--prefix", "k"])
    _, err = capfd.readouterr()
    assert "--prefix is for inspect db, not inspect snap" in err


async def test_a_dead_member_and_an_unreachable_cluster_are_one_line_each(tmp_path):
    async with native_cluster(tmp_path, size=3) as members:
        gone = members[2]
        await gone.stop()
        async with (
            connect_client([m.endpoint for m in members]) as client,
            Console.open(client) as console,
        ):
            status = await run(console, "status -w simple")
        async with Client([gone.endpoint], timeout=0.5) as dead, Console.open(dead) as console:
            unreachable = await run(console, "get k")
            no_playground = await run(console, "kill n1")

    assert len(status.lines) == 3
    assert status.lines[-1] == (
        f"Failed to get the status of endpoint {gone.endpoint} (Connection refused)"
    )
    assert_one_error_line(
        unreachable, f"cannot reach the cluster: no member answers at {gone.endpoint}"
    )
    assert not no_playground.ok
    assert no_playground.lines[0].startswith("Error: kill needs a playground")


async def test_help_lists_commands_and_tells_one_commands_flags(tmp_path):
    async with Client(["127.0.0.1:1"]) as client:
        console = Console(client)
        overview = await console.execute("help")
        one = await console.execute("help lease timetolive")
        group = await console.execute("help lease")
        unknown = await console.execute("help gett")

    assert (
        "keys:" in overview.lines and "playground (needs an attached playground):" in overview.lines
    )
    assert any(line.startswith("  put KEY [VALUE]") for line in overview.lines)
    assert one.lines[0] == "usage: lease timetolive ID [--keys]"
    assert any("--keys" in line and "Get keys attached to this lease" in line for line in one.lines)
    assert [line.split()[1] for line in group.lines[1:6]] == [
        "grant", "revoke", "keep-alive", "timetolive", "list",
    ]  # fmt: skip
    assert_one_error_line(unknown, 'unknown command "gett": did you mean "get"?')


async def test_the_completion_api_offers_commands_flags_and_live_keys(tmp_path):
    async with (
        native_cluster(tmp_path) as (member,),
        connect_client([member.endpoint]) as client,
        Console.open(client) as console,
    ):
        for key in ("app/a", "app/b", "other"):
            await ok(console, f"put {key} v")
        keys = await console.key_completions("app/")
        all_keys = await console.key_completions("")

    assert "lease keep-alive" in console.commands()
    assert console.flags("get")[:2] == ["--prefix", "--from-key"]
    assert "--write-out" in console.flags("lease grant")
    assert keys == ["app/a", "app/b"]
    assert all_keys == ["app/a", "app/b", "other"]
    assert console.member_names() == ["m1"]


async def test_extra_verbs_complete_but_are_left_to_their_front_end(tmp_path):
    say = CommandSpec("say", "Narrates", "demo", (Arg("TEXT", rest=True),))
    async with Client(["127.0.0.1:1"]) as client:
        console = Console(client, grammar=GRAMMAR.extended([say]))
        result = await console.execute("say hello")

    assert "say" in console.commands()
    assert_one_error_line(result, "say is not a console command: its front end runs it")


async def test_the_playground_is_broken_and_mended_through_commands(tmp_path: Path):
    playground = Playground(
        tmp_path / "playground", members=1, heartbeat_interval_ms=50, election_timeout_ms=500
    )
    try:
        await playground.start()
        async with (
            Client(playground.native_endpoints(), timeout=1.0) as client,
            Console.open(client, playground) as console,
        ):
            await ok(console, "put k before")
            killed = await ok(console, "kill n1")
            while_dead = await run(console, "get k")
            restarted = await ok(console, "restart n1")
            after = await ok(console, "get k --print-value-only")
            one_group = await run(console, "partition n1")
            names = console.member_names()
    finally:
        with trio.CancelScope(shield=True):
            await playground.stop()

    assert killed == ["killed n1"]
    assert not while_dead.ok and len(while_dead.lines) == 1
    assert restarted == ["restarted n1"]
    assert after == ["before"]
    assert_one_error_line(one_group, "a partition needs at least two groups of members")
    assert names == ["n1"]


async def test_inspect_reads_a_running_member_process_by_name_and_leaves_it_serving(
    tmp_path: Path,
):
    playground = Playground(
        tmp_path / "playground", members=1, heartbeat_interval_ms=50, election_timeout_ms=500
    )
    try:
        await playground.start()
        async with (
            Client(playground.native_endpoints(), timeout=1.0) as client,
            Console.open(client, playground) as console,
        ):
            await ok(console, "put inspected/k v1")
            await ok(console, "lease grant 300")
            wal = await ok(console, "inspect wal n1 --types put,lease-grant")
            db = await ok(console, "inspect db n1 --prefix inspected/")
            snap = await ok(console, "inspect snap n1")
            unknown = await run(console, "inspect wal n9")
            await ok(console, "put inspected/k v2")
            after = await ok(console, "get inspected/k --print-value-only")
    finally:
        with trio.CancelScope(shield=True):
            await playground.stop()

    assert any('put "inspected/k" "v1"' in line for line in wal)
    assert any("lease grant id=" in line and "ttl=300" in line for line in wal)
    assert 'key "inspected/k"' in db
    assert any('version 1  value "v1"' in line for line in db)
    assert snap == ["no snapshot files yet"]
    assert not unknown.ok and "n9 is neither a member of the playground (n1)" in unknown.lines[0]
    assert after == ["v2"]


async def held_ref(console: Console, pattern: str) -> str:
    """The ID of the first held message matching `pattern`, once `held` lists one."""
    with trio.fail_after(WAIT):
        while True:
            for line in await ok(console, "held"):
                if re.search(pattern, line):
                    return line.split()[0]
            await trio.sleep(0.05)


async def test_step_mode_holds_lists_delivers_ticks_and_releases_through_commands(
    tmp_path: Path,
):
    playground = Playground(
        tmp_path / "playground", members=3, heartbeat_interval_ms=50, election_timeout_ms=500
    )
    try:
        await playground.start()
        leader = await playground.wait_for_leader()
        follower = next(name for name in playground.members if name != leader)
        async with (
            Client([playground.member(leader).native_endpoint], timeout=WAIT) as client,
            Console.open(client, playground) as console,
        ):
            held = await ok(console, "hold")
            not_a_number = await run(console, "tick n1 x")
            unknown = await run(console, "deliver n1.999")
            async with trio.open_nursery() as nursery:
                nursery.start_soon(ok, console, "put step/k v")
                app_ref = await held_ref(console, rf"{leader}->{follower} MsgApp ")
                delivered = await ok(console, f"deliver {app_ref} --to {follower}")
                dropped = await ok(console, "drop all")
                ticked = await ok(console, f"tick {leader} 1")
                as_json = await console.execute("held -w json")
                released = await ok(console, "release")
            value = await ok(console, "get step/k --print-value-only")
    finally:
        with trio.CancelScope(shield=True):
            await playground.stop()

    assert held[0] == "holding n1, n2, n3: clocks stopped, peer messages held"
    assert_one_error_line(not_a_number, 'invalid N "x": not an integer')
    assert_one_error_line(unknown, "member n1: etcdserver: no held message with id 999")
    app = rf"^delivered {leader}\.\d+ +{leader}->{follower} MsgApp Term:\d+ .* Entries:1$"
    assert re.match(app, delivered[0])
    ack = rf"^{follower}\.\d+ +{follower}->{leader} MsgAppResp "
    assert any(re.match(ack, line) for line in delivered)
    assert dropped[0].startswith("dropped ") and dropped[-1] == "no message is held"
    assert ticked[0] == f"{leader}: 1 tick"
    assert any(re.search(rf"{leader}->{follower} MsgHeartbeat ", line) for line in ticked)
    assert as_json.value["action"] == "held" and as_json.value["held"]
    assert released[0].startswith("released: real time again, ")
    assert value == ["v"]


async def test_auth_user_and_role_commands_print_what_etcdctl_prints(tmp_path):
    async with native_cluster(tmp_path, bcrypt_cost=4) as (member,):
        async with connect_client([member.endpoint]) as client, Console.open(client) as console:
            assert await ok(console, "user add root:rootpw") == ["User root created"]
            assert await ok(console, "role add root") == ["Role root created"]
            assert await ok(console, "user grant-role root root") == [
                "Role root is granted to user root"
            ]
            assert await ok(console, "user add alice:x") == ["User alice created"]
            assert await ok(console, "user add bob --no-password") == ["User bob created"]
            assert await ok(console, "role add r1") == ["Role r1 created"]
            for line in (
                "role grant-permission r1 read k1",
                "role grant-permission r1 write a c",
                "role grant-permission --prefix r1 readwrite p/",
                "role grant-permission --from-key r1 read z",
            ):
                assert await ok(console, line) == ["Role r1 updated"]
            assert await ok(console, "role get r1") == [
                "Role r1", "KV Read:", "\tk1", "\t[p/, p0) (prefix p/)", "\t[z, <open ended>",
                "KV Write:", "\t[a, c)", "\t[p/, p0) (prefix p/)",
            ]  # fmt: skip
            assert await ok(console, "user get alice") == ["User: alice", "Roles:"]
            assert await ok(console, "user grant-role alice r1") == [
                "Role r1 is granted to user alice"
            ]
            assert await ok(console, "user get alice") == ["User: alice", "Roles: r1"]
            assert await ok(console, "user list") == ["alice", "bob", "root"]
            assert await ok(console, "role list") == ["r1", "root"]
            assert await ok(console, "role revoke-permission r1 k1") == [
                "Permission of key k1 is revoked from role r1"
            ]
            assert await ok(console, "role revoke-permission --from-key r1 z") == [
                "Permission of range [z, <open ended> is revoked from role r1"
            ]
            assert_one_error_line(
                await run(console, "role grant-permission r1 readonly k"),
                "invalid permission type readonly",
            )
            assert_one_error_line(
                await run(console, "user get nobody"), "etcdserver: user name not found"
            )
            assert await ok(console, "user passwd alice secret") == ["Password updated"]
            assert await ok(console, "user delete bob") == ["User bob deleted"]
            assert await ok(console, "auth enable") == ["Authentication Enabled"]
            assert_one_error_line(await run(console, "get k1"), "etcdserver: user name is empty")

        async with (
            connect_client([member.endpoint], user="alice", password="secret") as alice,
            Console.open(alice) as console,
        ):
            assert await ok(console, "put p/x 1") == ["OK"]
            for refused in ("put k1 v", "auth disable"):
                assert_one_error_line(await run(console, refused), "etcdserver: permission denied")
        async with (
            connect_client([member.endpoint], user="root", password="rootpw") as root,
            Console.open(root) as console,
        ):
            assert await ok(console, "auth disable") == ["Authentication Disabled"]
