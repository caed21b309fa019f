"""Which native endpoints the members in a MemberList reply serve, for a client to follow.

MemberList carries each member's client URLs (etcd's gRPC door); a member of ours serves the
native protocol on each client URL's port plus NATIVE_PORT_OFFSET unless started with
--listen-native-urls. A client that knows better (a playground that picked the ports) passes
its own MemberEndpoints.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from urllib.parse import urlsplit

from node.client.response import Response
from node.messages.native_protocol import NATIVE_PORT_OFFSET

MemberEndpoints = Callable[[Response], list[str]]
"""The native endpoints of one member of a MemberList reply."""


def default_member_endpoints(member: Response) -> list[str]:
    """The native endpoints a member serves by default: its client URLs' ports + 10000."""
    endpoints = []
    for url in member.clientURLs:
        address = urlsplit(url if "://" in url else f"http://{url}")
        if address.hostname is None or address.port is None:
            continue
        host = f"[{address.hostname}]" if ":" in address.hostname else address.hostname
        endpoints.append(f"{host}:{address.port + NATIVE_PORT_OFFSET}")
    return endpoints


def started_member_endpoints(
    members: Iterable[Response], member_endpoints: MemberEndpoints
) -> list[str]:
    """The endpoints of the members that have started (published a name) and vote, as
    clientv3's Sync takes them; a learner serves no linearizable reads, so it is left out."""
    endpoints: list[str] = []
    for member in members:
        if member.name and not member.isLearner:
            endpoints.extend(e for e in member_endpoints(member) if e not in endpoints)
    return endpoints


def client_url_endpoints(member: Response) -> list[str]:
    """The endpoints a member serves etcd's gRPC API at: its client URLs, as they are."""
    return list(member.clientURLs)
