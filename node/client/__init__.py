"""The Python client of etcd's v3 API (anyio: runs under trio and asyncio), through our
members' native door or, with door="grpc", etcd's gRPC API (a real etcd; asyncio only).

async with await Client.connect(["127.0.0.1:32379"]) as client:
    await client.put("greeting", "hello")
    print((await client.get("greeting")).kvs[0].value)
"""

from node.client.client import DEFAULT_TIMEOUT, Client, connect_client
from node.client.client_tls import ClientTls
from node.client.concurrency import (
    Election,
    Locked,
    Mutex,
    Session,
    SessionExpired,
)
from node.client.failures import (
    ClientClosed,
    ConnectionLost,
    DeadlineExceeded,
    GrpcUnreachable,
    NoEndpointAvailable,
    NotInGrpcApi,
)
from node.client.member_connection import Door
from node.client.member_endpoints import MemberEndpoints, default_member_endpoints
from node.client.requests import (
    compare,
    compare_create_revision,
    compare_lease,
    compare_mod_revision,
    compare_value,
    compare_version,
    op_delete,
    op_get,
    op_put,
    op_txn,
    prefix_end,
)
from node.client.response import Response, as_dict
from node.client.streams import LeaseKeepAlive, ReplyStream, SnapshotStream, Watch
from node.messages.errors import ElectionNoLeader, ElectionNotLeader
from node.messages.faults import FaultKind
from node.messages.kv import SortOrder, SortTarget
from node.messages.maintenance import AlarmAction, AlarmType
from node.messages.watch import WatchFilter

__all__ = [
    "DEFAULT_TIMEOUT",
    "AlarmAction",
    "AlarmType",
    "Client",
    "ClientClosed",
    "ClientTls",
    "ConnectionLost",
    "DeadlineExceeded",
    "Door",
    "Election",
    "ElectionNoLeader",
    "ElectionNotLeader",
    "FaultKind",
    "GrpcUnreachable",
    "LeaseKeepAlive",
    "Locked",
    "MemberEndpoints",
    "Mutex",
    "NoEndpointAvailable",
    "NotInGrpcApi",
    "ReplyStream",
    "Response",
    "Session",
    "SessionExpired",
    "SnapshotStream",
    "SortOrder",
    "SortTarget",
    "Watch",
    "WatchFilter",
    "as_dict",
    "compare",
    "compare_create_revision",
    "compare_lease",
    "compare_mod_revision",
    "compare_value",
    "compare_version",
    "connect_client",
    "default_member_endpoints",
    "op_delete",
    "op_get",
    "op_put",
    "op_txn",
    "prefix_end",
]
