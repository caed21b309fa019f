"""etcd-node's configuration: etcd 3.4's flags, defaults, checks and derived identities.

The flags keep etcd's names, value syntax, defaults and error texts, so that a command line
that starts etcd 3.4 starts a member of ours; a few flags of our own are marked as such. Member
and cluster ids are derived exactly as etcd derives them for an initial cluster, so the same
flags give the same ids as a real etcd.
"""

from __future__ import annotations

import hashlib
import ipaddress
import json
import os
import re
import socket
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

DEFAULT_NAME = "default"
DEFAULT_PEER_URL = "http://localhost:2380"
DEFAULT_CLIENT_URL = "http://localhost:2379"
DEFAULT_INITIAL_CLUSTER = f"{DEFAULT_NAME}={DEFAULT_PEER_URL}"
DEFAULT_CLUSTER_TOKEN = "etcd-cluster"
DEFAULT_SNAPSHOT_COUNT = 100_000
DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024 * 1024 * 1024
DEFAULT_MAX_REQUEST_BYTES = 1_572_864
DEFAULT_MAX_TXN_OPS = 128
MAX_ELECTION_MS = 50_000
NATIVE_PORT_OFFSET = 10_000
"""Our native client port sits this far above the client port unless --listen-native-urls says."""

CLUSTER_STATES = ("new", "existing")
COMPACTION_MODES = ("periodic", "revision")
LOG_LEVELS = ("debug", "info", "warn", "error", "panic", "fatal")
ENV_PREFIX = "ETCD"

_URL_SCHEMES = ("http", "https", "unix", "unixs")
_SCHEME_ERROR = "URL scheme must be http, https, unix, or unixs: {}"
_HOST_PORT_ERROR = 'URL address does not have the form "host:port": {}'
_PATH_ERROR = "URL must not contain a path: {}"
_MAX_PORT = 65_535
_MAX_INT64 = 2**63 - 1
_MAX_UINT64 = 2**64 - 1


class ConfigError(Exception):
    """A flag or configuration etcd would refuse; the message is etcd's text where it has one."""


class FlagValueError(Exception):
    """A flag value that does not parse; the message is the reason Go's flag package gives."""


def _go_quote(text: str) -> str:
    """Go's %q of a string."""
    return json.dumps(text, ensure_ascii=False)


def _go_quote_list(items: list[str]) -> str:
    """Go's %q of a []string."""
    return "[" + " ".join(_go_quote(item) for item in items) + "]"


# --- URLs, as etcd's types.NewURL on top of Go's net/url -----------------------------------


def _split_scheme(text: str) -> tuple[str, str]:
    """Go's getScheme: the scheme (empty if the text has none) and the rest."""
    for index, char in enumerate(text):
        if char.isascii() and char.isalpha():
            continue
        if "0" <= char <= "9" or char in "+-.":
            if index == 0:
                return "", text
            continue
        if char == ":":
            if index == 0:
                raise FlagValueError(f"parse {_go_quote(text)}: missing protocol scheme")
            return text[:index], text[index + 1 :]
        return "", text
    return "", text


def _split_host_port(host_port: str) -> tuple[str, str] | None:
    """Go's net.SplitHostPort: (host, port) without IPv6 brackets, or None if malformed."""
    colon = host_port.rfind(":")
    if colon < 0:
        return None
    if host_port.startswith("["):
        end = host_port.find("]")
        if end < 0 or end + 1 != colon:
            return None
        host = host_port[1:end]
    else:
        host = host_port[:colon]
        if ":" in host:
            return None
    port = host_port[colon + 1 :]
    if any(bracket in host + port for bracket in "[]"):
        return None
    return host, port


def _valid_optional_port(colon_port: str) -> bool:
    return re.fullmatch(r"(:[0-9]*)?", colon_port) is not None


def _check_authority_port(text: str, host: str) -> None:
    """Go's parseHost checks on the port part of a URL's host."""
    if host.startswith("["):
        end = host.rfind("]")
        if end < 0:
            raise FlagValueError(f"parse {_go_quote(text)}: missing ']' in host")
        colon_port = host[end + 1 :]
    else:
        colon = host.rfind(":")
        colon_port = host[colon:] if colon >= 0 else ""
    if not _valid_optional_port(colon_port):
        raise FlagValueError(
            f"parse {_go_quote(text)}: invalid port {_go_quote(colon_port)} after host"
        )


