"""The console's commands: etcdctl's verbs, arguments and flags, plus the playground's.

Names, flags and help texts follow etcdctl 3.4 wherever etcdctl has the command; `GRAMMAR`
is the grammar every front end parses with.
"""

from __future__ import annotations

from console.command_grammar import Arg, Command, CommandError, CommandSpec, Flag, Grammar

KEYS = "keys"
WATCHES = "watches"
LEASES = "leases"
CONCURRENCY = "locks and elections"
CLUSTER = "cluster"
AUTH = "auth"
PLAYGROUND = "playground (needs an attached playground)"
INSPECT = "a member's files on disk (read-only, safe while it runs)"
STEP_MODE = "step mode (needs an attached playground)"
CONSOLE = "console"

DEFAULT_LOCK_TTL = 10
"""Seconds of the session lease a lock is held under, as etcdctl lock --ttl."""


def _check_put(command: Command) -> None:
    if command.flags["ignore_value"] and command.args["value"] is not None:
        raise CommandError("put command needs only 1 argument when 'ignore-value' is set")
    if not command.flags["ignore_value"] and command.args["value"] is None:
        raise CommandError("put needs KEY VALUE, got 1 argument")


def _check_range(command: Command) -> None:
    prefix, from_key = command.flags["prefix"], command.flags.get("from_key", False)
    if prefix and from_key:
        raise CommandError("`--prefix` and `--from-key` cannot be set at the same time, choose one")
    for name, flag in (("prefix", prefix), ("from-key", from_key)):
        if flag and command.args["end"] is not None:
            raise CommandError(
                f"too many arguments, only accept one argument when `--{name}` is set."
            )
    if command.flags.get("keys_only") and command.flags.get("count_only"):
        raise CommandError(
            "`--keys-only` and `--count-only` cannot be set at the same time, choose one"
        )


def _check_user_add(command: Command) -> None:
    name, _, password = command.args["user"].partition(":")
    if not name:
        raise CommandError("user name is empty")
    if not password and not command.flags["no_password"]:
        raise CommandError("user add needs NAME:PASSWORD (or NAME --no-password)")


def _check_permission_range(command: Command) -> None:
    if command.flags["prefix"] and command.flags["from_key"]:
        raise CommandError("--from-key and --prefix flags are mutually exclusive")
    if (command.flags["prefix"] or command.flags["from_key"]) and command.args["end"]:
        raise CommandError("unexpected endkey argument with --prefix or --from-key")


def _check_member_add(command: Command) -> None:
    if not command.flags["peer_urls"]:
        raise CommandError("member peer urls not provided")


_KEY = Arg("KEY", "key")
_END = Arg("END", "key", optional=True)
_LEASE_ID = Arg("ID", "lease")
_MEMBER = Arg("MEMBER", "member")
_PLAYGROUND_MEMBER = Arg("NAME", "member")
_INSPECTED = Arg("NAME", "member")
"""A playground member, or a path to a member's data directory."""
_PREFIX = Flag("prefix", "keys with matching prefix")
_FROM_KEY = Flag("from-key", "keys that are greater than or equal to the given key")
_PREV_KV = Flag("prev-kv", "return the previous key-value pair before modification")
_LEARNER = Flag("learner", "indicates if the new member is raft learner")
_USER = Arg("USER")
_ROLE = Arg("ROLE")
_PERM_PREFIX = Flag("prefix", "grant a prefix permission")
_PERM_FROM_KEY = Flag("from-key", "grant a permission of keys that are greater than or equal to "
                      "the given key using byte compare")

