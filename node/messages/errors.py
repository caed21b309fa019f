"""etcd's client-facing errors: the exact texts and gRPC status codes etcd 3.4 returns.

Every layer raises these so that both front doors (native and gRPC) can answer with etcd's own
words; the gRPC door maps `code` (a grpc.StatusCode name) onto the status it sends.
"""

from __future__ import annotations


class EtcdError(Exception):
    """An error a client sees: etcd's message text and the gRPC status code name it travels with."""

    code = "UNKNOWN"
    message = "etcdserver: unknown error"

    def __init__(self, message: str | None = None) -> None:
        if message is not None:
            self.message = message
        super().__init__(self.message)


def _error(name: str, code: str, message: str) -> type[EtcdError]:
    return type(name, (EtcdError,), {"code": code, "message": message, "__doc__": message})


EmptyKey = _error("EmptyKey", "INVALID_ARGUMENT", "etcdserver: key is not provided")
KeyNotFound = _error("KeyNotFound", "INVALID_ARGUMENT", "etcdserver: key not found")
ValueProvided = _error("ValueProvided", "INVALID_ARGUMENT", "etcdserver: value is provided")
LeaseProvided = _error("LeaseProvided", "INVALID_ARGUMENT", "etcdserver: lease is provided")
TooManyOps = _error(
    "TooManyOps", "INVALID_ARGUMENT", "etcdserver: too many operations in txn request"
)
DuplicateKey = _error(
    "DuplicateKey", "INVALID_ARGUMENT", "etcdserver: duplicate key given in txn request"
)
Compacted = _error(
    "Compacted", "OUT_OF_RANGE", "etcdserver: mvcc: required revision has been compacted"
)
FutureRevision = _error(
    "FutureRevision", "OUT_OF_RANGE", "etcdserver: mvcc: required revision is a future revision"
)
NoSpace = _error("NoSpace", "RESOURCE_EXHAUSTED", "etcdserver: mvcc: database space exceeded")

LeaseNotFound = _error("LeaseNotFound", "NOT_FOUND", "etcdserver: requested lease not found")
LeaseExists = _error("LeaseExists", "FAILED_PRECONDITION", "etcdserver: lease already exists")
LeaseTTLTooLarge = _error("LeaseTTLTooLarge", "OUT_OF_RANGE", "etcdserver: too large lease TTL")

MemberExists = _error("MemberExists", "FAILED_PRECONDITION", "etcdserver: member ID already exist")
PeerURLExists = _error(
    "PeerURLExists", "FAILED_PRECONDITION", "etcdserver: Peer URLs already exists"
)
MemberNotEnoughStarted = _error(
    "MemberNotEnoughStarted",
    "FAILED_PRECONDITION",
    "etcdserver: re-configuration failed due to not enough started members",
)
MemberBadURLs = _error(
    "MemberBadURLs", "INVALID_ARGUMENT", "etcdserver: given member URLs are invalid"
)
MemberNotFound = _error("MemberNotFound", "NOT_FOUND", "etcdserver: member not found")
MemberNotLearner = _error(
    "MemberNotLearner", "FAILED_PRECONDITION", "etcdserver: can only promote a learner member"
)
LearnerNotReady = _error(
    "LearnerNotReady",
    "FAILED_PRECONDITION",
    "etcdserver: can only promote a learner member which is in sync with leader",
)
TooManyLearners = _error(
    "TooManyLearners", "FAILED_PRECONDITION", "etcdserver: too many learner members in cluster"
)

RequestTooLarge = _error("RequestTooLarge", "INVALID_ARGUMENT", "etcdserver: request is too large")
TooManyRequests = _error("TooManyRequests", "RESOURCE_EXHAUSTED", "etcdserver: too many requests")
NoLeader = _error("NoLeader", "UNAVAILABLE", "etcdserver: no leader")
NotLeader = _error("NotLeader", "FAILED_PRECONDITION", "etcdserver: not leader")
LeaderChanged = _error("LeaderChanged", "UNAVAILABLE", "etcdserver: leader changed")
NotCapable = _error("NotCapable", "UNAVAILABLE", "etcdserver: not capable")
Stopped = _error("Stopped", "UNAVAILABLE", "etcdserver: server stopped")
Timeout = _error("Timeout", "UNAVAILABLE", "etcdserver: request timed out")
TimeoutDueToLeaderFail = _error(
    "TimeoutDueToLeaderFail",
    "UNAVAILABLE",
    "etcdserver: request timed out, possibly due to previous leader failure",
)
TimeoutDueToConnectionLost = _error(
    "TimeoutDueToConnectionLost",
    "UNAVAILABLE",
    "etcdserver: request timed out, possibly due to connection lost",
)
Unhealthy = _error("Unhealthy", "UNAVAILABLE", "etcdserver: unhealthy cluster")
Corrupt = _error("Corrupt", "DATA_LOSS", "etcdserver: corrupt cluster")
NotSupportedForLearner = _error(
    "NotSupportedForLearner", "UNAVAILABLE", "etcdserver: rpc not supported for learner"
)
BadLeaderTransferee = _error(
    "BadLeaderTransferee", "FAILED_PRECONDITION", "etcdserver: bad leader transferee"
)
TimeoutLeaderTransfer = _error(
    "TimeoutLeaderTransfer",
    "UNAVAILABLE",
    "etcdserver: request timed out, leader transfer took too long",
)
FaultInjectionDisabled = _error(
    "FaultInjectionDisabled",
    "FAILED_PRECONDITION",
    "etcdserver: fault injection is disabled (start the member with --enable-fault-injection)",
)
FailpointRefused = _error(
    "FailpointRefused", "INVALID_ARGUMENT", "etcdserver: bad failpoint"
)
"""Ours: arming an unknown failpoint or one with bad gofail terms; the instance says which."""
StepModeRefused = _error(
    "StepModeRefused", "FAILED_PRECONDITION", "etcdserver: step mode refused the request"
)
"""Ours: a step-mode call that cannot be done (an unknown held message id, ticks while the
clock runs in real time); the instance carries the reason."""

