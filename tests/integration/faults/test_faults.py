"""Nothing lost, nothing stuck: with runs queued and running, the broker restarts
empty, the database goes away for longer than the claim retry window, the object
store is cut and comes back empty, a worker is SIGTERMed twice during one run and
the API dies between storing a run and publishing it. Every run ends SUCCEEDED
exactly once, with its artifacts.

The tests share one stack (module scope) and run in file order. Each prints a
`FAULT-FIGURES` line (launched / succeeded / retried / lost / stuck / recover_s)."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import pytest

from service.domain.errors import Unavailable
from service.domain.models import LaunchRunRequest, RunState

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

# Stands in for the API process: it stores the run, then is killed (SIGKILL) at the
# very moment it would publish the message.
DIE_BEFORE_PUBLISH = """
import os, signal, sys
from service.domain.models import LaunchRunRequest
from service.settings import load_settings
from service.wiring import build_core

core = build_core(load_settings())
admin = core.authenticate(sys.argv[2])
core.dispatcher.submit = lambda run: os.kill(os.getpid(), signal.SIGKILL)
core.launch_run(admin, LaunchRunRequest(track_id=sys.argv[1], request_id=sys.argv[3]))
"""


def test_calibration_run_of_the_track_succeeds(stack) -> None:
    [run], _ = stack.core.meta.list_runs(track_id=stack.track_id)
    stack.wait_terminal([run.id], timeout_s=120)
    stack.assert_all_succeeded_once_with_artifacts([run.id])


def test_api_killed_between_storing_and_publishing(stack) -> None:
    died = subprocess.run(
        [sys.executable, "-c", DIE_BEFORE_PUBLISH, stack.track_id, stack.admin_key, "killed-1"],
        env=stack.env,
        capture_output=True,
        timeout=120,
    )
    assert died.returncode == -signal.SIGKILL, died.stderr.decode()[-2000:]
    killed_at = time.monotonic()
    run_id = stack.core.meta.get_request(stack.admin.agent_id, "run", "killed-1")
    assert run_id is not None
    assert stack.core.meta.get_run(run_id).state is RunState.QUEUED  # stored, never published
    # The agent's retry with the same request id is the same run, not a second one.
    retry = stack.core.launch_run(
        stack.admin, LaunchRunRequest(track_id=stack.track_id, request_id="killed-1")
    )
    assert retry.id == run_id
    stack.wait_terminal([run_id], timeout_s=120)
    stack.report("api killed between store and publish", [run_id], time.monotonic() - killed_at)
    stack.assert_all_succeeded_once_with_artifacts([run_id])


def test_broker_restarted_without_persistence(stack) -> None:
    run_ids = stack.launch(4)
    stack.wait_until("two runs RUNNING", stack.running(run_ids, 2), timeout_s=120)
    stack.redis.stop()  # every queued message (and the unacked ones) is gone
    time.sleep(2)
    stack.redis.start()
    restarted_at = time.monotonic()
    runs = stack.wait_terminal(run_ids, timeout_s=180)
    figures = stack.report(
        "broker restart, no persistence", run_ids, time.monotonic() - restarted_at
    )
    assert figures["stuck"] == 0 and figures["lost"] == 0
    assert all(r.attempt == 1 for r in runs)
    stack.assert_all_succeeded_once_with_artifacts(run_ids)


def test_database_down_longer_than_the_claim_window(stack) -> None:
    window_s = float(stack.env["LOOPY_CLAIM_RETRY_WINDOW_S"])
    # 1: messages arrive while the database is down: claims fail for longer than the
    # window and the messages must go back to the broker, not be acknowledged away.
    stack.pg.stop()
    with pytest.raises(Unavailable):  # the API says 503 and stores nothing
        stack.launch(1)
    stack.pg.start()
    publish = stack.core.dispatcher.submit
    stack.core.dispatcher.submit = lambda run: None  # stored now, published below
    try:
        first = stack.launch(2)
    finally:
        stack.core.dispatcher.submit = publish
    stored = stack.runs(first)
    stack.pg.stop()
    for run in stored:
        publish(run)
    time.sleep(window_s + 6)
    stack.pg.start()
    restarted_at = time.monotonic()
    stack.wait_terminal(first, timeout_s=180)
    stack.report("db down (claims) > claim window", first, time.monotonic() - restarted_at)
    stack.assert_all_succeeded_once_with_artifacts(first)
    # 2: runs finish training while the database is down: their results wait in the
    # workers' spools and are delivered when it is back, not trained again; one of
    # the two workers even crashes meanwhile, and its successor delivers the spool.
    second = stack.launch(2)
    stack.wait_until("both runs training", stack.seen_training(second), 120)
    stack.pg.stop()
    stack.wait_until("a result in a spool", lambda: bool(stack.spooled()), 60)
    slot = stack.spooled()[0].parent.parent.name.removeprefix("spool-")
    stack.kill_worker(slot)
    stack.start_worker(slot)  # the same slot: it finds its predecessor's spool
    time.sleep(window_s + 6)
    stack.pg.start()
    restarted_at = time.monotonic()
    stack.wait_terminal(second, timeout_s=180)
    figures = stack.report(
        "db down (results) > claim window", second, time.monotonic() - restarted_at
    )
    assert figures["retried"] == 0, "a finished run was trained again\n" + stack.logs()
    stack.wait_until("the spools to empty", lambda: stack.spooled() == [], 30)
    assert stack.worker_events("spool.redeliver"), "the restarted worker delivered its spool"
    stack.assert_all_succeeded_once_with_artifacts(second)


def test_worker_sigterm_twice_during_one_run(stack) -> None:
    # A longer budget, so that each SIGTERM lands while the run is training.
    calibration_track = stack.track_id
    track_id = stack.make_track(budget_s=8.0)
    [calibration], _ = stack.core.meta.list_runs(track_id=track_id)
    stack.wait_terminal([calibration.id], timeout_s=120)
    [run_id] = stack.launch(1)
    stack.track_id = calibration_track
    started = time.monotonic()
    for restart in ("a2", "b2"):
        stack.wait_until("the run training", stack.training(run_id), timeout_s=120)
        victim = stack.worker_of(stack.core.meta.get_run(run_id))
        proc = stack.workers.pop(victim)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=30) == 0  # a graceful stop, well within the grace
        stack.start_worker(restart)
    stack.wait_terminal([run_id], timeout_s=180)
    stack.report("worker SIGTERM twice in one run", [run_id], time.monotonic() - started)
    run = stack.core.meta.get_run(run_id)
    assert run.attempt == 1, "a graceful stop must not spend the run's retry"
    assert stack.state_history(run_id) == [
        "QUEUED",
        "RUNNING",
        "QUEUED",
        "RUNNING",
        "QUEUED",
        "RUNNING",
        "SUCCEEDED",
    ]
    stack.assert_all_succeeded_once_with_artifacts([run_id])


def test_object_store_cut_then_restarted_empty(stack) -> None:
    run_ids = stack.launch(4)
    stack.wait_until("two runs training", stack.seen_training(run_ids[:2]), 120)
    stack.s3_proxy.cut()
    time.sleep(8)  # training ends meanwhile; uploads fail and wait in the spool
    stack.s3.stop()
    stack.s3.start()  # empty: no bucket, no object
    stack.s3_proxy.target_port = stack.s3.port
    stack.s3_proxy.restore()
    restored_at = time.monotonic()
    stack.wait_terminal(run_ids, timeout_s=180)
    figures = stack.report(
        "object store cut 8 s, back empty", run_ids, time.monotonic() - restored_at
    )
    assert figures["stuck"] == 0 and figures["lost"] == 0
    stack.assert_all_succeeded_once_with_artifacts(run_ids)


def test_worker_sigterm_with_a_grace_finishes_the_run_first(stack) -> None:
    for name in list(stack.workers):
        proc = stack.workers.pop(name)
        os.kill(proc.pid, signal.SIGTERM)
        assert proc.wait(timeout=60) == 0
    stack.start_worker("graceful", LOOPY_WORKER_SHUTDOWN_GRACE_S="60")
    stack.wait_for_consumers(1)
    [run_id] = stack.launch(1)
    stack.wait_until("the run training", stack.training(run_id), timeout_s=120)
    stopping = time.monotonic()
    proc = stack.workers.pop("graceful")
    os.kill(proc.pid, signal.SIGTERM)
    assert proc.wait(timeout=90) == 0  # it stopped after the run, well within the grace
    stack.report("worker SIGTERM within grace", [run_id], time.monotonic() - stopping)
    assert stack.state_history(run_id) == ["QUEUED", "RUNNING", "SUCCEEDED"]
    stack.assert_all_succeeded_once_with_artifacts([run_id])


def test_every_transport_answers_503_with_retry_after_while_the_database_is_down(stack) -> None:
    import asyncio

    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc
    from litestar.testing import TestClient

    from service.grpc.errors import RETRY_AFTER_METADATA_KEY
    from service.grpc.gen.loopy.v1 import loopy_service_pb2 as api
    from service.grpc.gen.loopy.v1 import loopy_service_pb2_grpc as rpc
    from service.grpc.server import create_grpc_server
    from service.http.app import create_app

    auth = {"Authorization": f"Bearer {stack.admin_key}"}
    stack.pg.stop()
    try:
        with TestClient(app=create_app(stack.core, stack.settings)) as client:
            for method, path, body in (
                ("GET", "/v1/tracks", None),
                ("GET", f"/v1/tracks/{stack.track_id}/program", None),
                ("POST", "/v1/runs", {"track_id": stack.track_id}),
                ("GET", "/v1/runs/run_x/metrics", None),
                ("GET", "/readyz", None),
            ):
                response = client.request(method, path, json=body, headers=auth)
                assert response.status_code == 503, (path, response.text)
                assert int(response.headers["Retry-After"]) >= 1, path

        async def over_grpc() -> None:
            server, port = create_grpc_server(stack.core, "127.0.0.1:0")
            await server.start()
            try:
                async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
                    stub = rpc.LoopyServiceStub(channel)
                    md = (("authorization", f"Bearer {stack.admin_key}"),)
                    for call in (
                        stub.ListTracks(api.ListTracksRequest(), metadata=md),
                        stub.LaunchRun(api.LaunchRunRequest(track_id=stack.track_id), metadata=md),
                    ):
                        with pytest.raises(grpc.aio.AioRpcError) as failed:
                            await call
                        assert failed.value.code() is grpc.StatusCode.UNAVAILABLE
                        trailers = dict(failed.value.trailing_metadata() or ())
                        assert float(trailers[RETRY_AFTER_METADATA_KEY]) > 0
                    health = health_pb2_grpc.HealthStub(channel)
                    answer = await health.Check(health_pb2.HealthCheckRequest(service=""))
                    assert answer.status == health_pb2.HealthCheckResponse.NOT_SERVING
            finally:
                await server.stop(None)

        asyncio.run(over_grpc())
    finally:
        stack.pg.start()
    with TestClient(app=create_app(stack.core, stack.settings)) as client:
        stack.wait_until(
            "/readyz to say ready", lambda: client.get("/readyz").status_code == 200, 30
        )
