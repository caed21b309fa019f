"""The member the fuzz tests attack: a real member process, its doors' addresses, the case
budget, and the checks run after every batch of hostile input.

A batch is one hypothesis test. After it the member must still be running, serve a put and
a get from a well-behaved gRPC client, and have logged no traceback (a door that meets an
exception it did not expect logs one, even when it answers). The budget is small in the suite
and set by FUZZ_EXAMPLES for a soak run (`FUZZ_EXAMPLES=2000 pytest tests/fuzz`).
"""

from __future__ import annotations

import os
import time
from collections import Counter
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import grpc
from hypothesis import HealthCheck, settings

from node.messages.gen.etcdserverpb import rpc_pb2, rpc_pb2_grpc
from tests.compat.cluster import PORT_SIDECAR_OFFSET, MemberProcess, ProcessCluster

SUITE_EXAMPLES = 25
STARTUP_S = 120.0
CALL_TIMEOUT_S = 10.0
"""A call the member should answer at once; waiting longer is a hang."""

CASES: Counter[str] = Counter()
"""Cases sent to each door in this run, printed at the end of the session (pytest -s)."""


def examples(suite: int = SUITE_EXAMPLES) -> int:
    """Cases per hypothesis test: `suite` in the suite, FUZZ_EXAMPLES in a soak run."""
    return int(os.environ.get("FUZZ_EXAMPLES", suite))


def fuzz_settings(suite: int = SUITE_EXAMPLES) -> settings:
    """Hypothesis settings for a batch against a live member: no deadline (the member is a
    process on a busy machine), no example database (cases are not replayed across runs)."""
    return settings(
        max_examples=examples(suite),
        deadline=None,
        database=None,
        suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large],
    )


def changes_the_cluster(method: str, fields: Any, member_id: int) -> bool:
    """Whether a request (its fields by their proto names) would rightly change the cluster
    under the fuzzer: raise an alarm, add or remove a member, create the root user that auth
    needs. Such cases are skipped; what a member must refuse is never among them."""
    if not isinstance(fields, dict):
        return False
    if method == "Maintenance.Alarm":
        return fields.get("action") in (1, "ACTIVATE")
    if method == "Cluster.MemberAdd":
        return "://" in repr(fields.get("peerURLs"))
    if method in ("Cluster.MemberRemove", "Cluster.MemberUpdate", "Cluster.MemberPromote"):
        return fields.get("ID") in (member_id, str(member_id))
    if method == "Auth.UserAdd":
        return fields.get("name") == "root"
    return False


@dataclass
class FuzzedMember:
    """A running member process, the addresses of its doors, and a well-behaved gRPC client
    (`channel`) for the checks."""

    process: MemberProcess
    member_id: int
    cluster_id: int
    channel: grpc.Channel

    @property
    def client_address(self) -> tuple[str, int]:
        host, port = self.process.endpoint.rsplit(":", 1)
        return host, int(port)

    @property
    def native_address(self) -> tuple[str, int]:
        host, port = self.client_address
        return host, port + PORT_SIDECAR_OFFSET

    @property
    def peer_address(self) -> tuple[str, int]:
        host, port = self.process.peer_url.split("://", 1)[1].rsplit(":", 1)
        return host, int(port)

    def revision(self) -> int:
        """The key space's current revision, read by a well-behaved client."""
        reply = rpc_pb2_grpc.KVStub(self.channel).Range(
            rpc_pb2.RangeRequest(key=b"\0", serializable=True), timeout=CALL_TIMEOUT_S
        )
        return reply.header.revision

    def revoke_every_lease(self) -> None:
        """End what a case left behind that could write later (a lease's expiry deletes its
        keys), so that each case's revision check sees only that case."""
        lease = rpc_pb2_grpc.LeaseStub(self.channel)
        found = lease.LeaseLeases(rpc_pb2.LeaseLeasesRequest(), timeout=CALL_TIMEOUT_S)
        for status in found.leases:
            lease.LeaseRevoke(rpc_pb2.LeaseRevokeRequest(ID=status.ID), timeout=CALL_TIMEOUT_S)

    def assert_still_serving(self) -> None:
        """The member runs, takes a put and reads it back, and logged no traceback."""
        process = self.process.process
        assert process is not None and process.poll() is None, self.process.log_tail()
        kv = rpc_pb2_grpc.KVStub(self.channel)
        put = kv.Put(
            rpc_pb2.PutRequest(key=b"fuzz-probe", value=b"still here"), timeout=CALL_TIMEOUT_S
        )
        got = kv.Range(rpc_pb2.RangeRequest(key=b"fuzz-probe"), timeout=CALL_TIMEOUT_S)
        assert [kv.value for kv in got.kvs] == [b"still here"]
        assert got.header.revision == put.header.revision
        log = self.process.log.read_text(errors="replace")
        assert "Traceback" not in log, log[log.index("Traceback") - 2000 :][:6000]


def wait_for_a_leader(cluster: ProcessCluster, running: list[MemberProcess]) -> None:
    """ProcessCluster.wait_for_leader, given STARTUP_S in all: on a loaded machine (the suite
    beside other jobs) a member process has been seen to take over 30 s to import and start."""
    deadline = time.monotonic() + STARTUP_S
    while True:
        try:
            cluster.wait_for_leader(running)
            return
        except RuntimeError:
            exited = any(m.process is not None and m.process.poll() is not None for m in running)
            if exited or time.monotonic() > deadline:
                raise


@contextmanager
def fuzzed_member(directory: Path, *, size: int = 1, started: int = 1) -> Iterator[FuzzedMember]:
    """A cluster of `size` members of which the first `started` run (a quorum); yields the
    first. The others are configured peers that never come up, so a test can speak as one."""
    cluster = ProcessCluster.new(directory, size, token=f"fuzz-{directory.name}")
    running = cluster.members[:started]
    try:
        for member in running:
            member.extra_args = ("--bcrypt-cost=4",)  # user adds are cases too: keep them quick
            member.start()
        wait_for_a_leader(cluster, running)
        status = running[0].status(timeout=CALL_TIMEOUT_S)
        with grpc.insecure_channel(running[0].endpoint) as channel:
            yield FuzzedMember(
                running[0], status.header.member_id, status.header.cluster_id, channel
            )
    finally:
        cluster.stop_all()
