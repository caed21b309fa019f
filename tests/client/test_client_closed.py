"""A call on a client that was closed fails with grpc-go's error for a closing connection."""

from __future__ import annotations

import pytest

from node.client import ClientClosed, connect_client
from node.messages import errors

from .frame_peer import frame_peer


async def _empty(call):
    return {"header": {"revision": 2}, "kvs": []}


async def test_a_call_after_the_client_closed_is_refused_as_grpc_does() -> None:
    async with frame_peer(_empty) as endpoint, connect_client([endpoint]) as client:
        await client.get("k")
        await client.aclose()
        with pytest.raises(ClientClosed, match="grpc: the client connection is closing") as err:
            await client.get("k")
    assert isinstance(err.value, errors.EtcdError)


async def test_an_error_inside_the_clients_block_reaches_the_caller_as_it_is() -> None:
    # `except EtcdError` around the block catches it: no exception group from the client's
    # own tasks wraps it
    async with frame_peer(_empty) as endpoint:
        with pytest.raises(errors.KeyNotFound):
            async with connect_client([endpoint]):
                raise errors.KeyNotFound()
        with pytest.raises(ValueError, match="the caller's"):
            async with connect_client([endpoint]) as client:
                await client.get("k")
                raise ValueError("the caller's")
