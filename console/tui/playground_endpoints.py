"""Where a playground's members serve the native protocol, for clients that follow the cluster.

A playground picks each member's native port itself, so the port cannot be derived from the
client URLs a MemberList reply carries; its member records say it, by member name.
"""

from __future__ import annotations

from node.client import MemberEndpoints, Response
from playground.playground import Playground


def playground_member_endpoints(playground: Playground) -> MemberEndpoints:
    """The native endpoints of a MemberList member, from the playground's record of it."""

    def endpoints(member: Response) -> list[str]:
        record = playground.members.get(member.name)
        return [] if record is None else [record.native_endpoint]

    return endpoints
