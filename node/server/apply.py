"""Applying committed raft entries to the member's state (etcd's apply.go and the apply half of
server.go): decode, dispatch, record the consistent index, wake the waiting requests.

A batch of entries is one LMDB write transaction that ends by setting the consistent index
to the batch's last entry, so a crash never leaves half a batch, and a replay skips every
entry the backend already reflects. Results reach their waiters once the batch's transaction
ends: merged into the backend's pending transaction, which commits to disk on etcd's batch
interval or limit (the WAL holds every entry until then).
Under a NOSPACE alarm writes that grow the store fail with NoSpace (etcd's applierV3Capped);
under CORRUPT every key-space request fails with Corrupt.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from node import failpoints
from node.messages import errors
from node.messages.auth import AuthenticateResponse
from node.messages.cluster import Member
from node.messages.kv import (
    CompactionRequest,
    CompactionResponse,
    DeleteRangeRequest,
    PutRequest,
    TxnRequest,
)
from node.messages.lease import (
    LeaseCheckpointRequest,
    LeaseGrantRequest,
    LeaseGrantResponse,
    LeaseRevokeRequest,
    LeaseRevokeResponse,
)
from node.messages.maintenance import AlarmAction, AlarmRequest, AlarmResponse, AlarmType
from node.raft import ConfChange, ConfChangeType, ConfState, Entry, EntryType, MalformedRecord
from node.server import txn
from node.server.auth_apply import apply_auth_change
from node.server.auth_checks import check_applied
from node.server.cluster import ConfChangeContext
from node.server.member_state import MemberState
from node.server.raft_request import (
    AuthChangeRequest,
    InternalAuthenticateRequest,
    MemberAttrSetRequest,
    RaftRequest,
)
from node.server.storage_failure import COMMIT_TX, fatal_storage_errors
from node.server.trace import Tracer
from node.server.wait import WaitRegistry

logger = logging.getLogger(__name__)


@dataclass(slots=True)
class MembershipHooks:
    """What applying a conf change does outside the state machine."""

    apply_to_raft: Callable[[ConfChange], ConfState]
    add_peer: Callable[[Member], None]
    update_peer: Callable[[Member], None]
    remove_peer: Callable[[int], None]
    removed_self: Callable[[], None]


def _txn_has_put(req: TxnRequest) -> bool:
    for op in (*req.success, *req.failure):
        if op.request_put is not None:
            return True
        if op.request_txn is not None and _txn_has_put(op.request_txn):
            return True
    return False


class Applier:
    """Applies entries in order; one instance per member, driven by the apply task."""

    def __init__(
        self,
        state: MemberState,
        wait: WaitRegistry,
        hooks: MembershipHooks,
        member_id: int,
        seeds: dict[int, Member],
        tracer: Tracer,
        log: logging.Logger = logger,
    ) -> None:
        self._log = log
        self._tracer = tracer
        self._state = state
        self._wait = wait
        self._hooks = hooks
        self._member_id = member_id
        self._seeds = seeds

    def apply_entries(self, entries: list[Entry]) -> None:
        """Apply `entries` (consecutive, committed) in one backend transaction."""
        state = self._state
        skip_to = state.consistent_index
        revision = state.kv.current_revision
        outcomes: list[tuple[int, Any, BaseException | None]] = []
        last: Entry | None = None
        with fatal_storage_errors(COMMIT_TX, self._log), state.backend.batch():
            for entry in entries:
                replay = entry.index <= skip_to
                if entry.type == EntryType.CONF_CHANGE:
                    outcome = self._apply_conf_change(entry, replay)
                elif replay:
                    outcome = None
                else:
                    outcome = self._apply_normal(entry)
                if outcome is not None:
                    outcomes.append(outcome)
                if not replay:
                    last = entry
            if last is not None:
                failpoints.hit("commitBeforePreCommitHook")
                state.backend.set_consistent_index(last.index, last.term)
                failpoints.hit("commitAfterPreCommitHook")
            committing = time.perf_counter()
        took = time.perf_counter() - committing
        self._tracer.applied(entries, revision, state, took)
        for request_id, result, error in outcomes:
            self._wait.trigger(request_id, result, error)

    # -- normal entries ---------------------------------------------------------------------

    def _apply_normal(self, entry: Entry) -> tuple[int, Any, BaseException | None] | None:
        if not entry.data:
            return None  # a new leader's empty entry
        try:
            request = RaftRequest.decode(entry.data)
        except MalformedRecord as exc:
            self._log.error("member %x: skipping entry %d: %s", self._member_id, entry.index, exc)
            return None
        try:
            if self._state.auth.enabled:
                check_applied(self._state.auth, request.auth, self._state.lessor, request.body)
            return request.id, self._dispatch(request.body, entry.index), None
        except errors.EtcdError as exc:
            return request.id, None, exc

    def _dispatch(self, body: Any, index: int) -> Any:
        state = self._state
        alarms = state.alarms
        key_space = PutRequest | DeleteRangeRequest | TxnRequest | CompactionRequest
        if isinstance(body, key_space) and alarms.is_raised(AlarmType.CORRUPT):
            raise errors.Corrupt()
        if isinstance(body, PutRequest):
            if alarms.is_raised(AlarmType.NOSPACE):
                raise errors.NoSpace()
            return txn.put(state.kv, body)
        if isinstance(body, DeleteRangeRequest):
            return txn.delete_range(state.kv, body)
        if isinstance(body, TxnRequest):
            if alarms.is_raised(AlarmType.NOSPACE) and _txn_has_put(body):
                raise errors.NoSpace()
            return txn.txn(state.kv, body)
        if isinstance(body, CompactionRequest):
            state.kv.compact(body.revision)
            return CompactionResponse()
        if isinstance(body, LeaseGrantRequest):
            if alarms.is_raised(AlarmType.NOSPACE):
                raise errors.NoSpace()
            lease = state.lessor.grant(body.id, body.ttl)
            return LeaseGrantResponse(id=lease.id, ttl=lease.ttl)
        if isinstance(body, LeaseRevokeRequest):
            state.lessor.revoke(body.id)
            return LeaseRevokeResponse()
        if isinstance(body, LeaseCheckpointRequest):
            for checkpoint in body.checkpoints:
                state.lessor.apply_checkpoint(checkpoint.id, checkpoint.remaining_ttl)
            return None
        if isinstance(body, AlarmRequest):
            return self._apply_alarm(body)
        if isinstance(body, MemberAttrSetRequest):
            state.cluster.set_attributes(body.member_id, body.name, body.client_urls)
            return None
        if isinstance(body, InternalAuthenticateRequest):
            token = state.auth.authenticate(body.name, body.simple_token, index)
            return AuthenticateResponse(token=token)
        if isinstance(body, AuthChangeRequest):
            return apply_auth_change(state.auth, body)
        raise MalformedRecord(f"no applier for {type(body).__name__}")

    def _apply_alarm(self, req: AlarmRequest) -> AlarmResponse:
        alarms = self._state.alarms
        if req.action == AlarmAction.GET:
            return AlarmResponse(alarms=alarms.get(req.alarm))
        if req.alarm == AlarmType.NONE:
            return AlarmResponse()
        if req.action == AlarmAction.ACTIVATE:
            changed = alarms.activate(req.member_id, req.alarm)
            if changed is not None:
                self._log.warning(
                    "member %x: alarm %s raised for member %x",
                    self._member_id,
                    req.alarm.name,
                    req.member_id,
                )
        else:
            changed = alarms.deactivate(req.member_id, req.alarm)
            if changed is not None:
                self._log.warning(
                    "member %x: alarm %s disarmed for member %x",
                    self._member_id,
                    req.alarm.name,
                    req.member_id,
                )
        return AlarmResponse(alarms=[] if changed is None else [changed])

    # -- conf changes -----------------------------------------------------------------------

    def _apply_conf_change(
        self, entry: Entry, replay: bool
    ) -> tuple[int, Any, BaseException | None] | None:
        try:
            cc = ConfChange.decode(entry.data)
            context = ConfChangeContext.decode(cc.context) if cc.context else None
        except MalformedRecord as exc:
            self._log.error(
                "member %x: skipping conf change %d: %s", self._member_id, entry.index, exc
            )
            self._hooks.apply_to_raft(ConfChange(node_id=0))
            return None
        cluster = self._state.cluster
        failpoints.hit("beforeApplyOneConfChange")
        if replay:
            if cluster.was_applied(cc):
                self._hooks.apply_to_raft(cc)
                self._follow_change(cc, cluster.member(cc.node_id))
            return None
        if context is None:
            self._apply_bootstrap_member(cc)
            return None
        try:
            cluster.validate(cc, context)
        except errors.EtcdError as exc:
            self._hooks.apply_to_raft(ConfChange(cc.type, 0))
            return context.request_id, None, exc
        self._hooks.apply_to_raft(cc)
        node = cc.node_id
        if cc.type == ConfChangeType.REMOVE_NODE:
            cluster.remove(node)
        elif cc.type == ConfChangeType.UPDATE_NODE:
            cluster.update_peer_urls(node, context.member.peer_urls)
        elif context.is_promote:
            cluster.promote(node)
        else:
            member = context.member
            member.is_learner = cc.type == ConfChangeType.ADD_LEARNER_NODE
            cluster.add(member)
        self._log.info(
            "member %x: applied %s of member %x at index %d",
            self._member_id,
            cc.type.name,
            node,
            entry.index,
        )
        self._follow_change(cc, cluster.member(node))
        return context.request_id, cluster.members(), None

    def _apply_bootstrap_member(self, cc: ConfChange) -> None:
        """raft's CONF_CHANGE entries for the initial membership carry no context: the
        member's attributes come from the seeds (initial cluster, or fetched when joining)."""
        cluster = self._state.cluster
        node = cc.node_id
        adding = cc.type in (ConfChangeType.ADD_NODE, ConfChangeType.ADD_LEARNER_NODE)
        if adding and cluster.member(node) is None and not cluster.is_removed(node):
            seed = self._seeds.get(node, Member(id=node))
            cluster.add(
                Member(
                    node,
                    seed.name,
                    list(seed.peer_urls),
                    list(seed.client_urls),
                    cc.type == ConfChangeType.ADD_LEARNER_NODE,
                )
            )
        self._hooks.apply_to_raft(cc)
        self._follow_change(cc, cluster.member(node))

    def _follow_change(self, cc: ConfChange, member: Member | None) -> None:
        """Transport peers and self-removal follow an applied change."""
        node = cc.node_id
        if cc.type == ConfChangeType.REMOVE_NODE:
            if node == self._member_id:
                self._hooks.removed_self()
            else:
                self._hooks.remove_peer(node)
        elif member is not None and node != self._member_id:
            if cc.type == ConfChangeType.UPDATE_NODE:
                self._hooks.update_peer(member)
            else:
                self._hooks.add_peer(member)
