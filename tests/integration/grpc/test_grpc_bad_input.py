"""Hostile and odd input over gRPC never yields INTERNAL: NUL characters in ids and
request ids, 64-bit extremes, concurrent parses and concurrent retries of one
proposal. On PostgreSQL (where NUL and 64-bit limits bite) and SQLite."""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from typing import Any

import grpc
import pytest

from service.domain.errors import ErrorCode
from service.domain.service import Loopy
from service.grpc.errors import error_from_rpc
from service.grpc.gen.loopy.v1 import loopy_service_pb2 as api
from service.grpc.gen.loopy.v1 import loopy_service_pb2_grpc as rpc
from service.grpc.gen.loopy.v1 import resources_pb2 as pb
from tests.support.cores import harness_record, make_core

Stub = rpc.LoopyServiceStub


@pytest.fixture
def core(sql_store_url: str) -> Iterator[Loopy]:
    core = make_core(sql_store_url)
    core.meta.put_harness(harness_record())
    yield core
    core.meta.close()


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


async def refused(call: Any) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    error = failed.value
    assert error.code() is not grpc.StatusCode.INTERNAL, error.details()
    return error


@pytest.fixture
async def track(stub: Stub, admin_key: str, baseline_source: str) -> pb.Track:
    answer = await stub.CreateTrack(
        api.CreateTrackRequest(
            track_id="bad-input",
            harness_id="harness0001",
            baseline_source=baseline_source,
            policy=pb.DecisionPolicy(calibration_runs=1),
        ),
        metadata=auth(admin_key),
    )
    return answer.track


async def test_nul_in_request_id_is_invalid_and_stores_nothing(
    stub: Stub, core: Loopy, admin_key: str, track: pb.Track
) -> None:
    before, _ = core.meta.list_runs(track_id=track.id, page_size=100)
    error = await refused(
        stub.LaunchRun(
            api.LaunchRunRequest(track_id=track.id, request_id="retry\x00-1"),
            metadata=auth(admin_key),
        )
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    assert error_from_rpc(error).details["field"] == "request_id"
    after, _ = core.meta.list_runs(track_id=track.id, page_size=100)
    assert len(after) == len(before)


async def test_nul_in_ids_is_a_client_error(stub: Stub, admin_key: str, track: pb.Track) -> None:
    md = auth(admin_key)
    for call in (
        stub.GetRun(api.GetRunRequest(run_id="run\x00x"), metadata=md),
        stub.GetTrack(api.GetTrackRequest(track_id="bad\x00input"), metadata=md),
        stub.GetMetrics(api.GetMetricsRequest(run_id="run\x00x"), metadata=md),
        stub.GetRevision(api.GetRevisionRequest(revision_id="ab\x00cd"), metadata=md),
    ):
        error = await refused(call)
        assert error_from_rpc(error).code in (ErrorCode.INVALID_ARGUMENT, ErrorCode.NOT_FOUND)


async def test_extreme_since_step_is_answered(stub: Stub, admin_key: str, track: pb.Track) -> None:
    md = auth(admin_key)
    run = (await stub.LaunchRun(api.LaunchRunRequest(track_id=track.id), metadata=md)).run
    answer = await stub.GetMetrics(
        api.GetMetricsRequest(run_id=run.id, since_step=2**63 - 1), metadata=md
    )
    assert list(answer.points) == []
    error = await refused(
        stub.GetMetrics(api.GetMetricsRequest(run_id=run.id, since_step=-(2**63)), metadata=md)
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT


def _edit(value: str, **extra: Any) -> Any:
    return api.ProposeEditRequest(
        track_id="bad-input",
        search_replace=pb.SearchReplaceEdit(
            blocks=[pb.SearchReplaceBlock(search="LEARNING_RATE = 3e-4", replace=value)]
        ),
        **extra,
    )


async def test_concurrent_proposals_never_fail_inside_the_parser(
    stub: Stub, admin_key: str, track: pb.Track
) -> None:
    md = auth(admin_key)
    nested = ["LEARNING_RATE = " + "(" * 80 + str(i) + ")" * 80 for i in range(20)]
    answers = await asyncio.gather(*(stub.ProposeEdit(_edit(v), metadata=md) for v in nested))
    assert len({a.revision.id for a in answers}) == 20


async def test_propose_edit_is_idempotent_under_twenty_concurrent_retries(
    stub: Stub, core: Loopy, admin_key: str, track: pb.Track
) -> None:
    md = auth(admin_key)
    request = _edit("LEARNING_RATE = 5e-4", request_id="propose-once", description="once")
    answers = await asyncio.gather(*(stub.ProposeEdit(request, metadata=md) for _ in range(20)))
    assert len({(a.proposal_id, a.revision.id) for a in answers}) == 1
    proposals, _ = core.meta.list_proposals(track.id, None, 100, "")
    assert [p.request_id for p in proposals].count("propose-once") == 1
