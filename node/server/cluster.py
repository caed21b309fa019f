"""The cluster's membership as applied from the raft log, kept in the backend (etcd's
membership.RaftCluster), with etcd 3.4's checks on configuration changes.

Members live in the backend's `members` bucket (`m` + id) and removed ids under `r` + id,
so a backend received in a snapshot brings its membership along. Every method that changes
membership joins the caller's open backend batch.
"""

from __future__ import annotations

import hashlib
import struct
from dataclasses import dataclass, replace

import cbor2

from node.messages import errors
from node.messages.cluster import Member
from node.mvcc.backend import Backend
from node.raft import ConfChange, ConfChangeType, MalformedRecord

MEMBERS = b"members"
MAX_LEARNERS = 1
"""etcd 3.4's maxLearners."""
_ID = struct.Struct(">Q")


def _member_key(member_id: int) -> bytes:
    return b"m" + _ID.pack(member_id)


def _removed_key(member_id: int) -> bytes:
    return b"r" + _ID.pack(member_id)


def added_member_id(peer_urls: list[str], now: float) -> int:
    """etcd's id for a member added at run time: v3 MemberAdd calls membership.NewMember with
    no name, no cluster name and the current time, so the id is the first 8 bytes of sha1 of
    the sorted peer URLs and the unix second `now` (initial members' ids have no time)."""
    seed = "".join(sorted(peer_urls)) + str(int(now))
    return int.from_bytes(hashlib.sha1(seed.encode()).digest()[:8], "big")


def member_to_wire(member: Member) -> list:
    """A member's cbor2-able form (the members bucket, the peer API)."""
    return [
        member.id,
        member.name,
        list(member.peer_urls),
        list(member.client_urls),
        member.is_learner,
    ]


def member_from_wire(obj: object) -> Member:
    """The member `member_to_wire` gave; MalformedRecord otherwise."""
    if not isinstance(obj, list) or len(obj) != 5:
        raise MalformedRecord(f"not a member record: {obj!r:.80}")
    member_id, name, peer_urls, client_urls, is_learner = obj
    return Member(member_id, name, list(peer_urls), list(client_urls), bool(is_learner))


@dataclass(slots=True)
class ConfChangeContext:
    """What a CONF_CHANGE entry's context holds: the member, whether it is a promotion, and
    the id of the request waiting for it (etcd's ConfChange.ID)."""

    member: Member
    is_promote: bool = False
    request_id: int = 0

    def encode(self) -> bytes:
        """The bytes of a CONF_CHANGE entry's context."""
        return cbor2.dumps([member_to_wire(self.member), self.is_promote, self.request_id])

    @classmethod
    def decode(cls, data: bytes) -> ConfChangeContext:
        """The context `encode` gave; MalformedRecord otherwise."""
        try:
            member, is_promote, request_id = cbor2.loads(data)
            return cls(member_from_wire(member), bool(is_promote), int(request_id))
        except MalformedRecord:
            raise
        except Exception as exc:
            raise MalformedRecord(f"undecodable conf change context: {exc}") from exc


