"""Raised alarms (NOSPACE, CORRUPT) per member, applied through raft and kept in the backend's
`alarm` bucket (etcd's alarm store), so every member knows every alarm."""

from __future__ import annotations

import struct

from node.messages.maintenance import AlarmMember, AlarmType
from node.mvcc.backend import Backend

ALARM = b"alarm"
_KEY = struct.Struct(">QB")


class AlarmStore:
    """The active alarms, read from the backend at start and after a snapshot."""

    def __init__(self, backend: Backend) -> None:
        self._backend = backend
        self._alarms: set[tuple[int, AlarmType]] = set()
        self.reload(backend)

    def reload(self, backend: Backend) -> None:
        """Read the alarms from `backend` (at start and after a snapshot)."""
        self._backend = backend
        self._alarms = set()
        for key, _ in backend.items(ALARM):
            member_id, alarm = _KEY.unpack(key)
            self._alarms.add((member_id, AlarmType(alarm)))

    def activate(self, member_id: int, alarm: AlarmType) -> AlarmMember | None:
        """Raise an alarm; None if it was already raised."""
        if (member_id, alarm) in self._alarms:
            return None
        self._alarms.add((member_id, alarm))
        self._backend.put(ALARM, _KEY.pack(member_id, alarm), b"")
        return AlarmMember(member_id, alarm)

    def deactivate(self, member_id: int, alarm: AlarmType) -> AlarmMember | None:
        """Disarm an alarm; None if it was not raised."""
        if (member_id, alarm) not in self._alarms:
            return None
        self._alarms.discard((member_id, alarm))
        self._backend.delete(ALARM, _KEY.pack(member_id, alarm))
        return AlarmMember(member_id, alarm)

    def get(self, alarm: AlarmType = AlarmType.NONE) -> list[AlarmMember]:
        """The raised alarms of one type (NONE: all), sorted by member then type."""
        return [
            AlarmMember(member_id, kind)
            for member_id, kind in sorted(self._alarms)
            if alarm == AlarmType.NONE or kind == alarm
        ]

    def is_raised(self, alarm: AlarmType) -> bool:
        """Whether any member has this alarm raised."""
        return any(kind == alarm for _, kind in self._alarms)
