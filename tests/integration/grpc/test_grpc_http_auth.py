"""One authenticator behind both transports: a key removed from the store stops
working after the same bounded time on HTTP and on gRPC, and a missing, malformed
or unknown key gets the same error on both."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import grpc
import pytest
from litestar.testing import AsyncTestClient

from service.domain import ids
from service.domain.auth import Authenticator
from service.domain.service import CreateAgentRequest, Loopy
from service.grpc.errors import error_from_rpc
from service.grpc.gen.loopy.v1 import loopy_service_pb2 as api
from service.grpc.gen.loopy.v1 import loopy_service_pb2_grpc as rpc
from service.http.app import create_app
from service.settings import Settings

TTL_S = 5.0


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


class KeysOnFile:
    """The metadata store as the authenticator reads it, where an operator can remove
    a key (the API has no revocation call; removing the agent's key row is it)."""

    def __init__(self, meta: Any) -> None:
        self._meta = meta
        self.removed: set[str] = set()

    def remove(self, key: str) -> None:
        self.removed.add(ids.hash_api_key(key))

    def get_agent_by_key_hash(self, key_hash: str) -> Any:
        return None if key_hash in self.removed else self._meta.get_agent_by_key_hash(key_hash)


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def keys(core: Loopy, clock: Clock) -> KeysOnFile:
    """Installs, before either transport is built, an authenticator on a clock the
    test moves, over a store whose keys the test can remove."""
    keys = KeysOnFile(core.meta)
    core.ctx.authenticator = Authenticator(keys, ttl_s=TTL_S, clock=clock)  # type: ignore[arg-type]
    return keys


@pytest.fixture
async def http(core: Loopy, keys: KeysOnFile, tmp_path: Any) -> AsyncIterator[Any]:
    settings = Settings(data_dir=str(tmp_path), readyz_checks_sandbox=False)
    async with AsyncTestClient(app=create_app(core, settings)) as client:
        yield client


@pytest.fixture
async def grpc_stub(keys: KeysOnFile, stub: rpc.LoopyServiceStub) -> rpc.LoopyServiceStub:
    return stub  # built after `keys`, so its interceptor holds the test's authenticator


async def who_http(http: Any, header: str | None) -> tuple[str, Any]:
    """("ok", agent id) or (error code, problem document) for GET /v1/agents/me."""
    response = await http.get(
        "/v1/agents/me", headers={"Authorization": header} if header is not None else {}
    )
    body = response.json()
    if response.status_code == 200:
        return "ok", body["id"]
    assert response.status_code == 401
    return body["code"], {"detail": body["detail"], "details": body["details"]}


async def who_grpc(stub: rpc.LoopyServiceStub, header: str | None) -> tuple[str, Any]:
    metadata = (("authorization", header),) if header is not None else ()
    try:
        answer = await stub.GetAgent(api.GetAgentRequest(agent_id="me"), metadata=metadata)
    except grpc.aio.AioRpcError as failed:
        assert failed.code() is grpc.StatusCode.UNAUTHENTICATED
        error = error_from_rpc(failed)
        return error.code.value, {"detail": error.detail, "details": error.details}
    return "ok", answer.agent.name.removeprefix("agents/")


async def test_a_removed_key_stops_working_after_the_same_time_on_both_transports(
    core: Loopy, keys: KeysOnFile, clock: Clock, http: Any, grpc_stub: rpc.LoopyServiceStub
) -> None:
    admin = core.authenticate(core.bootstrap_admin("admin").api_key)
    created = core.create_agent(admin, CreateAgentRequest(name="leaving"))
    header = f"Bearer {created.api_key}"
    me = ("ok", created.agent.id)
    assert await who_http(http, header) == me
    assert await who_grpc(grpc_stub, header) == me

    keys.remove(created.api_key)
    clock.now += TTL_S - 0.1  # still inside the time a resolved key is trusted
    assert await who_http(http, header) == me
    assert await who_grpc(grpc_stub, header) == me

    clock.now += 0.2  # past it: refused everywhere, with the same error
    on_http, on_grpc = await who_http(http, header), await who_grpc(grpc_stub, header)
    assert on_http[0] == "UNAUTHENTICATED"
    assert on_http == on_grpc


@pytest.mark.parametrize(
    "header",
    [None, "", "Basic dXNlcjpwYXNz", "Bearer", "Bearer   ", "loopy_bare-key", "Bearer loopy_nope"],
)
async def test_missing_malformed_and_unknown_keys_get_the_same_error_on_both(
    http: Any, grpc_stub: rpc.LoopyServiceStub, header: str | None
) -> None:
    on_http, on_grpc = await who_http(http, header), await who_grpc(grpc_stub, header)
    assert on_http[0] == "UNAUTHENTICATED"
    assert on_http == on_grpc
    assert on_http[1]["details"]  # says where the key goes, or which key was refused
