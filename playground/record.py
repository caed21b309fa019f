"""The playground's record file, `playground.json`: every member's flags, ports, pid and id.

Any process can attach to a playground through it; it is replaced atomically on every change.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass, field
from pathlib import Path

from playground.certificates import CERTS_DIRECTORY, CertificateFiles
from playground.errors import PlaygroundError
from playground.faults import Faults
from playground.ports import LOOPBACK

PLAYGROUND_FILE = "playground.json"
_FORMAT_VERSION = 1


def scheme(tls: bool) -> str:
    """The URL scheme of a playground's members."""
    return "https" if tls else "http"


@dataclass(slots=True)
class MemberRecord:
    """One member as playground.json records it: how it is started and where it listens."""

    name: str
    data_dir: str
    client_port: int
    peer_port: int
    native_port: int
    args: list[str]
    """The etcd-node flags it is (re)started with."""
    pid: int = 0
    id: int = 0
    """Its member id, known once it answered a status call or MemberAdd named it."""
    learner: bool = False
    tls: bool = False
    """It serves clients and peers over mutual TLS (https URLs, the playground's certs)."""

    @property
    def client_url(self) -> str:
        """Its etcd v3 gRPC URL (what etcdctl's --endpoints takes)."""
        return f"{scheme(self.tls)}://{LOOPBACK}:{self.client_port}"

    @property
    def peer_url(self) -> str:
        """Its peer URL, as the cluster's membership knows it."""
        return f"{scheme(self.tls)}://{LOOPBACK}:{self.peer_port}"

    @property
    def native_endpoint(self) -> str:
        """Its native protocol endpoint (what node.client connects to)."""
        return f"{LOOPBACK}:{self.native_port}"


@dataclass(slots=True)
class PlaygroundRecord:
    """Everything playground.json holds: the cluster's settings, its members, its faults."""

    token: str
    running: bool
    heartbeat_interval_ms: int
    election_timeout_ms: int
    members: dict[str, MemberRecord] = field(default_factory=dict)
    faults: Faults = field(default_factory=Faults)
    tls: bool = False
    """Started with --tls: mutual TLS everywhere, certificates in <dir>/certs."""
    auth: bool = False
    """Started with --auth: auth on, root being whoever holds the client certificate."""

    @classmethod
    def load(cls, path: Path) -> PlaygroundRecord:
        """The record in `path`; PlaygroundError if it is missing or not a playground record."""
        try:
            recorded = json.loads(path.read_text())
            return cls(
                token=recorded["token"],
                running=recorded["state"] == "running",
                heartbeat_interval_ms=recorded["heartbeat_interval_ms"],
                election_timeout_ms=recorded["election_timeout_ms"],
                members={member["name"]: MemberRecord(**member) for member in recorded["members"]},
                faults=Faults(**recorded["faults"]),
                tls=bool(recorded.get("tls", False)),
                auth=bool(recorded.get("auth", False)),
            )
        except (OSError, ValueError, KeyError, TypeError) as error:
            raise PlaygroundError(f"{path} is not a playground record ({error})") from None

    def save(self, path: Path) -> None:
        """Write the record to `path` at once: a reader sees the old one or the new one."""
        recorded = {
            "version": _FORMAT_VERSION,
            "state": "running" if self.running else "stopped",
            "token": self.token,
            "heartbeat_interval_ms": self.heartbeat_interval_ms,
            "election_timeout_ms": self.election_timeout_ms,
            "members": [asdict(member) for member in self.members.values()],
            "faults": asdict(self.faults),
            "tls": self.tls,
            "auth": self.auth,
        }
        partial = path.with_suffix(".json.partial")
        partial.write_text(json.dumps(recorded, indent=2) + "\n")
        partial.replace(path)


def new_member_record(
    directory: Path,
    name: str,
    ports: tuple[int, int, int],
    initial_cluster: str,
    state: str,
    settings: PlaygroundRecord,
) -> MemberRecord:
    """The record of a member `name` of the playground in `directory` on (client, peer, native)
    `ports`, with the etcd-node flags that start it in a cluster of `state` (new or existing)."""
    client, peer, native = ports
    data_dir = str(directory / name)
    url = scheme(settings.tls)
    client_url, peer_url = f"{url}://{LOOPBACK}:{client}", f"{url}://{LOOPBACK}:{peer}"
    args = [
        "--name", name,
        "--data-dir", data_dir,
        "--listen-client-urls", client_url,
        "--advertise-client-urls", client_url,
        "--listen-peer-urls", peer_url,
        "--initial-advertise-peer-urls", peer_url,
        "--listen-native-urls", f"{url}://{LOOPBACK}:{native}",
        "--initial-cluster", initial_cluster,
        "--initial-cluster-state", state,
        "--initial-cluster-token", settings.token,
        "--heartbeat-interval", str(settings.heartbeat_interval_ms),
        "--election-timeout", str(settings.election_timeout_ms),
        "--enable-fault-injection",
    ]  # fmt: skip
    if settings.tls:
        args.extend(CertificateFiles.in_directory(directory / CERTS_DIRECTORY).member_flags())
    return MemberRecord(name, data_dir, client, peer, native, args, tls=settings.tls)