def parse_url(text: str) -> str:
    """One URL as etcd's types.NewURL accepts it, in Go's url.String() form (scheme lower-cased).

    Raises FlagValueError with the text etcd gives (Go's url.Parse errors included).
    """
    text = text.strip()
    if any(ord(char) < 0x20 or ord(char) == 0x7F for char in text):
        raise FlagValueError(f"parse {_go_quote(text)}: net/url: invalid control character in URL")
    scheme, rest = _split_scheme(text)
    rest = rest.split("#", 1)[0].split("?", 1)[0]
    host, path = "", rest
    if not rest.startswith("/"):
        if not scheme and ":" in rest.split("/", 1)[0]:
            raise FlagValueError(
                f"parse {_go_quote(text)}: first path segment in URL cannot contain colon"
            )
    elif rest.startswith("//"):
        authority, slash, tail = rest[2:].partition("/")
        host, path = authority.rpartition("@")[2], slash + tail
        _check_authority_port(text, host)
    if scheme.lower() not in _URL_SCHEMES:
        raise FlagValueError(_SCHEME_ERROR.format(text))
    if _split_host_port(host) is None:
        raise FlagValueError(_HOST_PORT_ERROR.format(text))
    if path:
        raise FlagValueError(_PATH_ERROR.format(text))
    return scheme.lower() + text[len(scheme) :]


def parse_urls(text: str) -> list[str]:
    """A comma-separated URL list as etcd's types.NewURLs: each URL checked, the list sorted."""
    return sorted(parse_url(part) for part in text.split(","))


def parse_initial_cluster(text: str) -> dict[str, list[str]]:
    """--initial-cluster `name=url,name=url,...` as etcd's types.NewURLsMap, in first-seen order.

    A name may repeat to give a member several peer URLs; each member's URLs are sorted.
    """
    raw: dict[str, list[str]] = {}
    for pair in text.split(","):
        if pair:
            name, _, url = pair.partition("=")
            raw.setdefault(name, []).append(url)
    cluster: dict[str, list[str]] = {}
    for name, urls in raw.items():
        try:
            cluster[name] = sorted(parse_url(url) for url in urls)
        except FlagValueError as error:
            raise ConfigError(f"error setting up initial cluster: {error}") from None
    return cluster


def _urls_map_string(cluster: Mapping[str, list[str]]) -> str:
    """etcd's URLsMap.String(): sorted `name=url` pairs."""
    return ",".join(sorted(f"{name}={url}" for name, urls in cluster.items() for url in urls))


def _url_host_port(url: str) -> tuple[str, str]:
    authority = url.split("://", 1)[1].split("?", 1)[0].split("#", 1)[0].rpartition("@")[2]
    host_port = _split_host_port(authority)
    if host_port is None:
        raise ConfigError(_HOST_PORT_ERROR.format(url))
    return host_port


def _bind_address(url: str) -> tuple[str, int]:
    host, port = _url_host_port(url)
    return host, int(port or 0)


def _resolved(url: str) -> str:
    """url with a DNS host name replaced by its address (IPv4 first), as etcd compares peer URLs."""
    host, port = _url_host_port(url)
    if host == "localhost" or _is_ip(host):
        return url
    try:
        found = socket.getaddrinfo(host, int(port or 0), type=socket.SOCK_STREAM)
    except OSError as error:
        raise ConfigError(f"failed to resolve {_go_quote(url)} ({error})") from None
    family, _, _, _, address = min(found, key=lambda info: info[0] != socket.AF_INET)
    shown = f"[{address[0]}]" if family == socket.AF_INET6 else address[0]
    return f"{url.split('://', 1)[0]}://{shown}:{port}"


def _is_ip(host: str) -> bool:
    try:
        ipaddress.ip_address(host)
    except ValueError:
        return False
    return True


