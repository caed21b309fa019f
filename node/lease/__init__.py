"""Leases: grant, revoke, keep-alive, expiry and checkpoints, as etcd 3.4's lessor."""

from node.lease.lease import FOREVER, Lease
from node.lease.lease_id import LeaseIdGenerator
from node.lease.lessor import (
    MAX_LEASE_TTL,
    LeaseCheckpoint,
    Lessor,
    NotPrimary,
    TimeToLive,
    minimum_lease_ttl,
)

__all__ = [
    "FOREVER",
    "MAX_LEASE_TTL",
    "Lease",
    "LeaseCheckpoint",
    "LeaseIdGenerator",
    "Lessor",
    "NotPrimary",
    "TimeToLive",
    "minimum_lease_ttl",
]