RootUserNotExist = _error(
    "RootUserNotExist", "FAILED_PRECONDITION", "etcdserver: root user does not exist"
)
RootRoleNotExist = _error(
    "RootRoleNotExist", "FAILED_PRECONDITION", "etcdserver: root user does not have root role"
)
UserEmpty = _error("UserEmpty", "INVALID_ARGUMENT", "etcdserver: user name is empty")
UserAlreadyExist = _error(
    "UserAlreadyExist", "FAILED_PRECONDITION", "etcdserver: user name already exists"
)
UserNotFound = _error("UserNotFound", "FAILED_PRECONDITION", "etcdserver: user name not found")
RoleAlreadyExist = _error(
    "RoleAlreadyExist", "FAILED_PRECONDITION", "etcdserver: role name already exists"
)
RoleNotFound = _error("RoleNotFound", "FAILED_PRECONDITION", "etcdserver: role name not found")
RoleEmpty = _error("RoleEmpty", "INVALID_ARGUMENT", "etcdserver: role name is empty")
UserNameTooLong = _error(
    "UserNameTooLong", "INVALID_ARGUMENT", "etcdserver: user name is too long (511 bytes at most)"
)
RoleNameTooLong = _error(
    "RoleNameTooLong", "INVALID_ARGUMENT", "etcdserver: role name is too long (511 bytes at most)"
)
"""Ours: a name is a key of the backend's authUsers or authRoles bucket, and LMDB takes keys
of 511 bytes at most (etcd's bbolt takes 32 KiB, and etcd dies on a longer one)."""
AuthFailed = _error(
    "AuthFailed",
    "INVALID_ARGUMENT",
    "etcdserver: authentication failed, invalid user ID or password",
)
PermissionDenied = _error(
    "PermissionDenied", "PERMISSION_DENIED", "etcdserver: permission denied"
)
RoleNotGranted = _error(
    "RoleNotGranted", "FAILED_PRECONDITION", "etcdserver: role is not granted to the user"
)
PermissionNotGranted = _error(
    "PermissionNotGranted",
    "FAILED_PRECONDITION",
    "etcdserver: permission is not granted to the role",
)
AuthNotEnabled = _error(
    "AuthNotEnabled", "FAILED_PRECONDITION", "etcdserver: authentication is not enabled"
)
InvalidAuthToken = _error(
    "InvalidAuthToken", "UNAUTHENTICATED", "etcdserver: invalid auth token"
)
InvalidAuthMgmt = _error(
    "InvalidAuthMgmt", "FAILED_PRECONDITION", "etcdserver: invalid auth management"
)
NoPasswordUser = _error(
    "NoPasswordUser",
    "UNKNOWN",
    "auth: authentication failed, password was given for no password user",
)
"""Authenticate as a --no-password user: etcd returns the auth store's error untranslated."""
AuthOldRevision = _error(
    "AuthOldRevision", "INVALID_ARGUMENT", "etcdserver: revision of auth store is old"
)


def maintenance_auth_error(refused: EtcdError) -> EtcdError:
    """An auth refusal of a Maintenance call: etcd's maintenance server returns the auth
    store's own error untranslated, so it travels as gRPC's Unknown with `auth: ...` text."""
    error = EtcdError("auth: " + refused.message.removeprefix("etcdserver: "))
    error.code = "UNKNOWN"
    return error


ElectionNotLeader = _error("ElectionNotLeader", "UNKNOWN", "election: not leader")
"""Proclaim by a contender that no longer leads (v3election's ErrElectionNotLeader)."""
ElectionNoLeader = _error("ElectionNoLeader", "UNKNOWN", "election: no leader")
"""Leader of an election nobody has won (v3election's ErrElectionNoLeader)."""