def _urls_equal(a: list[str], b: list[str]) -> str | None:
    """Why two sorted URL lists differ as etcd 3.4.23's netutil.URLStringsEqual sees it, or None."""
    if len(a) != len(b):
        return f"len({_go_quote_list(a)}) != len({_go_quote_list(b)})"
    if a == b:
        return None
    try:
        resolved_a, resolved_b = sorted(map(_resolved, a)), sorted(map(_resolved, b))
    except ConfigError as error:
        return str(error)
    for url_a, url_b in zip(resolved_a, resolved_b, strict=True):
        if url_a != url_b:
            return f"resolved urls: {_go_quote(url_a)} != {_go_quote(url_b)}"
    return None


# --- Go's flag value syntax -------------------------------------------------------------------


def _go_integer(raw: str, lowest: int, highest: int) -> int:
    """strconv.Parse(U)Int with base 0, as Go's flag package parses numbers."""
    negative, digits = False, raw
    if lowest < 0 and digits[:1] in ("+", "-"):
        negative, digits = digits[0] == "-", digits[1:]
    if not re.fullmatch(r"[0-9A-Za-z_]+", digits):
        raise FlagValueError("parse error")
    try:
        value = int(digits, 8) if re.fullmatch(r"0[0-7_]+", digits) else int(digits, 0)
    except ValueError:
        raise FlagValueError("parse error") from None
    value = -value if negative else value
    if not lowest <= value <= highest:
        raise FlagValueError("value out of range")
    return value


def _go_uint(raw: str) -> int:
    return _go_integer(raw, 0, _MAX_UINT64)


def _go_int64(raw: str) -> int:
    return _go_integer(raw, -_MAX_INT64 - 1, _MAX_INT64)


def _go_bool(raw: str) -> bool:
    """strconv.ParseBool."""
    if raw in ("1", "t", "T", "TRUE", "true", "True"):
        return True
    if raw in ("0", "f", "F", "FALSE", "false", "False"):
        return False
    raise FlagValueError("parse error")


def _go_string(raw: str) -> str:
    return raw


def _optional_path(raw: str) -> str | None:
    return raw or None


def _url_list(raw: str) -> list[str]:
    return parse_urls(raw)


def _cluster_state(raw: str) -> str:
    if raw not in CLUSTER_STATES:
        raise FlagValueError("invalid value")
    return raw


