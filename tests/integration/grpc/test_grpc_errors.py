"""SPEC §8 over gRPC: every error class reaches the caller with the status of the
one error table and the machine-readable trailer; plus idempotency, health and
reflection."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import grpc
import pytest
from grpc_health.v1 import health_pb2, health_pb2_grpc
from grpc_reflection.v1alpha import reflection_pb2, reflection_pb2_grpc

from service.domain.errors import ErrorCode
from service.domain.service import Loopy
from service.grpc.errors import ERROR_METADATA_KEY, RETRY_AFTER_METADATA_KEY, error_from_rpc
from service.grpc.gen.loopy.v1 import loopy_service_pb2 as api
from service.grpc.gen.loopy.v1 import loopy_service_pb2_grpc as rpc
from service.grpc.gen.loopy.v1 import resources_pb2 as pb

Stub = rpc.LoopyServiceStub


def auth(key: str) -> tuple[tuple[str, str], ...]:
    return (("authorization", f"Bearer {key}"),)


async def fails(call: Awaitable[Any]) -> grpc.aio.AioRpcError:
    with pytest.raises(grpc.aio.AioRpcError) as failed:
        await call
    return failed.value


async def make_track(stub: Stub, key: str, source: str) -> pb.Track:
    answer = await stub.CreateTrack(
        api.CreateTrackRequest(
            track_id="cpu-test",
            harness_id="harness0001",
            baseline_source=source,
            policy=pb.DecisionPolicy(calibration_runs=1),
        ),
        metadata=auth(key),
    )
    return answer.track


async def test_missing_bad_and_malformed_keys_are_unauthenticated(stub: Stub) -> None:
    request = api.ListTracksRequest()
    for metadata in [(), auth("loopy_not-a-key"), (("authorization", "Basic dXNlcg=="),)]:
        error = await fails(stub.ListTracks(request, metadata=metadata))
        assert error.code() is grpc.StatusCode.UNAUTHENTICATED
        assert error_from_rpc(error).code is ErrorCode.UNAUTHENTICATED


async def test_unknown_ids_are_not_found(stub: Stub, admin_key: str, baseline_source: str) -> None:
    await make_track(stub, admin_key, baseline_source)
    md = auth(admin_key)
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: stub.GetTrack(api.GetTrackRequest(track_id="nope"), metadata=md),
        lambda: stub.GetProgram(api.GetProgramRequest(track_id="nope"), metadata=md),
        lambda: stub.GetRun(api.GetRunRequest(run_id="run_nope"), metadata=md),
        lambda: stub.GetRevision(api.GetRevisionRequest(revision_id="ab" * 32), metadata=md),
        lambda: stub.GetHarness(api.GetHarnessRequest(harness_id="nope"), metadata=md),
        lambda: stub.GetAgent(api.GetAgentRequest(agent_id="agent_nope"), metadata=md),
        lambda: stub.GetMetrics(api.GetMetricsRequest(run_id="run_nope"), metadata=md),
        lambda: stub.CancelRun(api.CancelRunRequest(run_id="run_nope"), metadata=md),
        lambda: stub.LaunchRun(api.LaunchRunRequest(track_id="nope"), metadata=md),
        lambda: stub.GetEvaluation(
            api.GetEvaluationRequest(run_id="run_nope", evaluation_id="eval_nope"), metadata=md
        ),
    ]
    for call in calls:
        error = await fails(call())
        assert error.code() is grpc.StatusCode.NOT_FOUND, error.details()
        assert error_from_rpc(error).code is ErrorCode.NOT_FOUND

    stream = stub.WatchRun(api.WatchRunRequest(run_id="run_nope"), metadata=md)
    with pytest.raises(grpc.aio.AioRpcError) as watched:
        async for _ in stream:
            pass
    assert watched.value.code() is grpc.StatusCode.NOT_FOUND


async def test_bad_fields_and_page_tokens_are_invalid_argument(
    stub: Stub, admin_key: str, baseline_source: str
) -> None:
    await make_track(stub, admin_key, baseline_source)
    md = auth(admin_key)
    calls: list[Callable[[], Awaitable[Any]]] = [
        lambda: stub.ListTracks(api.ListTracksRequest(page_token="forged"), metadata=md),
        lambda: stub.ListRuns(
            api.ListRunsRequest(track_id="cpu-test", page_token="forged"), metadata=md
        ),
        lambda: stub.ListTracks(api.ListTracksRequest(page_size=-1), metadata=md),
        # proto3 enums are open: an unknown number must be refused, not ignored.
        lambda: stub.ListRuns(api.ListRunsRequest(track_id="cpu-test", state=99), metadata=md),  # type: ignore[arg-type]
        lambda: stub.CreateTrack(
            api.CreateTrackRequest(track_id="Not An Id!", harness_id="harness0001"), metadata=md
        ),
        lambda: stub.ProposeEdit(api.ProposeEditRequest(track_id="cpu-test"), metadata=md),
        lambda: stub.ProposeEdit(
            api.ProposeEditRequest(track_id="cpu-test", full_source="def broken(:\n"),
            metadata=md,
        ),
    ]
    for call in calls:
        error = await fails(call())
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT, error.details()
        assert error_from_rpc(error).code is ErrorCode.INVALID_ARGUMENT

    syntax = error_from_rpc(
        await fails(
            stub.ProposeEdit(
                api.ProposeEditRequest(track_id="cpu-test", full_source="def broken(:\n"),
                metadata=md,
            )
        )
    )
    assert syntax.details  # where the syntax error is


async def test_oversize_requests(stub: Stub, admin_key: str, baseline_source: str) -> None:
    await make_track(stub, admin_key, baseline_source)
    md = auth(admin_key)
    # Over max_request_bytes (64 KiB here): PAYLOAD_TOO_LARGE, INVALID_ARGUMENT on the wire.
    big = baseline_source + "#" * (80 * 1024) + "\n"
    error = await fails(
        stub.ProposeEdit(api.ProposeEditRequest(track_id="cpu-test", full_source=big), metadata=md)
    )
    assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
    decoded = error_from_rpc(error)
    assert decoded.code is ErrorCode.PAYLOAD_TOO_LARGE
    assert decoded.details["limit_bytes"] == 64 * 1024
    # Past the transport's hard cap gRPC itself refuses the bytes.
    huge = "#" * (400 * 1024)
    error = await fails(
        stub.ProposeEdit(api.ProposeEditRequest(track_id="cpu-test", full_source=huge), metadata=md)
    )
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED


async def test_cancel_finished_run_is_failed_precondition(
    stub: Stub, admin_key: str, baseline_source: str, play: Callable[..., Any]
) -> None:
    await make_track(stub, admin_key, baseline_source)
    md = auth(admin_key)
    run = (await stub.LaunchRun(api.LaunchRunRequest(track_id="cpu-test"), metadata=md)).run
    play(run.id, None)  # the run fails
    error = await fails(stub.CancelRun(api.CancelRunRequest(run_id=run.id), metadata=md))
    assert error.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_from_rpc(error).code is ErrorCode.FAILED_PRECONDITION


async def test_stale_promotion_is_aborted_with_the_current_head(
    stub: Stub, core: Loopy, admin_key: str, baseline_source: str, play: Callable[..., Any]
) -> None:
    track = await make_track(stub, admin_key, baseline_source)
    md = auth(admin_key)
    runs = []
    for lr in ("6e-4", "1e-3"):
        revision = (
            await stub.ProposeEdit(
                api.ProposeEditRequest(
                    track_id="cpu-test",
                    full_source=baseline_source.replace("3e-4", lr),
                ),
                metadata=md,
            )
        ).revision
        run = (
            await stub.LaunchRun(
                api.LaunchRunRequest(track_id="cpu-test", revision_id=revision.id), metadata=md
            )
        ).run
        play(run.id, 1.2)
        runs.append(run)

    # Without a KEEP the head does not move: FAILED_PRECONDITION, even for an admin.
    no_keep = await fails(
        stub.PromoteRun(api.PromoteRunRequest(track_id="cpu-test", run_id=runs[0].id), metadata=md)
    )
    assert no_keep.code() is grpc.StatusCode.FAILED_PRECONDITION
    assert error_from_rpc(no_keep).details["current_head"] == track.head_revision
    # Forced (admin, with a reason) promotions from the same base: the second is stale.
    first = await stub.PromoteRun(
        api.PromoteRunRequest(
            track_id="cpu-test",
            run_id=runs[0].id,
            expected_head_revision=track.head_revision,
            force=True,
            reason="first",
        ),
        metadata=md,
    )
    assert first.track.head_revision == runs[0].revision_id
    error = await fails(
        stub.PromoteRun(
            api.PromoteRunRequest(
                track_id="cpu-test",
                run_id=runs[1].id,
                expected_head_revision=track.head_revision,
                force=True,
                reason="second",
            ),
            metadata=md,
        )
    )
    assert error.code() is grpc.StatusCode.ABORTED
    decoded = error_from_rpc(error)
    assert decoded.code is ErrorCode.CONFLICT
    assert runs[0].revision_id in str(decoded.details)


async def test_quota_is_resource_exhausted_with_retry_advice(
    stub: Stub, admin_key: str, baseline_source: str
) -> None:
    await make_track(stub, admin_key, baseline_source)
    created = await stub.CreateAgent(
        api.CreateAgentRequest(display_name="eager", quota=pb.AgentQuota(max_queued_runs=1)),
        metadata=auth(admin_key),
    )
    md = auth(created.api_key)
    await stub.LaunchRun(api.LaunchRunRequest(track_id="cpu-test"), metadata=md)
    error = await fails(stub.LaunchRun(api.LaunchRunRequest(track_id="cpu-test"), metadata=md))
    assert error.code() is grpc.StatusCode.RESOURCE_EXHAUSTED
    trailers = dict(error.trailing_metadata() or ())
    assert float(trailers[RETRY_AFTER_METADATA_KEY]) > 0
    assert ERROR_METADATA_KEY in trailers
    decoded = error_from_rpc(error)
    assert decoded.code is ErrorCode.RESOURCE_EXHAUSTED
    assert decoded.retry_after_s == float(trailers[RETRY_AFTER_METADATA_KEY])


async def test_agent_key_on_admin_rpc_is_permission_denied(stub: Stub, admin_key: str) -> None:
    created = await stub.CreateAgent(
        api.CreateAgentRequest(display_name="plain"), metadata=auth(admin_key)
    )
    error = await fails(
        stub.CreateHarness(api.CreateHarnessRequest(demo=True), metadata=auth(created.api_key))
    )
    assert error.code() is grpc.StatusCode.PERMISSION_DENIED
    assert error_from_rpc(error).code is ErrorCode.PERMISSION_DENIED


async def test_same_request_id_creates_one_resource(
    stub: Stub, core: Loopy, admin_key: str, baseline_source: str
) -> None:
    md = auth(admin_key)
    create = api.CreateTrackRequest(
        track_id="cpu-test",
        harness_id="harness0001",
        baseline_source=baseline_source,
        policy=pb.DecisionPolicy(calibration_runs=1),
        request_id="create-1",
    )
    first_track = (await stub.CreateTrack(create, metadata=md)).track
    again_track = (await stub.CreateTrack(create, metadata=md)).track
    assert again_track == first_track

    submitted = len(core.dispatcher.submitted_ids)  # type: ignore[attr-defined]
    launch = api.LaunchRunRequest(track_id="cpu-test", request_id="launch-1")
    first = (await stub.LaunchRun(launch, metadata=md)).run
    again = (await stub.LaunchRun(launch, metadata=md)).run
    assert again.id == first.id
    assert len(core.dispatcher.submitted_ids) == submitted + 1  # type: ignore[attr-defined]
    runs = await stub.ListRuns(api.ListRunsRequest(track_id="cpu-test"), metadata=md)
    assert [r.id for r in runs.runs].count(first.id) == 1

    propose = api.ProposeEditRequest(
        track_id="cpu-test",
        full_source=baseline_source.replace("3e-4", "5e-4"),
        request_id="edit-1",
    )
    proposal = await stub.ProposeEdit(propose, metadata=md)
    retried = await stub.ProposeEdit(propose, metadata=md)
    assert retried.revision.id == proposal.revision.id
    proposals = await stub.ListProposals(api.ListProposalsRequest(track_id="cpu-test"), metadata=md)
    assert len(proposals.proposals) == 1


async def test_health_is_serving(channel: grpc.aio.Channel) -> None:
    health = health_pb2_grpc.HealthStub(channel)
    for service in ("", "loopy.v1.LoopyService"):
        answer = await health.Check(health_pb2.HealthCheckRequest(service=service))
        assert answer.status == health_pb2.HealthCheckResponse.SERVING


async def test_health_reads_not_serving_when_the_store_is_down(
    channel: grpc.aio.Channel, core: Loopy, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(core.meta, "ping", lambda: False)
    health = health_pb2_grpc.HealthStub(channel)
    answer = await health.Check(health_pb2.HealthCheckRequest(service="loopy.v1.LoopyService"))
    assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING


async def test_reflection_lists_the_service(channel: grpc.aio.Channel) -> None:
    reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
    call = reflection.ServerReflectionInfo(
        iter(
            [
                reflection_pb2.ServerReflectionRequest(list_services=""),
                reflection_pb2.ServerReflectionRequest(
                    file_containing_symbol="loopy.v1.LoopyService"
                ),
            ]
        )
    )
    answers = [answer async for answer in call]
    names = {s.name for s in answers[0].list_services_response.service}
    assert {"loopy.v1.LoopyService", "grpc.health.v1.Health"} <= names
    assert answers[1].file_descriptor_response.file_descriptor_proto  # clients can build stubs


async def test_malformed_bodies_are_invalid_argument(
    channel: grpc.aio.Channel, admin_key: str
) -> None:
    # Raw bytes, as a client without the stubs (or a broken one) could send them.
    raw_call = channel.unary_unary("/loopy.v1.LoopyService/GetTrack")
    for body in [b"\x0a\x02\xff\xfe", b"\xff\xff\xff", b"\x0a\x05ab"]:  # bad UTF-8, corrupt
        error = await fails(raw_call(body, metadata=auth(admin_key)))
        assert error.code() is grpc.StatusCode.INVALID_ARGUMENT
        assert error_from_rpc(error).code is ErrorCode.INVALID_ARGUMENT
    raw_stream = channel.unary_stream("/loopy.v1.LoopyService/WatchRun")
    with pytest.raises(grpc.aio.AioRpcError) as watched:
        async for _ in raw_stream(b"\xff\xff\xff", metadata=auth(admin_key)):
            pass
    assert watched.value.code() is grpc.StatusCode.INVALID_ARGUMENT