class RaftCluster:
    """Members and removed ids as applied; reads come from memory, writes go to the backend."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._members: dict[int, Member] = {}
        self._removed: set[int] = set()
        self.version = 0
        """Counts membership changes (observers compare it to notice one)."""
        self.reload(backend)

    def reload(self, backend: Backend) -> None:
        """Read the membership from `backend` (at start, and after a snapshot swapped it)."""
        self._backend = backend
        self._members.clear()
        self._removed.clear()
        self.version += 1
        for key, value in backend.items(MEMBERS):
            member_id = _ID.unpack(key[1:])[0]
            if key[:1] == b"m":
                self._members[member_id] = member_from_wire(cbor2.loads(value))
            else:
                self._removed.add(member_id)

    # -- reads ------------------------------------------------------------------------------

    def members(self) -> list[Member]:
        """Every member, sorted by id (copies)."""
        return [replace(self._members[i]) for i in sorted(self._members)]

    def member(self, member_id: int) -> Member | None:
        """A copy of one member, None if unknown."""
        member = self._members.get(member_id)
        return None if member is None else replace(member)

    def voting_members(self) -> list[Member]:
        """Every member that is not a learner."""
        return [m for m in self.members() if not m.is_learner]

    def is_removed(self, member_id: int) -> bool:
        """Whether the id was removed (ids are never reused)."""
        return member_id in self._removed

    # -- etcd's strict reconfiguration checks (before proposing) ----------------------------

    def is_ready_to_add_voting_member(self) -> bool:
        """Adding a voter must keep a quorum of started members (etcd 3.4)."""
        voters = self.voting_members()
        started = sum(1 for m in voters if m.name)
        total = len(voters) + 1
        if started == 1 and total == 2:
            return True
        return started >= total // 2 + 1

    def is_ready_to_remove_voting_member(self, member_id: int) -> bool:
        """The voters left after removing `member_id` must have a quorum of started ones."""
        rest = [m for m in self.voting_members() if m.id != member_id]
        started = sum(1 for m in rest if m.name)
        return started >= len(rest) // 2 + 1

    def is_ready_to_promote_member(self, member_id: int) -> bool:
        """Promoting a learner must keep a quorum of started voters (etcd 3.4)."""
        voters = self.voting_members()
        started = sum(1 for m in voters if m.name)
        total = len(voters) + 1
        if started == 1 and total == 2:
            return True
        return started >= total // 2 + 1

    # -- applying conf changes ----------------------------------------------------------------

    def validate(self, cc: ConfChange, context: ConfChangeContext | None) -> None:
        """etcd's ValidateConfigurationChange against the applied membership."""
        node = cc.node_id
        if node in self._removed:
            raise errors.MemberNotFound()
        if cc.type in (ConfChangeType.ADD_NODE, ConfChangeType.ADD_LEARNER_NODE):
            if context is not None and context.is_promote:
                member = self._members.get(node)
                if member is None:
                    raise errors.MemberNotFound()
                if not member.is_learner:
                    raise errors.MemberNotLearner()
                return
            if node in self._members:
                raise errors.MemberExists()
            if context is not None:
                self._check_peer_urls_unused(context.member.peer_urls, node)
            if cc.type == ConfChangeType.ADD_LEARNER_NODE:
                learners = sum(1 for m in self._members.values() if m.is_learner)
                if learners >= MAX_LEARNERS:
                    raise errors.TooManyLearners()
        elif cc.type == ConfChangeType.REMOVE_NODE:
            if node not in self._members:
                raise errors.MemberNotFound()
        elif cc.type == ConfChangeType.UPDATE_NODE:
            if node not in self._members:
                raise errors.MemberNotFound()
            if context is not None:
                self._check_peer_urls_unused(context.member.peer_urls, node)

    def _check_peer_urls_unused(self, peer_urls: list[str], node: int) -> None:
        for member in self._members.values():
            if member.id != node and set(member.peer_urls) & set(peer_urls):
                raise errors.PeerURLExists()

    def was_applied(self, cc: ConfChange) -> bool:
        """For an entry the backend already reflects (replay after a snapshot): did it pass
        validation when it was first applied? Ids are never reused, so the outcome shows."""
        if cc.type == ConfChangeType.REMOVE_NODE:
            return cc.node_id in self._removed
        return cc.node_id in self._members or cc.node_id in self._removed

    def add(self, member: Member) -> None:
        """Record a new member."""
        self._members[member.id] = replace(member)
        self._save(member)

    def remove(self, member_id: int) -> None:
        """Forget a member and remember its id as removed."""
        self._members.pop(member_id, None)
        self._removed.add(member_id)
        self.version += 1
        with self._backend.batch():
            self._backend.delete(MEMBERS, _member_key(member_id))
            self._backend.put(MEMBERS, _removed_key(member_id), b"")

    def update_peer_urls(self, member_id: int, peer_urls: list[str]) -> None:
        """Record a member's new peer URLs."""
        member = self._members.get(member_id)
        if member is not None:
            member.peer_urls = sorted(peer_urls)
            self._save(member)

    def promote(self, member_id: int) -> None:
        """Make a learner a voter."""
        member = self._members.get(member_id)
        if member is not None:
            member.is_learner = False
            self._save(member)

    def set_attributes(self, member_id: int, name: str, client_urls: list[str]) -> bool:
        """Record what a member published; False for an unknown or removed member."""
        member = self._members.get(member_id)
        if member is None:
            return False
        member.name = name
        member.client_urls = sorted(client_urls)
        self._save(member)
        return True

    def replace_all(self, members: list[Member]) -> None:
        """Forget every member and removed id and record `members` (snapshot restore)."""
        with self._backend.batch():
            for key, _ in self._backend.items(MEMBERS):
                self._backend.delete(MEMBERS, key)
            self._members.clear()
            self._removed.clear()
            for member in members:
                self.add(member)

    def _save(self, member: Member) -> None:
        self.version += 1
        self._backend.put(MEMBERS, _member_key(member.id), cbor2.dumps(member_to_wire(member)))