_DURATION_UNITS_NS = {
    "ns": 1,
    "us": 1_000,
    "\u00b5s": 1_000,
    "\u03bcs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_DURATION_PART = re.compile(r"([0-9]*)(?:\.([0-9]*))?([^0-9.]*)")


def parse_go_duration(text: str) -> int:
    """Go's time.ParseDuration, in nanoseconds; raises ConfigError with Go's text."""
    quoted = _go_quote(text)
    body = text[1:] if text[:1] in "+-" else text
    if body == "0":
        return 0
    if not body:
        raise ConfigError(f"time: invalid duration {quoted}")
    total = 0
    while body:
        match = _DURATION_PART.match(body)
        assert match is not None  # the pattern matches the empty string
        whole, fraction, unit = match.groups()
        if not whole and not fraction:
            raise ConfigError(f"time: invalid duration {quoted}")
        if not unit:
            raise ConfigError(f"time: missing unit in duration {quoted}")
        if unit not in _DURATION_UNITS_NS:
            raise ConfigError(f"time: unknown unit {_go_quote(unit)} in duration {quoted}")
        scale = _DURATION_UNITS_NS[unit]
        total += int(whole or "0") * scale
        if fraction:
            total += int(fraction) * scale // 10 ** len(fraction)
        body = body[match.end() :]
    if total > _MAX_INT64:
        raise ConfigError(f"time: invalid duration {quoted}")
    return -total if text.startswith("-") else total


# --- the flags ----------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Flag:
    """One command-line flag: etcd's name, the ServerConfig field it sets and its help entry."""

    name: str
    field: str
    parse: Callable[[str], object]
    default: str
    """The default as `etcd --help` shows it."""
    section: str
    help: str
    empty_keeps_default: bool = False
    """etcd's URL flags take '' as an allowed exception that leaves the default in place."""

    @property
    def is_bool(self) -> bool:
        """True for a flag that may be given without a value (meaning true)."""
        return self.parse is _go_bool

    @property
    def env_var(self) -> str:
        """The environment variable etcd reads for this flag: ETCD_ and the name in upper snake."""
        return f"{ENV_PREFIX}_{self.name.upper().replace('-', '_')}"


MEMBER, CLUSTERING, LOGGING, EXPERIMENTAL, OURS = (
    "Member",
    "Clustering",
    "Logging",
    "Experimental feature",
    "etcd-node",
)
SECTIONS = (MEMBER, CLUSTERING, LOGGING, EXPERIMENTAL, OURS)

FLAGS: tuple[Flag, ...] = (
    Flag("name", "name", _go_string, DEFAULT_NAME, MEMBER,
         "Human-readable name for this member."),
    Flag("data-dir", "data_dir", _go_string, "${name}.etcd", MEMBER,
         "Path to the data directory."),
    Flag("snapshot-count", "snapshot_count", _go_uint, str(DEFAULT_SNAPSHOT_COUNT), MEMBER,
         "Number of committed transactions to trigger a snapshot to disk."),
    Flag("heartbeat-interval", "heartbeat_interval_ms", _go_uint, "100", MEMBER,
         "Time (in milliseconds) of a heartbeat interval."),
    Flag("election-timeout", "election_timeout_ms", _go_uint, "1000", MEMBER,
         "Time (in milliseconds) for an election to timeout."),
    Flag("listen-peer-urls", "listen_peer_urls", _url_list, DEFAULT_PEER_URL, MEMBER,
         "List of URLs to listen on for peer traffic.", empty_keeps_default=True),
    Flag("listen-client-urls", "listen_client_urls", _url_list, DEFAULT_CLIENT_URL, MEMBER,
         "List of URLs to listen on for client traffic.", empty_keeps_default=True),
    Flag("quota-backend-bytes", "quota_backend_bytes", _go_int64, "0", MEMBER,
         "Raise alarms when backend size exceeds the given quota (0 defaults to low space quota)."),
    Flag("max-txn-ops", "max_txn_ops", _go_uint, str(DEFAULT_MAX_TXN_OPS), MEMBER,
         "Maximum number of operations permitted in a transaction."),
    Flag("max-request-bytes", "max_request_bytes", _go_uint, str(DEFAULT_MAX_REQUEST_BYTES),
         MEMBER, "Maximum client request size in bytes the server will accept."),
    Flag("initial-advertise-peer-urls", "initial_advertise_peer_urls", _url_list,
         DEFAULT_PEER_URL, CLUSTERING,
         "List of this member's peer URLs to advertise to the rest of the cluster.",
         empty_keeps_default=True),
    Flag("initial-cluster", "initial_cluster", _go_string, DEFAULT_INITIAL_CLUSTER, CLUSTERING,
         "Initial cluster configuration for bootstrapping."),
    Flag("initial-cluster-state", "initial_cluster_state", _cluster_state, "new", CLUSTERING,
         "Initial cluster state ('new' or 'existing')."),
    Flag("initial-cluster-token", "initial_cluster_token", _go_string, DEFAULT_CLUSTER_TOKEN,
         CLUSTERING, "Initial cluster token for the etcd cluster during bootstrap."),
    Flag("advertise-client-urls", "advertise_client_urls", _url_list, DEFAULT_CLIENT_URL,
         CLUSTERING, "List of this member's client URLs to advertise to the public.",
         empty_keeps_default=True),
    Flag("auto-compaction-retention", "auto_compaction_retention", _go_string, "0", CLUSTERING,
         "Auto compaction retention length. 0 means disable auto compaction."),
    Flag("auto-compaction-mode", "auto_compaction_mode", _go_string, "periodic", CLUSTERING,
         "Interpret 'auto-compaction-retention' one of: periodic|revision. 'periodic' for "
         "duration based retention, defaulting to hours if no time unit is provided (e.g. "
         "'5m'). 'revision' for revision number based retention."),
    Flag("log-level", "log_level", _go_string, "info", LOGGING,
         "Configures log level. Only supports debug, info, warn, error, panic, or fatal."),
    Flag("experimental-enable-lease-checkpoint", "experimental_enable_lease_checkpoint",
         _go_bool, "true", EXPERIMENTAL,
         "Persist lease remaining TTLs through checkpoints so long-lived leases are not renewed "
         "by every leader change (on by default in etcd-node; etcd 3.4 defaults to false)."),
    Flag("listen-native-urls", "listen_native_urls", _url_list, "client URL ports + 10000", OURS,
         "List of URLs to listen on for etcd-node's native (cbor2 over TCP) client protocol.",
         empty_keeps_default=True),
    Flag("enable-fault-injection", "enable_fault_injection", _go_bool, "false", OURS,
         "Accept fault injection calls (isolate, drop, delay, pause) on the native port."),
    Flag("restore-from", "restore_from", _optional_path, "", OURS,
         "Path of a snapshot file to rebuild this member's data from."),
)  # fmt: skip
FLAGS_BY_NAME: dict[str, Flag] = {flag.name: flag for flag in FLAGS}


# --- the configuration --------------------------------------------------------------------------


def _default_peer_urls() -> list[str]:
    return [DEFAULT_PEER_URL]


def _default_client_urls() -> list[str]:
    return [DEFAULT_CLIENT_URL]


def _default_initial_cluster() -> dict[str, list[str]]:
    return {DEFAULT_NAME: [DEFAULT_PEER_URL]}


@dataclass(slots=True)
class ServerConfig:
    """One member's configuration, with etcd 3.4's defaults (and our lease checkpoint default on).

    URL lists hold URLs in Go's url.String() form, sorted as etcd sorts them; initial_cluster
    maps each member name to its sorted peer URLs in the order the flag named them.
    """

    name: str = DEFAULT_NAME
    data_dir: str = ""
    """Empty means `<name>.etcd`, as etcd."""
    listen_client_urls: list[str] = field(default_factory=_default_client_urls)
    advertise_client_urls: list[str] = field(default_factory=_default_client_urls)
    listen_peer_urls: list[str] = field(default_factory=_default_peer_urls)
    initial_advertise_peer_urls: list[str] = field(default_factory=_default_peer_urls)
    initial_cluster: dict[str, list[str]] = field(default_factory=_default_initial_cluster)
    initial_cluster_state: str = "new"
    initial_cluster_token: str = DEFAULT_CLUSTER_TOKEN
    heartbeat_interval_ms: int = 100
    election_timeout_ms: int = 1000
    snapshot_count: int = DEFAULT_SNAPSHOT_COUNT
    quota_backend_bytes: int = 0
    """0 means etcd's default quota (2 GiB); a negative value disables the quota, as etcd."""
    max_request_bytes: int = DEFAULT_MAX_REQUEST_BYTES
    max_txn_ops: int = DEFAULT_MAX_TXN_OPS
    auto_compaction_mode: str = "periodic"
    auto_compaction_retention: str = "0"
    """As etcd: "0" is off; periodic takes "1h", "30m" or a bare number of hours."""
    listen_native_urls: list[str] | None = None
    """None means each client URL with its port + 10000 (see native_urls)."""
    enable_fault_injection: bool = False
    log_level: str = "info"
    restore_from: str | None = None
    experimental_enable_lease_checkpoint: bool = True

    def __post_init__(self) -> None:
        if not self.data_dir:
            self.data_dir = f"{self.name}.etcd"

    # -- derived values --

    @property
    def heartbeat_ticks(self) -> int:
        """Ticks between leader heartbeats: one, the tick being the heartbeat interval (etcd)."""
        return 1

    @property
    def election_ticks(self) -> int:
        """Ticks before a follower campaigns: election timeout / heartbeat interval (etcd)."""
        return self.election_timeout_ms // self.heartbeat_interval_ms

    @property
    def is_new_cluster(self) -> bool:
        """True when this member bootstraps a new cluster (--initial-cluster-state new)."""
        return self.initial_cluster_state == "new"

    @property
    def backend_quota_bytes(self) -> int | None:
        """The backend size quota in bytes, or None when a negative flag disabled it (etcd)."""
        if self.quota_backend_bytes < 0:
            return None
        return self.quota_backend_bytes or DEFAULT_QUOTA_BACKEND_BYTES

    def compaction_retention(self) -> timedelta | int:
        """The retention as etcd reads it: a timedelta (periodic) or a revision count (revision).

        Zero means auto compaction is off. As etcd, revision mode counts a duration such as
        "5m" as that many nanoseconds of revisions.
        """
        text = self.auto_compaction_retention or "0"
        if re.fullmatch(r"[+-]?[0-9]+", text) and int(text) >= 0:
            if self.auto_compaction_mode == "revision":
                return int(text)
            nanoseconds = int(text) * _DURATION_UNITS_NS["h"]
        else:
            try:
                nanoseconds = parse_go_duration(text)
            except ConfigError as error:
                raise ConfigError(f"error parsing CompactionRetention: {error}") from None
            if self.auto_compaction_mode == "revision":
                return nanoseconds
        if nanoseconds > _MAX_INT64:
            raise ConfigError(
                f"error parsing CompactionRetention: time: invalid duration {_go_quote(text)}"
            )
        return timedelta(microseconds=nanoseconds // 1000)

    @property
    def native_urls(self) -> list[str]:
        """URLs our native client protocol listens on: the flag's, else client ports + 10000.

        A client port of 0 (any free port) stays 0.
        """
        if self.listen_native_urls is not None:
            return list(self.listen_native_urls)
        native = []
        for url in self.listen_client_urls:
            host, port = _bind_address(url)
            native_port = port + NATIVE_PORT_OFFSET if port else 0
            if native_port > _MAX_PORT:
                raise ConfigError(
                    f"--listen-client-urls has {url} whose native port {native_port} is above "
                    f"{_MAX_PORT}: set --listen-native-urls"
                )
            shown_host = f"[{host}]" if ":" in host else host
            native.append(f"{url.split('://', 1)[0]}://{shown_host}:{native_port}")
        return native

    @property
    def client_host_ports(self) -> list[tuple[str, int]]:
        """(host, port) pairs to bind for the gRPC client API; port 0 means any free port."""
        return [_bind_address(url) for url in self.listen_client_urls]

    @property
    def peer_host_ports(self) -> list[tuple[str, int]]:
        """(host, port) pairs to bind for peer traffic."""
        return [_bind_address(url) for url in self.listen_peer_urls]

    @property
    def native_host_ports(self) -> list[tuple[str, int]]:
        """(host, port) pairs to bind for the native client protocol."""
        return [_bind_address(url) for url in self.native_urls]

    def peer_urls_of(self, name: str) -> list[str]:
        """The peer URLs --initial-cluster gives member `name` (KeyError if it names no such)."""
        return list(self.initial_cluster[name])

    def member_id(self, name: str) -> int:
        """etcd's id for initial member `name`: sha1 of its sorted peer URLs + the cluster token.

        This is membership.NewMember without a time, as etcd bootstraps an initial cluster.
        """
        seed = "".join(sorted(self.initial_cluster[name])) + self.initial_cluster_token
        return int.from_bytes(hashlib.sha1(seed.encode()).digest()[:8], "big")

    @property
    def local_member_id(self) -> int:
        """This member's id in its initial cluster."""
        return self.member_id(self.name)

    @property
    def cluster_id(self) -> int:
        """etcd's cluster id of the initial cluster: sha1 of the sorted member ids (genID)."""
        member_ids = sorted(self.member_id(name) for name in self.initial_cluster)
        seed = b"".join(member_id.to_bytes(8, "big") for member_id in member_ids)
        return int.from_bytes(hashlib.sha1(seed).digest()[:8], "big")

    # -- checks --

    def validate(self) -> None:
        """etcd's flag verification and data-dir checks, in etcd's order; raises ConfigError."""
        if self.log_level not in LOG_LEVELS:
            raise ConfigError(f"unknown level {_go_quote(self.log_level)}")
        self._check_urls_parse()
        for urls in (self.listen_peer_urls, self.listen_client_urls, self.native_urls):
            _check_bind_urls(urls)
        self._check_plain_http_listeners()
        _check_host_urls("--initial-advertise-peer-urls", self.initial_advertise_peer_urls)
        _check_host_urls("--advertise-client-urls", self.advertise_client_urls)
        if self.initial_cluster_state not in CLUSTER_STATES:
            raise ConfigError(f"unexpected clusterState {_go_quote(self.initial_cluster_state)}")
        self._check_timing()
        if self.listen_client_urls and not self.advertise_client_urls:
            raise ConfigError(
                "--advertise-client-urls is required when --listen-client-urls is set explicitly"
            )
        if self.auto_compaction_mode not in COMPACTION_MODES:
            raise ConfigError(
                f"unknown auto-compaction-mode {_go_quote(self.auto_compaction_mode)}"
            )
        self._check_data_dir()
        self.compaction_retention()
        if self.restore_from is not None and not os.path.isfile(self.restore_from):
            raise ConfigError(f"--restore-from={self.restore_from}: no such snapshot file")

    def verify_initial_cluster(self) -> None:
        """etcd's VerifyBootstrap (state new) or VerifyJoinExisting (state existing).

        etcd runs these only for a member that has no data yet: a member restarting from its
        WAL ignores the initial cluster flags.
        """
        if self.name not in self.initial_cluster:
            raise ConfigError(
                f"couldn't find local name {_go_quote(self.name)} in the initial cluster "
                "configuration"
            )
        if self.is_new_cluster:
            self._check_advertise_matches_cluster()
        seen: set[str] = set()
        for urls in self.initial_cluster.values():
            for url in urls:
                if url in seen:
                    cluster = _urls_map_string(self.initial_cluster)
                    raise ConfigError(f"initial cluster {cluster} has duplicate url")
                seen.add(url)

    def _check_urls_parse(self) -> None:
        """Programmatic configs get the URL checks the flag parser applies."""
        lists = (
            self.listen_client_urls,
            self.advertise_client_urls,
            self.listen_peer_urls,
            self.initial_advertise_peer_urls,
            self.listen_native_urls or [],
            *self.initial_cluster.values(),
        )
        for urls in lists:
            for url in urls:
                try:
                    parse_url(url)
                except FlagValueError as error:
                    raise ConfigError(str(error)) from None

    def _check_plain_http_listeners(self) -> None:
        listeners = (
            ("--listen-client-urls", self.listen_client_urls),
            ("--listen-peer-urls", self.listen_peer_urls),
            ("--listen-native-urls", self.native_urls),
        )
        for flag, urls in listeners:
            for url in urls:
                scheme = url.split("://", 1)[0]
                if scheme in ("https", "unixs"):
                    raise ConfigError(
                        f"{flag} has {url} but etcd-node does not support TLS: use http://"
                    )
                if scheme == "unix":
                    raise ConfigError(
                        f"{flag} has {url} but etcd-node does not support unix sockets: use http://"
                    )

    def _check_timing(self) -> None:
        heartbeat, election = self.heartbeat_interval_ms, self.election_timeout_ms
        if heartbeat <= 0:
            raise ConfigError(f"--heartbeat-interval must be >0 (set to {heartbeat}ms)")
        if election <= 0:
            raise ConfigError(f"--election-timeout must be >0 (set to {election}ms)")
        if 5 * heartbeat > election:
            raise ConfigError(
                f"--election-timeout[{election}ms] should be at least as 5 times as "
                f"--heartbeat-interval[{heartbeat}ms]"
            )
        if election > MAX_ELECTION_MS:
            raise ConfigError(
                f"--election-timeout[{election}ms] is too long, and should be set less than "
                f"{MAX_ELECTION_MS}ms"
            )

    def _check_data_dir(self) -> None:
        """etcd's data-dir listing and writability checks; a missing dir is created later."""
        if not os.path.exists(self.data_dir):
            return
        try:
            os.listdir(self.data_dir)
        except OSError:
            raise ConfigError(f"error listing data dir: {self.data_dir}") from None
        touch = os.path.join(self.data_dir, ".touch")
        try:
            os.close(os.open(touch, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600))
        except OSError as error:
            raise ConfigError(
                f"cannot access data directory: open {touch}: {_go_errno_text(error)}"
            ) from None
        try:
            os.remove(touch)
        except OSError as error:
            raise ConfigError(
                f"cannot access data directory: remove {touch}: {_go_errno_text(error)}"
            ) from None

    def _check_advertise_matches_cluster(self) -> None:
        """etcd's advertiseMatchesCluster: the advertised peer URLs are this member's."""
        advertised = sorted(self.initial_advertise_peer_urls)
        listed = sorted(self.initial_cluster[self.name])
        reason = _urls_equal(advertised, listed)
        if reason is None:
            return
        advertised_text = ",".join(advertised)
        as_cluster = _urls_map_string({self.name: advertised})
        missing = [url for url in dict.fromkeys(listed) if url not in advertised]
        if missing:
            named = ",".join(f"{self.name}={url}" for url in missing)
            raise ConfigError(
                f"--initial-cluster has {named} but missing from "
                f"--initial-advertise-peer-urls={advertised_text} ({reason})"
            )
        missing = [url for url in dict.fromkeys(advertised) if url not in listed]
        if missing:
            raise ConfigError(
                f"--initial-advertise-peer-urls has {','.join(missing)} but missing from "
                f"--initial-cluster={as_cluster}"
            )
        raise ConfigError(
            f"failed to resolve {advertised_text} to match --initial-cluster={as_cluster} "
            f"({reason})"
        )


def _go_errno_text(error: OSError) -> str:
    """An errno's text as Go prints it (lower case)."""
    text = error.strerror or str(error)
    return text[:1].lower() + text[1:]


def _check_bind_urls(urls: list[str]) -> None:
    """etcd's checkBindURLs: a listener host must be an IP address or localhost."""
    for url in urls:
        if url.split("://", 1)[0] in ("unix", "unixs"):
            continue
        host, _ = _url_host_port(url)
        if host != "localhost" and not _is_ip(host):
            raise ConfigError(f"expected IP in URL for binding ({url})")


def _check_host_urls(flag: str, urls: list[str]) -> None:
    """etcd's checkHostURLs: an advertised URL must name a host."""
    for url in urls:
        host, _ = _url_host_port(url)
        if not host:
            raise ConfigError(
                f'{flag} {_go_quote(",".join(urls))} must be "host:port" '
                f"(unexpected empty host ({url}))"
            )


# --- loading from flags and the environment -----------------------------------------------------


def _flag_value_error(flag: Flag, raw: str, source: str | None, reason: str) -> ConfigError:
    """Go's flag package texts for a bad value, or etcd's for a bad environment variable."""
    if source is not None:
        return ConfigError(f"invalid value {_go_quote(raw)} for {source}: {reason}")
    if flag.is_bool:
        return ConfigError(f"invalid boolean value {_go_quote(raw)} for -{flag.name}: {reason}")
    return ConfigError(f"invalid value {_go_quote(raw)} for flag -{flag.name}: {reason}")


def load_config(flags: Mapping[str, str], environ: Mapping[str, str] | None = None) -> ServerConfig:
    """A checked ServerConfig from the flags given (name -> text) and ETCD_* variables.

    As etcd: a variable counts for a flag not on the command line (an empty one is ignored),
    --name alone names the default initial cluster after the member, and --listen-client-urls
    without --advertise-client-urls is refused. Unlike etcd 3.4, which refuses to start when a
    flag and its variable are both set, the flag wins.
    """
    environ = os.environ if environ is None else environ
    for name in flags:
        if name not in FLAGS_BY_NAME:
            raise ConfigError(f"flag provided but not defined: -{name}")
    given: set[str] = set()
    settings: dict[str, Any] = {}
    for flag in FLAGS:
        if flag.name in flags:
            raw, source = flags[flag.name], None
        elif environ.get(flag.env_var):
            raw, source = environ[flag.env_var], flag.env_var
        else:
            continue
        given.add(flag.name)
        if raw == "" and flag.empty_keeps_default:
            continue
        try:
            settings[flag.field] = flag.parse(raw)
        except FlagValueError as error:
            raise _flag_value_error(flag, raw, source, str(error)) from None
    name = settings.get("name", DEFAULT_NAME)
    cluster_text = settings.pop("initial_cluster", DEFAULT_INITIAL_CLUSTER)
    if name != DEFAULT_NAME and cluster_text == DEFAULT_INITIAL_CLUSTER:
        advertised = settings.get("initial_advertise_peer_urls", _default_peer_urls())
        settings["initial_cluster"] = {name or DEFAULT_NAME: list(advertised)}
    else:
        settings["initial_cluster"] = parse_initial_cluster(cluster_text)
    if "listen-client-urls" in given and "advertise-client-urls" not in given:
        settings["advertise_client_urls"] = []
    config = ServerConfig(**settings)
    config.validate()
    return config
