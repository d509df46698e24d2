"""API load benchmark: GetRun and GetMetrics (one run, 1 000 metric points) under
64 concurrent clients, over HTTP and gRPC, against an MLflow tracking server
serving the same run and metric history from its own store, measured side by side.

    python bench/api_load.py                  # everything (installs MLflow on first use)
    python bench/api_load.py --skip-mlflow    # Loopy only
    python bench/api_load.py --clients 64 --seconds 10

Each server runs in its own process, as deployed: `loopy serve` (HTTP and gRPC in
one process, SQLite, the embedded default) and `mlflow server` (SQLite backend,
its default workers) in a virtual environment of its own (bench/.venv-mlflow).
The load generator is one asyncio process: a minimal keep-alive HTTP/1.1 client
(the same for Loopy and MLflow, so client cost is equal) and a grpc.aio channel.
Results go to stdout and to bench/results/api_load.json. This is a benchmark,
not a test: it reports numbers and ratios, it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import platform
import signal
import socket
import subprocess
import sys
import tempfile
import textwrap
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))

MLFLOW_VENV = REPO / "bench" / ".venv-mlflow"
RESULTS = REPO / "bench" / "results" / "api_load.json"
POINTS = 1_000
MLFLOW_WORKERS = 4  # `mlflow server`'s default; Loopy serves HTTP and gRPC from one process

# --- Seeding Loopy -----------------------------------------------------------------------


def seed_loopy(data_dir: Path) -> tuple[str, str]:
    """A finished run with POINTS loss points in the embedded SQLite store: (run_id, key)."""
    from service.domain.models import (
        Harness,
        MetricPoint,
        RunOutcome,
        RunState,
        RunSummary,
    )
    from service.domain.service import CreateTrackRequest, DecisionPolicy, LaunchRunRequest
    from service.settings import Settings
    from service.wiring import build_core
    from tests.support.fakes import RecordingDispatcher

    core = build_core(Settings(data_dir=str(data_dir)), dispatcher=RecordingDispatcher())
    try:
        admin = core.bootstrap_admin("bench-admin")
        principal = core.authenticate(admin.api_key)
        core.meta.put_harness(
            Harness(
                id="bench00000000000",
                description="benchmark harness (metadata only)",
                vocab_size=8192,
                seq_len=512,
                eval_tokens=1 << 20,
                bos_token_id=0,
                time_budget_s=300.0,
                metric="val_bpb",
                files={},
                size_bytes=0,
                create_time=datetime.now(UTC),
            )
        )
        track = core.create_track(
            principal,
            CreateTrackRequest(
                track_id="bench",
                harness_id="bench00000000000",
                policy=DecisionPolicy(calibration_runs=1),
            ),
        )
        for calibration in core.meta.list_runs(track_id=track.id, states=[RunState.QUEUED])[0]:
            _finish(core, calibration.id, [], RunOutcome, RunState, RunSummary)
        run = core.launch_run(principal, LaunchRunRequest(track_id=track.id))
        points = [
            MetricPoint(step=step, name="loss", value=5.0 / (1 + step), wall_seconds=0.3 * step)
            for step in range(POINTS)
        ]
        _finish(core, run.id, points, RunOutcome, RunState, RunSummary)
        return run.id, admin.api_key
    finally:
        core.meta.close()


def _finish(
    core: Any, run_id: str, points: list[Any], outcome: Any, state: Any, summary: Any
) -> None:
    core.claim_run(run_id, "bench-worker")
    for start in range(0, len(points), 250):
        core.record_metrics(run_id, points[start : start + 250])
    core.complete_run(
        run_id,
        "bench-worker",
        outcome(
            state=state.SUCCEEDED,
            summary=summary(
                val_bpb=1.0, training_seconds=300.0, num_steps=POINTS, device_name="cpu"
            ),
        ),
    )


# --- Processes -------------------------------------------------------------------------


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


def wait_http(url: str, process: subprocess.Popen[bytes], timeout_s: float = 120) -> None:
    import httpx

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if process.poll() is not None:
            raise RuntimeError(f"server exited with {process.returncode} before {url} answered")
        try:
            if httpx.get(url, timeout=2).status_code == 200:
                return
        except httpx.TransportError:
            pass
        time.sleep(0.3)
    raise RuntimeError(f"{url} did not answer in {timeout_s} s")


def stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        os.killpg(process.pid, signal.SIGTERM)
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(process.pid, signal.SIGKILL)
            process.wait()


def start_loopy(data_dir: Path) -> tuple[subprocess.Popen[bytes], int, int]:
    http_port, grpc_port = free_port(), free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPY_")}
    env.update(
        LOOPY_DATA_DIR=str(data_dir),
        LOOPY_LOG_LEVEL="warning",
        LOOPY_LOG_FORMAT="json",
        PYTHONPATH=str(REPO),
    )
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "service.cli",
            "serve",
            "--http-port",
            str(http_port),
            "--grpc-port",
            str(grpc_port),
        ],
        env=env,
        cwd=REPO,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_http(f"http://127.0.0.1:{http_port}/readyz", process)
    return process, http_port, grpc_port


def ensure_mlflow() -> Path:
    python = MLFLOW_VENV / "bin" / "python"
    if not (MLFLOW_VENV / "bin" / "mlflow").exists():
        print("installing MLflow into bench/.venv-mlflow (first run only) ...", flush=True)
        subprocess.run([sys.executable, "-m", "venv", str(MLFLOW_VENV)], check=True)
        subprocess.run([str(python), "-m", "pip", "install", "-q", "mlflow"], check=True)
    return python


MLFLOW_SEED = textwrap.dedent(
    """
    import sys, time
    from mlflow.entities import Metric, Param
    from mlflow.tracking import MlflowClient
    client = MlflowClient(tracking_uri=sys.argv[1])
    experiment = client.create_experiment("bench", artifact_location=sys.argv[2])
    run = client.create_run(experiment, run_name="bench")
    now = int(time.time() * 1000)
    points = [Metric("loss", 5.0 / (1 + s), now + 300 * s, s) for s in range({points})]
    for start in range(0, len(points), 1000):
        client.log_batch(run.info.run_id, metrics=points[start:start + 1000])
    client.log_batch(run.info.run_id, params=[Param("seed", "1"), Param("device", "cpu")])
    client.set_terminated(run.info.run_id)
    print(run.info.run_id)
    """
)


def start_mlflow(work: Path) -> tuple[subprocess.Popen[bytes], int, str, str]:
    python = ensure_mlflow()
    store = f"sqlite:///{work / 'mlflow.db'}"
    artifacts = (work / "mlflow-artifacts").as_uri()
    port = free_port()
    env = {**os.environ, "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false"}
    version = subprocess.run(
        [str(python), "-c", "import mlflow; print(mlflow.__version__)"],
        capture_output=True,
        text=True,
        check=True,
    ).stdout.strip()
    process = subprocess.Popen(
        [
            str(MLFLOW_VENV / "bin" / "mlflow"),
            "server",
            "--backend-store-uri",
            store,
            "--default-artifact-root",
            artifacts,
            "--host",
            "127.0.0.1",
            "--port",
            str(port),
            "--workers",
            str(MLFLOW_WORKERS),
        ],
        cwd=work,
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.DEVNULL,
        start_new_session=True,
    )
    wait_http(f"http://127.0.0.1:{port}/health", process, timeout_s=180)
    seeded = subprocess.run(
        [
            str(python),
            "-c",
            MLFLOW_SEED.format(points=POINTS),
            f"http://127.0.0.1:{port}",
            artifacts,
        ],
        capture_output=True,
        text=True,
        check=True,
        env=env,
    )
    return process, port, seeded.stdout.strip().splitlines()[-1], version


# --- Load generation ------------------------------------------------------------------


class HttpConnection:
    """One keep-alive HTTP/1.1 connection: the least client work per request."""

    def __init__(self, host: str, port: int) -> None:
        self.host, self.port = host, port
        self.reader: asyncio.StreamReader | None = None
        self.writer: asyncio.StreamWriter | None = None

    async def get(self, request: bytes) -> int:
        if self.writer is None:
            self.reader, self.writer = await asyncio.open_connection(self.host, self.port)
        assert self.reader is not None
        self.writer.write(request)
        head = await self.reader.readuntil(b"\r\n\r\n")
        status = int(head[9:12])
        headers = head.decode("latin-1").lower()
        if "transfer-encoding: chunked" in headers:
            while True:
                size = int((await self.reader.readline()).strip(), 16)
                await self.reader.readexactly(size + 2)
                if size == 0:
                    break
        else:
            marker = headers.index("content-length:") + len("content-length:")
            length = int(headers[marker : headers.index("\r\n", marker)])
            await self.reader.readexactly(length)
        if "connection: close" in headers:
            self.writer.close()
            self.writer = None
        return status


def http_request(path: str, port: int, key: str | None = None) -> bytes:
    lines = [f"GET {path} HTTP/1.1", f"Host: 127.0.0.1:{port}", "Accept: application/json"]
    if key:
        lines.append(f"Authorization: Bearer {key}")
    return ("\r\n".join(lines) + "\r\n\r\n").encode()


async def drive(
    make_call: Callable[[int], Callable[[], Awaitable[bool]]],
    clients: int,
    seconds: float,
    warmup_s: float,
) -> dict[str, Any]:
    """`clients` closed-loop clients for warmup + seconds; latencies of the measured part."""
    latencies: list[float] = []
    errors = 0
    measuring = False
    done = False

    async def client(index: int) -> None:
        nonlocal errors
        call = make_call(index)
        while not done:
            start = time.perf_counter()
            ok = await call()
            elapsed = time.perf_counter() - start
            if measuring:
                latencies.append(elapsed)
                errors += not ok

    tasks = [asyncio.create_task(client(i)) for i in range(clients)]
    await asyncio.sleep(warmup_s)
    measuring = True
    began = time.perf_counter()
    await asyncio.sleep(seconds)
    measuring = False
    wall = time.perf_counter() - began
    done = True
    await asyncio.gather(*tasks, return_exceptions=True)
    latencies.sort()
    n = len(latencies)

    def pct(q: float) -> float:
        return latencies[min(n - 1, int(q * n))] * 1000 if n else float("nan")

    return {
        "requests": n,
        "errors": errors,
        "rps": n / wall,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
    }


async def http_load(
    port: int, path: str, key: str | None, clients: int, seconds: float, warmup_s: float
) -> dict[str, Any]:
    request = http_request(path, port, key)

    def make_call(_index: int) -> Callable[[], Awaitable[bool]]:
        connection = HttpConnection("127.0.0.1", port)

        async def call() -> bool:
            try:
                return await connection.get(request) == 200
            except (OSError, asyncio.IncompleteReadError, ValueError):
                connection.writer = None
                return False

        return call

    return await drive(make_call, clients, seconds, warmup_s)


async def grpc_load(
    port: int, method: str, run_id: str, key: str, clients: int, seconds: float, warmup_s: float
) -> dict[str, Any]:
    import grpc

    from service.grpc.gen.loopy.v1 import loopy_service_pb2 as pb
    from service.grpc.gen.loopy.v1 import loopy_service_pb2_grpc as rpc

    metadata = (("authorization", f"Bearer {key}"),)
    async with grpc.aio.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = rpc.LoopyServiceStub(channel)
        if method == "GetRun":
            request: Any = pb.GetRunRequest(run_id=run_id)
            rpc_call = stub.GetRun
        else:
            request = pb.GetMetricsRequest(run_id=run_id)
            rpc_call = stub.GetMetrics
        answer = await rpc_call(request, metadata=metadata, timeout=10)  # fail fast if broken
        if method == "GetMetrics":
            assert len(answer.points) == POINTS, len(answer.points)

        def make_call(_index: int) -> Callable[[], Awaitable[bool]]:
            async def call() -> bool:
                try:
                    await rpc_call(request, metadata=metadata, timeout=30)
                    return True
                except grpc.aio.AioRpcError:
                    return False

            return call

        return await drive(make_call, clients, seconds, warmup_s)


# --- Main ------------------------------------------------------------------------------


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--clients", type=int, default=64)
    parser.add_argument("--seconds", type=float, default=10.0, help="measured seconds per case")
    parser.add_argument("--warmup", type=float, default=2.0, help="unmeasured seconds per case")
    parser.add_argument("--skip-mlflow", action="store_true")
    parser.add_argument("--skip-grpc", action="store_true")
    args = parser.parse_args()
    os.environ.setdefault("OMP_NUM_THREADS", "1")

    results: dict[str, dict[str, Any]] = {}
    load = {"clients": args.clients, "seconds": args.seconds, "warmup_s": args.warmup}
    with tempfile.TemporaryDirectory(prefix="loopy-bench-") as tmp:
        work = Path(tmp)
        run_id, key = seed_loopy(work / "loopy")
        server, http_port, grpc_port = start_loopy(work / "loopy")
        try:
            cases = {
                "GetRun": f"/v1/runs/{run_id}",
                "GetMetrics": f"/v1/runs/{run_id}/metrics",
            }
            for name, path in cases.items():
                print(f"loopy http {name} ...", flush=True)
                results[f"loopy-http/{name}"] = asyncio.run(
                    http_load(http_port, path, key, args.clients, args.seconds, args.warmup)
                )
                if not args.skip_grpc:
                    print(f"loopy grpc {name} ...", flush=True)
                    results[f"loopy-grpc/{name}"] = asyncio.run(
                        grpc_load(
                            grpc_port, name, run_id, key, args.clients, args.seconds, args.warmup
                        )
                    )
        finally:
            stop(server)

        mlflow_version = None
        if not args.skip_mlflow:
            mlflow, port, mlflow_run, mlflow_version = start_mlflow(work)
            try:
                cases = {
                    "GetRun": f"/api/2.0/mlflow/runs/get?run_id={mlflow_run}",
                    "GetMetrics": f"/api/2.0/mlflow/metrics/get-history?run_id={mlflow_run}&metric_key=loss",
                }
                for name, path in cases.items():
                    print(f"mlflow http {name} ...", flush=True)
                    results[f"mlflow-http/{name}"] = asyncio.run(
                        http_load(port, path, None, args.clients, args.seconds, args.warmup)
                    )
            finally:
                stop(mlflow)

    print()
    print(f"{'case':<24}{'req/s':>10}{'p50 ms':>10}{'p99 ms':>10}{'errors':>8}{'x MLflow':>10}")
    for case, r in results.items():
        op = case.split("/")[1]
        reference = results.get(f"mlflow-http/{op}")
        ratio = (
            f"{r['rps'] / reference['rps']:.1f}"
            if reference and not case.startswith("mlflow")
            else ""
        )
        r["throughput_vs_mlflow"] = float(ratio) if ratio else None
        print(
            f"{case:<24}{r['rps']:>10.0f}{r['p50_ms']:>10.1f}{r['p99_ms']:>10.1f}{r['errors']:>8}{ratio:>10}"
        )

    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(
        json.dumps(
            {
                "when": datetime.now(UTC).isoformat(),
                "machine": {"cpus": os.cpu_count(), "python": platform.python_version()},
                "load": load,
                "metric_points": POINTS,
                "mlflow_version": mlflow_version,
                "processes": {"loopy": 1, "mlflow": MLFLOW_WORKERS},
                "results": results,
            },
            indent=2,
        )
    )
    print(f"\nwritten to {RESULTS.relative_to(REPO)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
