"""`loopy keys create`, `loopy config` and `loopy serve` as a user runs them: subprocesses."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import httpx

LOOPY = [sys.executable, "-m", "service.cli"]
REPO = Path(__file__).resolve().parents[3]


def loopy_env(data_dir: Path, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("LOOPY_")}
    env.update(
        LOOPY_DATA_DIR=str(data_dir),
        LOOPY_LOG_FORMAT="json",
        PYTHONPATH=str(REPO),
        OMP_NUM_THREADS="1",
        **extra,
    )
    return env


def grpc_health(port: int) -> str:
    import grpc
    from grpc_health.v1 import health_pb2, health_pb2_grpc

    with grpc.insecure_channel(f"127.0.0.1:{port}") as channel:
        stub = health_pb2_grpc.HealthStub(channel)
        answer = stub.Check(health_pb2.HealthCheckRequest(service=""), timeout=10)
    return str(health_pb2.HealthCheckResponse.ServingStatus.Name(answer.status))


def test_config_prints_effective_settings_with_secrets_masked(tmp_path: Path) -> None:
    env = loopy_env(tmp_path, LOOPY_S3_SECRET_KEY="hunter2", LOOPY_HTTP_PORT="8123")
    out = subprocess.run(
        [*LOOPY, "config", "--json"], env=env, cwd=REPO, capture_output=True, text=True, check=True
    )
    config = json.loads(out.stdout)
    assert config["settings"]["LOOPY_HTTP_PORT"] == 8123
    assert config["settings"]["LOOPY_S3_SECRET_KEY"] == "(set)"
    assert "hunter2" not in out.stdout
    assert config["effective"]["database_url"] == f"sqlite:///{tmp_path / 'loopy.db'}"


def test_serve_answers_with_a_cli_made_key_and_stops_on_sigterm(tmp_path: Path, kit: Any) -> None:
    env = loopy_env(tmp_path)
    made = subprocess.run(
        [*LOOPY, "keys", "create", "--name", "smoke-admin", "--role", "admin"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert made.returncode == 0, made.stderr
    admin_key = made.stdout.strip()
    assert admin_key and "\n" not in admin_key
    agent = subprocess.run(
        [*LOOPY, "keys", "create", "--name", "smoke-agent"],
        env=env,
        cwd=REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert agent.returncode == 0, agent.stderr
    agent_key = agent.stdout.strip()

    http_port, grpc_port = kit.free_port(), kit.free_port()
    server = subprocess.Popen(
        [*LOOPY, "serve", "--http-port", str(http_port), "--grpc-port", str(grpc_port)],
        env=env,
        cwd=REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        base = f"http://127.0.0.1:{http_port}"
        deadline = time.monotonic() + 60
        while True:
            assert server.poll() is None, server.stdout.read() if server.stdout else ""
            try:
                if httpx.get(f"{base}/healthz", timeout=1).status_code == 200:
                    break
            except httpx.TransportError:
                pass
            assert time.monotonic() < deadline, "loopy serve did not come up"
            time.sleep(0.2)
        assert httpx.get(f"{base}/readyz", timeout=5).status_code == 200
        me = httpx.get(f"{base}/v1/agents/me", headers=kit.auth(agent_key), timeout=5)
        assert me.status_code == 200, me.text
        assert me.json()["name"] == "smoke-agent"
        admin_me = httpx.get(f"{base}/v1/agents/me", headers=kit.auth(admin_key), timeout=5)
        assert admin_me.json()["role"] == "admin"
        assert httpx.get(f"{base}/v1/tracks", timeout=5).status_code == 401
        assert grpc_health(grpc_port) == "SERVING"  # the same process serves gRPC
    finally:
        server.send_signal(signal.SIGTERM)
        try:
            output, _ = server.communicate(timeout=30)
        except subprocess.TimeoutExpired:
            server.kill()
            output, _ = server.communicate()
    assert server.returncode == 0, output
    events = [json.loads(line)["event"] for line in output.splitlines() if line.startswith("{")]
    assert "server.started" in events and "server.stopped" in events


def test_serve_on_a_taken_port_fails_with_one_clear_error(tmp_path: Path, kit: Any) -> None:
    import socket

    with socket.create_server(("127.0.0.1", 0)) as taken:
        port = taken.getsockname()[1]
        result = subprocess.run(
            [*LOOPY, "serve", "--http-port", str(port), "--grpc-port", str(kit.free_port())],
            env=loopy_env(tmp_path),
            cwd=REPO,
            capture_output=True,
            text=True,
            timeout=120,
        )
    assert result.returncode == 1
    records = [json.loads(line) for line in result.stderr.splitlines() if line.startswith("{")]
    failed = [r for r in records if r["event"] == "server.bind_failed"]
    assert failed and failed[0]["address"] == f"127.0.0.1:{port}"
    assert "Traceback" not in result.stderr