BUILTIN_SPECS = (
    CommandSpec(
        "put",
        "Puts the given key into the store",
        KEYS,
        (_KEY, Arg("VALUE", "value", optional=True)),
        (
            Flag(
                "lease", "lease ID (in hexadecimal) to attach to the key", "lease", 0, metavar="ID"
            ),
            _PREV_KV,
            Flag("ignore-value", "updates the key using its current value"),
            Flag("ignore-lease", "updates the key using its current lease"),
        ),
        check=_check_put,
    ),
    CommandSpec(
        "get",
        "Gets the key or a range of keys",
        KEYS,
        (_KEY, _END),
        (
            _PREFIX,
            _FROM_KEY,
            Flag("rev", "Specify the kv revision", "int", 0, metavar="N"),
            Flag("limit", "Maximum number of results", "int", 0, metavar="N"),
            Flag("keys-only", "Get only the keys"),
            Flag("count-only", "Get only the count"),
            Flag(
                "sort-by",
                "Sort target",
                "choice",
                None,
                ("CREATE", "KEY", "MODIFY", "VALUE", "VERSION"),
            ),
            Flag(
                "order",
                "Order of results (ASCEND by default)",
                "choice",
                None,
                ("ASCEND", "DESCEND"),
            ),
            Flag("print-value-only", 'Only write values when using the "simple" output format'),
            Flag("consistency", "Linearizable(l) or Serializable(s)", "choice", "l", ("l", "s")),
        ),
        check=_check_range,
    ),
    CommandSpec(
        "del",
        "Removes the specified key or range of keys [key, range_end)",
        KEYS,
        (_KEY, _END),
        (_PREFIX, Flag("prev-kv", "return deleted key-value pairs"), _FROM_KEY),
        check=_check_range,
    ),
    CommandSpec(
        "txn",
        "Txn processes all the requests in one transaction (no argument: asks for each part)",
        KEYS,
        (),
        (Flag("interactive", "Input transaction in interactive mode", short="i"),),
    ),
    CommandSpec(
        "compact",
        "Compacts the event history in etcd",
        KEYS,
        (Arg("REV", "int"),),
        (Flag("physical", "wait for compaction to physically remove all old revisions"),),
    ),
    CommandSpec(
        "watch",
        "Watches events stream on keys or prefixes, in the background",
        WATCHES,
        (_KEY, _END),
        (
            Flag("prefix", "Watch on a prefix if prefix is set"),
            Flag("rev", "Revision to start watching", "int", 0, metavar="N"),
            Flag("prev-kv", "get the previous key-value pair before the event happens"),
        ),
        check=_check_range,
    ),
    CommandSpec("unwatch", "Stops a background watch", WATCHES, (Arg("ID", "job"),)),
    CommandSpec("lease grant", "Creates leases", LEASES, (Arg("TTL", "int"),)),
    CommandSpec("lease revoke", "Revokes leases", LEASES, (_LEASE_ID,)),
    CommandSpec(
        "lease keep-alive",
        "Keeps leases alive (renew), in the background",
        LEASES,
        (_LEASE_ID,),
        (Flag("once", "Resets the keep-alive time to its original value and exits"),),
    ),
    CommandSpec(
        "lease timetolive",
        "Get lease information",
        LEASES,
        (_LEASE_ID,),
        (Flag("keys", "Get keys attached to this lease"),),
    ),
    CommandSpec("lease list", "List all active leases", LEASES),
    CommandSpec(
        "lock",
        "Acquires a named lock and holds it in the background until unlock",
        CONCURRENCY,
        (Arg("NAME"),),
        (Flag("ttl", "timeout for session", "int", DEFAULT_LOCK_TTL, metavar="SECONDS"),),
    ),
    CommandSpec("unlock", "Releases a lock this console holds", CONCURRENCY, (Arg("NAME"),)),
    CommandSpec(
        "elect",
        "Campaigns in an election and leads it in the background until resign",
        CONCURRENCY,
        (Arg("NAME"), Arg("VALUE", "value")),
    ),
    CommandSpec(
        "observe",
        "Prints each leader's proposal of an election, in the background",
        CONCURRENCY,
        (Arg("NAME"),),
    ),
    CommandSpec("resign", "Gives up leading an election", CONCURRENCY, (Arg("NAME"),)),
    CommandSpec("member list", "Lists all members in the cluster", CLUSTER),
    CommandSpec(
        "member add",
        "Adds a member into the cluster (its process is yours to start: see add-node)",
        CLUSTER,
        (Arg("NAME"),),
        (
            Flag(
                "peer-urls",
                "comma separated peer URLs for the new member",
                "text",
                "",
                metavar="URLS",
            ),
            _LEARNER,
        ),
        check=_check_member_add,
    ),
    CommandSpec(
        "member remove",
        "Removes a member (by name or hex ID) from the cluster",
        CLUSTER,
        (_MEMBER,),
    ),
    CommandSpec(
        "member promote",
        "Promotes a non-voting learner member (by name or hex ID)",
        CLUSTER,
        (_MEMBER,),
    ),
    CommandSpec(
        "status",
        "Prints the status of every member's endpoint",
        CLUSTER,
        aliases=("endpoint status",),
    ),
    CommandSpec(
        "members",
        "Prints each member's role, term, leader, commit and applied index, and revision",
        CLUSTER,
    ),
    CommandSpec("leader", "Prints which member leads, and in which term", CLUSTER),
    CommandSpec(
        "move-leader",
        "Transfers leadership to another member (by name or hex ID)",
        CLUSTER,
        (_MEMBER,),
    ),
    CommandSpec(
        "snapshot save",
        "Stores an etcd node backend snapshot to a given file",
        CLUSTER,
        (Arg("FILE", "file"),),
    ),
    CommandSpec(
        "hash",
        "Prints the KV history hash of every member's endpoint",
        CLUSTER,
        aliases=("endpoint hashkv",),
    ),
    CommandSpec(
        "inspect wal",
        "Shows a member's WAL records, entries decoded (NAME: a playground member, or a path)",
        INSPECT,
        (_INSPECTED,),
        (
            Flag("start-index", "entries from this index on", "int", None, metavar="N"),
            Flag("end-index", "entries up to this index", "int", None, metavar="N"),
            Flag("types", "record types to show, comma-separated (put,txn,hardstate,...)",
                 "text", None, metavar="TYPES"),
        ),
    ),
    CommandSpec(
        "inspect snap",
        "Shows a member's snapshot files and the WAL markers pointing at them",
        INSPECT,
        (_INSPECTED,),
    ),
    CommandSpec(
        "inspect db",
        "Shows a member's backend: buckets, meta, key revisions, leases, members",
        INSPECT,
        (_INSPECTED,),
        (Flag("prefix", "only keys starting with this prefix", "text", None, metavar="PREFIX"),),
    ),
    CommandSpec(
        "kill", "Kills a member's process (SIGKILL), as a crash", PLAYGROUND, (_PLAYGROUND_MEMBER,)
    ),
    CommandSpec(
        "restart", "Starts a member again with its data", PLAYGROUND, (_PLAYGROUND_MEMBER,)
    ),
    CommandSpec("pause", "Freezes a member's process (SIGSTOP)", PLAYGROUND, (_PLAYGROUND_MEMBER,)),
    CommandSpec("resume", "Thaws a paused member (SIGCONT)", PLAYGROUND, (_PLAYGROUND_MEMBER,)),
    CommandSpec(
        "partition",
        "Cuts the cluster into groups that cannot reach each other: partition n1,n2 / n3",
        PLAYGROUND,
        (Arg("GROUPS", rest=True),),
    ),
    CommandSpec("heal", "Removes every partition and slow link", PLAYGROUND),
    CommandSpec(
        "slow",
        "Delays every message to and from a member (0 takes the delay off)",
        PLAYGROUND,
        (_PLAYGROUND_MEMBER, Arg("MS", "int")),
    ),
    CommandSpec(
        "add-node",
        "Starts a new member that joins through MemberAdd",
        PLAYGROUND,
        flags=(_LEARNER,),
    ),
    CommandSpec(
        "remove-node",
        "Removes a member through MemberRemove and stops it",
        PLAYGROUND,
        (_PLAYGROUND_MEMBER,),
    ),
    CommandSpec(
        "hold",
        "Step mode: stops every member's clock and holds every peer message",
        STEP_MODE,
    ),
    CommandSpec("held", "Lists the held messages, oldest first, with their IDs", STEP_MODE),
    CommandSpec(
        "deliver",
        "Delivers a held message: its ID (n1.3), next (the oldest) or all",
        STEP_MODE,
        (Arg("ID"),),
        (Flag("to", "only messages to this member", "text", None, metavar="NAME"),),
    ),
    CommandSpec(
        "drop",
        "Drops a held message (ID, next or all), as a lossy network would",
        STEP_MODE,
        (Arg("ID"),),
    ),
    CommandSpec(
        "tick",
        "Fires N ticks of a member's clock (no N: up to its next timeout)",
        STEP_MODE,
        (_PLAYGROUND_MEMBER, Arg("N", "int", optional=True)),
    ),
    CommandSpec(
        "release", "Ends step mode: real time again, what is still held is delivered", STEP_MODE
    ),
    CommandSpec("auth enable", "Enables authentication", AUTH),
    CommandSpec("auth disable", "Disables authentication", AUTH),
    CommandSpec(
        "user add",
        "Adds a new user (NAME:PASSWORD, or NAME --no-password)",
        AUTH,
        (_USER,),
        (Flag("no-password", "Create a user without password (CN based auth only)"),),
        check=_check_user_add,
    ),
    CommandSpec(
        "user get",
        "Gets detailed information of a user",
        AUTH,
        (_USER,),
        (Flag("detail", "Show permissions of roles granted to the user"),),
    ),
    CommandSpec("user list", "Lists all users", AUTH),
    CommandSpec("user delete", "Deletes a user", AUTH, (_USER,)),
    CommandSpec(
        "user passwd",
        "Changes password of user (the new password is the second argument)",
        AUTH,
        (_USER, Arg("PASSWORD")),
    ),
    CommandSpec("user grant-role", "Grants a role to a user", AUTH, (_USER, _ROLE)),
    CommandSpec("user revoke-role", "Revokes a role from a user", AUTH, (_USER, _ROLE)),
    CommandSpec("role add", "Adds a new role", AUTH, (_ROLE,)),
    CommandSpec("role get", "Gets detailed information of a role", AUTH, (_ROLE,)),
    CommandSpec("role list", "Lists all roles", AUTH),
    CommandSpec("role delete", "Deletes a role", AUTH, (_ROLE,)),
    CommandSpec(
        "role grant-permission",
        "Grants a key to a role: read, write or readwrite on KEY, [KEY, END), a prefix or "
        "every key from KEY",
        AUTH,
        (_ROLE, Arg("PERMISSION"), _KEY, _END),
        (_PERM_PREFIX, _PERM_FROM_KEY),
        check=_check_permission_range,
    ),
    CommandSpec(
        "role revoke-permission",
        "Revokes a key from a role",
        AUTH,
        (_ROLE, _KEY, _END),
        (
            Flag("prefix", "revoke a prefix permission"),
            Flag("from-key", "revoke a permission of keys that are greater than or equal to "
                 "the given key using byte compare"),
        ),
        check=_check_permission_range,
    ),
    CommandSpec("jobs", "Lists the background jobs (watches, keep-alives, locks, ...)", CONSOLE),
    CommandSpec("stop", "Stops a background job", CONSOLE, (Arg("ID", "job"),)),
    CommandSpec(
        "help",
        "Lists the commands, or tells one command's arguments and flags",
        CONSOLE,
        (Arg("COMMAND", "command", optional=True, rest=True),),
    ),
    CommandSpec(
        "trace",
        "Prints what every member did inside during the previous command: its trace events",
        CONSOLE,
        flags=(
            Flag(
                "types",
                "trace event kinds to show (msg_send,msg_recv,ready,advance,wal_save,apply,...)",
                "text",
                "",
                metavar="KIND,...",
            ),
            Flag("members", "members to show (n1,n2,...)", "text", "", metavar="NAME,..."),
            Flag("all", "heartbeats too, and the Readys that carry only them"),
            Flag(
                "commands",
                "the last N commands, not just the previous one (up to 20)",
                "int",
                1,
                metavar="N",
            ),
        ),
    ),
)

GRAMMAR = Grammar(BUILTIN_SPECS)
"""The console's command language."""
