"""etcd-node's configuration: etcd 3.4's flags, defaults, checks and derived identities.

The flags keep etcd's names, value syntax, defaults and error texts, so that a command line
that starts etcd 3.4 starts a member of ours; a few flags of our own are marked as such. Member
and cluster ids are derived exactly as etcd derives them for an initial cluster, so the same
flags give the same ids as a real etcd.
"""

from __future__ import annotations

import hashlib
import os
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import timedelta
from typing import Any

from node.messages.native_protocol import NATIVE_PORT_OFFSET
from node.server.auth_store import DEFAULT_BCRYPT_COST
from node.server.auth_tokens import TokenConfigError, token_provider
from node.server.flag_values import (
    DURATION_UNITS_NS,
    MAX_INT64,
    MAX_PORT,
    ConfigError,
    FlagValueError,
    bind_address,
    go_bool,
    go_int64,
    go_quote,
    go_string,
    go_uint,
    is_ip,
    optional_path,
    parse_go_duration,
    parse_initial_cluster,
    parse_url,
    url_host_port,
    url_list,
    urls_equal,
    urls_map_string,
)
from node.transport.tls import TlsInfo

DEFAULT_NAME = "default"
DEFAULT_PEER_URL = "http://localhost:2380"
DEFAULT_CLIENT_URL = "http://localhost:2379"
DEFAULT_INITIAL_CLUSTER = f"{DEFAULT_NAME}={DEFAULT_PEER_URL}"
DEFAULT_CLUSTER_TOKEN = "etcd-cluster"
DEFAULT_SNAPSHOT_COUNT = 100_000
DEFAULT_QUOTA_BACKEND_BYTES = 2 * 1024 * 1024 * 1024
DEFAULT_MAX_REQUEST_BYTES = 1_572_864
DEFAULT_MAX_TXN_OPS = 128
DEFAULT_BACKEND_BATCH_INTERVAL_NS = 100_000_000
DEFAULT_BACKEND_BATCH_LIMIT = 10_000
"""etcd 3.4's defaults for --backend-batch-interval (100 ms) and --backend-batch-limit."""
MAX_ELECTION_MS = 50_000

CLUSTER_STATES = ("new", "existing")
COMPACTION_MODES = ("periodic", "revision")
LOG_LEVELS = ("debug", "info", "warn", "error", "panic", "fatal")
ENV_PREFIX = "ETCD"


def _go_duration_flag(raw: str) -> int:
    """A time.Duration flag in nanoseconds, with the Go flag package's complaint."""
    try:
        return parse_go_duration(raw)
    except ConfigError:
        raise FlagValueError("parse error") from None


def _cluster_state(raw: str) -> str:
    if raw not in CLUSTER_STATES:
        raise FlagValueError("invalid value")
    return raw


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
        return self.parse is go_bool

    @property
    def env_var(self) -> str:
        """The environment variable etcd reads for this flag: ETCD_ and the name in upper snake."""
        return f"{ENV_PREFIX}_{self.name.upper().replace('-', '_')}"


MEMBER, CLUSTERING, SECURITY, AUTH, LOGGING, EXPERIMENTAL, OURS = (
    "Member",
    "Clustering",
    "Security",
    "Auth",
    "Logging",
    "Experimental feature",
    "etcd-node",
)
SECTIONS = (MEMBER, CLUSTERING, SECURITY, AUTH, LOGGING, EXPERIMENTAL, OURS)

FLAGS: tuple[Flag, ...] = (
    Flag("name", "name", go_string, DEFAULT_NAME, MEMBER,
         "Human-readable name for this member."),
    Flag("data-dir", "data_dir", go_string, "${name}.etcd", MEMBER,
         "Path to the data directory."),
    Flag("snapshot-count", "snapshot_count", go_uint, str(DEFAULT_SNAPSHOT_COUNT), MEMBER,
         "Number of committed transactions to trigger a snapshot to disk."),
    Flag("heartbeat-interval", "heartbeat_interval_ms", go_uint, "100", MEMBER,
         "Time (in milliseconds) of a heartbeat interval."),
    Flag("election-timeout", "election_timeout_ms", go_uint, "1000", MEMBER,
         "Time (in milliseconds) for an election to timeout."),
    Flag("listen-peer-urls", "listen_peer_urls", url_list, DEFAULT_PEER_URL, MEMBER,
         "List of URLs to listen on for peer traffic.", empty_keeps_default=True),
    Flag("listen-client-urls", "listen_client_urls", url_list, DEFAULT_CLIENT_URL, MEMBER,
         "List of URLs to listen on for client traffic.", empty_keeps_default=True),
    Flag("listen-metrics-urls", "listen_metrics_urls", url_list, "", MEMBER,
         "List of URLs to listen on for the metrics and health endpoints.",
         empty_keeps_default=True),
    Flag("quota-backend-bytes", "quota_backend_bytes", go_int64, "0", MEMBER,
         "Raise alarms when backend size exceeds the given quota (0 defaults to low space quota)."),
    Flag("backend-batch-interval", "backend_batch_interval_ns", _go_duration_flag, "", MEMBER,
         "BackendBatchInterval is the maximum time before commit the backend transaction."),
    Flag("backend-batch-limit", "backend_batch_limit", go_int64, "0", MEMBER,
         "BackendBatchLimit is the maximum operations before commit the backend transaction."),
    Flag("max-txn-ops", "max_txn_ops", go_uint, str(DEFAULT_MAX_TXN_OPS), MEMBER,
         "Maximum number of operations permitted in a transaction."),
    Flag("max-request-bytes", "max_request_bytes", go_uint, str(DEFAULT_MAX_REQUEST_BYTES),
         MEMBER, "Maximum client request size in bytes the server will accept."),
    Flag("initial-advertise-peer-urls", "initial_advertise_peer_urls", url_list,
         DEFAULT_PEER_URL, CLUSTERING,
         "List of this member's peer URLs to advertise to the rest of the cluster.",
         empty_keeps_default=True),
    Flag("initial-cluster", "initial_cluster", go_string, DEFAULT_INITIAL_CLUSTER, CLUSTERING,
         "Initial cluster configuration for bootstrapping."),
    Flag("initial-cluster-state", "initial_cluster_state", _cluster_state, "new", CLUSTERING,
         "Initial cluster state ('new' or 'existing')."),
    Flag("initial-cluster-token", "initial_cluster_token", go_string, DEFAULT_CLUSTER_TOKEN,
         CLUSTERING, "Initial cluster token for the etcd cluster during bootstrap."),
    Flag("advertise-client-urls", "advertise_client_urls", url_list, DEFAULT_CLIENT_URL,
         CLUSTERING, "List of this member's client URLs to advertise to the public.",
         empty_keeps_default=True),
    Flag("auto-compaction-retention", "auto_compaction_retention", go_string, "0", CLUSTERING,
         "Auto compaction retention length. 0 means disable auto compaction."),
    Flag("auto-compaction-mode", "auto_compaction_mode", go_string, "periodic", CLUSTERING,
         "Interpret 'auto-compaction-retention' one of: periodic|revision. 'periodic' for "
         "duration based retention, defaulting to hours if no time unit is provided (e.g. "
         "'5m'). 'revision' for revision number based retention."),
    Flag("pre-vote", "pre_vote", go_bool, "true", CLUSTERING,
         "Enable to run an additional Raft election phase (on by default in etcd-node, as in "
         "etcd 3.5; etcd 3.4 defaults to false)."),
    Flag("cert-file", "cert_file", go_string, "", SECURITY,
         "Path to the client server TLS cert file."),
    Flag("key-file", "key_file", go_string, "", SECURITY,
         "Path to the client server TLS key file."),
    Flag("client-cert-auth", "client_cert_auth", go_bool, "false", SECURITY,
         "Enable client cert authentication."),
    Flag("trusted-ca-file", "trusted_ca_file", go_string, "", SECURITY,
         "Path to the client server TLS trusted CA cert file."),
    Flag("auto-tls", "auto_tls", go_bool, "false", SECURITY,
         "Client TLS using generated certificates"),
    Flag("peer-cert-file", "peer_cert_file", go_string, "", SECURITY,
         "Path to the peer server TLS cert file."),
    Flag("peer-key-file", "peer_key_file", go_string, "", SECURITY,
         "Path to the peer server TLS key file."),
    Flag("peer-client-cert-auth", "peer_client_cert_auth", go_bool, "false", SECURITY,
         "Enable peer client cert authentication."),
    Flag("peer-trusted-ca-file", "peer_trusted_ca_file", go_string, "", SECURITY,
         "Path to the peer server TLS trusted CA file."),
    Flag("peer-auto-tls", "peer_auto_tls", go_bool, "false", SECURITY,
         "Peer TLS using generated certificates"),
    Flag("auth-token", "auth_token", go_string, "simple", AUTH,
         "Specify a v3 authentication token type and its options ('simple' or 'jwt')."),
    Flag("bcrypt-cost", "bcrypt_cost", go_uint, "10", AUTH,
         "Specify the cost / strength of the bcrypt algorithm for hashing auth passwords. "
         "Valid values are between 4 and 31."),
    Flag("auth-token-ttl", "auth_token_ttl", go_uint, "300", AUTH,
         "Time (in seconds) of the auth-token-ttl."),
    Flag("log-level", "log_level", go_string, "info", LOGGING,
         "Configures log level. Only supports debug, info, warn, error, panic, or fatal."),
    Flag("experimental-enable-lease-checkpoint", "experimental_enable_lease_checkpoint",
         go_bool, "true", EXPERIMENTAL,
         "Persist lease remaining TTLs through checkpoints so long-lived leases are not renewed "
         "by every leader change (on by default in etcd-node; etcd 3.4 defaults to false)."),
    Flag("listen-native-urls", "listen_native_urls", url_list, "client URL ports + 10000", OURS,
         "List of URLs to listen on for etcd-node's native (cbor2 over TCP) client protocol.",
         empty_keeps_default=True),
    Flag("client-port-http", "client_port_http", go_bool, "true", OURS,
         "Serve HTTP/1.1 (health, version, metrics, the JSON gateway) beside gRPC on the "
         "client URLs, as etcd does; false leaves the client port to gRPC alone."),
    Flag("enable-fault-injection", "enable_fault_injection", go_bool, "false", OURS,
         "Accept fault injection calls (isolate, drop, delay, pause) on the native port."),
    Flag("restore-from", "restore_from", optional_path, "", OURS,
         "Path of a snapshot file to rebuild this member's data from."),
    Flag("restore-skip-hash-check", "restore_skip_hash_check", go_bool, "false", OURS,
         "Ignore the --restore-from file's sha256 integrity hash, as etcdctl snapshot restore "
         "--skip-hash-check (for a db file copied from a data dir, which has none)."),
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
    backend_batch_interval_ns: int = 0
    """0 means etcd's default, 100 ms."""
    backend_batch_limit: int = 0
    """0 means etcd's default, 10,000 writes; below 0 every apply batch commits."""
    auto_compaction_mode: str = "periodic"
    auto_compaction_retention: str = "0"
    """As etcd: "0" is off; periodic takes "1h", "30m" or a bare number of hours."""
    listen_metrics_urls: list[str] = field(default_factory=list)
    """Where /metrics and the health endpoints are also served (etcd's flag); none by default."""
    client_port_http: bool = True
    """HTTP shares the client port with gRPC (false: gRPC alone binds it)."""
    listen_native_urls: list[str] | None = None
    """None means each client URL with its port + 10000 (see native_urls)."""
    enable_fault_injection: bool = False
    cert_file: str = ""
    key_file: str = ""
    client_cert_auth: bool = False
    trusted_ca_file: str = ""
    auto_tls: bool = False
    peer_cert_file: str = ""
    peer_key_file: str = ""
    peer_client_cert_auth: bool = False
    peer_trusted_ca_file: str = ""
    peer_auto_tls: bool = False
    log_level: str = "info"
    restore_from: str | None = None
    restore_skip_hash_check: bool = False
    experimental_enable_lease_checkpoint: bool = True
    pre_vote: bool = True
    auth_token: str = "simple"
    """etcd's --auth-token: `simple`, or `jwt,pub-key=...,priv-key=...,sign-method=...`."""
    bcrypt_cost: int = 10
    auth_token_ttl: int = 300

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
    def backend_batch_interval(self) -> float:
        """Seconds the backend's pending writes may wait before a commit (etcd's 100 ms for 0)."""
        return (self.backend_batch_interval_ns or DEFAULT_BACKEND_BATCH_INTERVAL_NS) / 1e9

    @property
    def backend_writes_per_commit(self) -> int:
        """Writes the backend's pending transaction may hold before it commits (at least 1)."""
        return max(self.backend_batch_limit or DEFAULT_BACKEND_BATCH_LIMIT, 1)

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
            nanoseconds = int(text) * DURATION_UNITS_NS["h"]
        else:
            try:
                nanoseconds = parse_go_duration(text)
            except ConfigError as error:
                raise ConfigError(f"error parsing CompactionRetention: {error}") from None
            if self.auto_compaction_mode == "revision":
                return nanoseconds
        if nanoseconds > MAX_INT64:
            raise ConfigError(
                f"error parsing CompactionRetention: time: invalid duration {go_quote(text)}"
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
            host, port = bind_address(url)
            native_port = port + NATIVE_PORT_OFFSET if port else 0
            if native_port > MAX_PORT:
                raise ConfigError(
                    f"--listen-client-urls has {url} whose native port {native_port} is above "
                    f"{MAX_PORT}: set --listen-native-urls"
                )
            shown_host = f"[{host}]" if ":" in host else host
            native.append(f"{url.split('://', 1)[0]}://{shown_host}:{native_port}")
        return native

    @property
    def client_host_ports(self) -> list[tuple[str, int]]:
        """(host, port) pairs to bind for the gRPC client API; port 0 means any free port."""
        return [bind_address(url) for url in self.listen_client_urls]

    @property
    def metrics_host_ports(self) -> list[tuple[str, int]]:
        """(host, port) pairs to bind for --listen-metrics-urls."""
        return [bind_address(url) for url in self.listen_metrics_urls]

    @property
    def peer_host_ports(self) -> list[tuple[str, int]]:
        """(host, port) pairs to bind for peer traffic."""
        return [bind_address(url) for url in self.listen_peer_urls]

    @property
    def native_host_ports(self) -> list[tuple[str, int]]:
        """(host, port) pairs to bind for the native client protocol."""
        return [bind_address(url) for url in self.native_urls]

    def client_tls(self) -> TlsInfo | None:
        """The client doors' TLS when the client URLs are https (None: plaintext); with
        --auto-tls and no certificate given, a self-signed one in <data-dir>/fixtures/client."""
        if not _any_https(self.listen_client_urls):
            return None
        given = TlsInfo(self.cert_file, self.key_file, self.trusted_ca_file, self.client_cert_auth)
        if self.auto_tls and given.empty:
            from node.transport.self_signed import self_signed_tls  # cryptography: only here

            hosts = [bind_address(url)[0] for url in self.listen_client_urls]
            directory = os.path.join(self.data_dir, "fixtures", "client")
            return self_signed_tls(directory, hosts, self.client_cert_auth)
        return given

    def peer_tls(self) -> TlsInfo | None:
        """The peer transport's TLS when the peer URLs are https (None: plaintext), as
        client_tls with the --peer-* flags and <data-dir>/fixtures/peer."""
        if not _any_https([*self.listen_peer_urls, *self.initial_advertise_peer_urls]):
            return None
        given = TlsInfo(
            self.peer_cert_file,
            self.peer_key_file,
            self.peer_trusted_ca_file,
            self.peer_client_cert_auth,
        )
        if self.peer_auto_tls and given.empty:
            from node.transport.self_signed import self_signed_tls  # cryptography: only here

            hosts = [bind_address(url)[0] for url in self.listen_peer_urls]
            directory = os.path.join(self.data_dir, "fixtures", "peer")
            return self_signed_tls(directory, hosts, self.peer_client_cert_auth)
        return given

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
            raise ConfigError(f"unknown level {go_quote(self.log_level)}")
        self._check_urls_parse()
        for urls in (
            self.listen_peer_urls,
            self.listen_client_urls,
            self.native_urls,
            self.listen_metrics_urls,
        ):
            _check_bind_urls(urls)
        self._check_tls_listeners()
        _check_host_urls("--initial-advertise-peer-urls", self.initial_advertise_peer_urls)
        _check_host_urls("--advertise-client-urls", self.advertise_client_urls)
        if self.initial_cluster_state not in CLUSTER_STATES:
            raise ConfigError(f"unexpected clusterState {go_quote(self.initial_cluster_state)}")
        self._check_timing()
        if self.listen_client_urls and not self.advertise_client_urls:
            raise ConfigError(
                "--advertise-client-urls is required when --listen-client-urls is set explicitly"
            )
        if self.auto_compaction_mode not in COMPACTION_MODES:
            raise ConfigError(f"unknown auto-compaction-mode {go_quote(self.auto_compaction_mode)}")
        self._check_data_dir()
        self.compaction_retention()
        if self.restore_from is not None and not os.path.isfile(self.restore_from):
            raise ConfigError(f"--restore-from={self.restore_from}: no such snapshot file")
        try:
            token_provider(self.auth_token, self.auth_token_ttl)
        except TokenConfigError as exc:
            raise ConfigError(str(exc)) from None

    @property
    def password_cost(self) -> int:
        """The bcrypt cost: --bcrypt-cost, or etcd's default when outside [4, 31] (as etcd)."""
        return self.bcrypt_cost if 4 <= self.bcrypt_cost <= 31 else DEFAULT_BCRYPT_COST

    def verify_initial_cluster(self) -> None:
        """etcd's VerifyBootstrap (state new) or VerifyJoinExisting (state existing).

        etcd runs these only for a member that has no data yet: a member restarting from its
        WAL ignores the initial cluster flags.
        """
        if self.name not in self.initial_cluster:
            raise ConfigError(
                f"couldn't find local name {go_quote(self.name)} in the initial cluster "
                "configuration"
            )
        if self.is_new_cluster:
            self._check_advertise_matches_cluster()
        seen: set[str] = set()
        for urls in self.initial_cluster.values():
            for url in urls:
                if url in seen:
                    cluster = urls_map_string(self.initial_cluster)
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
            self.listen_metrics_urls,
            *self.initial_cluster.values(),
        )
        for urls in lists:
            for url in urls:
                try:
                    parse_url(url)
                except FlagValueError as error:
                    raise ConfigError(str(error)) from None

    def _check_tls_listeners(self) -> None:
        """etcd's refusal of an https URL without a certificate, and our own of unix sockets
        and of a metrics URL over TLS (which etcd-node does not serve)."""
        client_has_cert = bool(self.cert_file and self.key_file) or self.auto_tls
        peer_has_cert = bool(self.peer_cert_file and self.peer_key_file) or self.peer_auto_tls
        for url in self.listen_client_urls:
            if url.startswith("https://") and not client_has_cert:
                raise ConfigError(
                    f"TLS key/cert (--cert-file, --key-file) must be provided for client url "
                    f"{url} with HTTPS scheme"
                )
        for url in self.listen_peer_urls:
            if url.startswith("https://") and not peer_has_cert:
                host, port = url_host_port(url)
                raise ConfigError(
                    f"cannot listen on TLS for {host}:{port}: KeyFile and CertFile are not "
                    "presented"
                )
        listeners = (
            ("--listen-client-urls", self.listen_client_urls),
            ("--listen-peer-urls", self.listen_peer_urls),
            ("--listen-native-urls", self.native_urls),
            ("--listen-metrics-urls", self.listen_metrics_urls),
        )
        for flag, urls in listeners:
            for url in urls:
                scheme = url.split("://", 1)[0]
                if scheme == "unixs" or (scheme == "https" and flag == "--listen-metrics-urls"):
                    raise ConfigError(
                        f"{flag} has {url} but etcd-node does not support TLS there: use http://"
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
        if self.backend_batch_interval_ns < 0:  # etcd's ticker would panic on it
            raise ConfigError(
                f"--backend-batch-interval must be >0 (set to "
                f"{self.backend_batch_interval_ns // 1_000_000}ms)"
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
        reason = urls_equal(advertised, listed)
        if reason is None:
            return
        advertised_text = ",".join(advertised)
        as_cluster = urls_map_string({self.name: advertised})
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


def _any_https(urls: list[str]) -> bool:
    return any(url.startswith("https://") for url in urls)


def _go_errno_text(error: OSError) -> str:
    """An errno's text as Go prints it (lower case)."""
    text = error.strerror or str(error)
    return text[:1].lower() + text[1:]


def _check_bind_urls(urls: list[str]) -> None:
    """etcd's checkBindURLs: a listener host must be an IP address or localhost."""
    for url in urls:
        if url.split("://", 1)[0] in ("unix", "unixs"):
            continue
        host, _ = url_host_port(url)
        if host != "localhost" and not is_ip(host):
            raise ConfigError(f"expected IP in URL for binding ({url})")


def _check_host_urls(flag: str, urls: list[str]) -> None:
    """etcd's checkHostURLs: an advertised URL must name a host."""
    for url in urls:
        host, _ = url_host_port(url)
        if not host:
            raise ConfigError(
                f'{flag} {go_quote(",".join(urls))} must be "host:port" '
                f"(unexpected empty host ({url}))"
            )


# --- loading from flags and the environment -----------------------------------------------------


def _flag_value_error(flag: Flag, raw: str, source: str | None, reason: str) -> ConfigError:
    """Go's flag package texts for a bad value, or etcd's for a bad environment variable."""
    if source is not None:
        return ConfigError(f"invalid value {go_quote(raw)} for {source}: {reason}")
    if flag.is_bool:
        return ConfigError(f"invalid boolean value {go_quote(raw)} for -{flag.name}: {reason}")
    return ConfigError(f"invalid value {go_quote(raw)} for flag -{flag.name}: {reason}")


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
