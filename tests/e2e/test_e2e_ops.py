"""Operating `loopy up`: /metrics after real runs (HTTP, gRPC and the work), HEAD and
one charset, Swagger UI rendered offline in a real headless Chromium (screenshot
kept), and a busy port named with the flag that moves it."""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
import time
from pathlib import Path

import grpc
import httpx
import pytest

from service.grpc.gen.loopy.v1 import loopy_service_pb2 as pb
from service.grpc.gen.loopy.v1 import loopy_service_pb2_grpc as pb_grpc

pytestmark = [pytest.mark.slow, pytest.mark.timeout(600)]

CHROMIUM = shutil.which("chromium") or shutil.which("chromium-browser")
# Every host but the service resolves to nothing: the page must need no network.
OFFLINE = "--host-resolver-rules=MAP * ~NOTFOUND , EXCLUDE 127.0.0.1"


@pytest.fixture(scope="module")
def up(up_factory, wait_for_calibration):  # type: ignore[no-untyped-def]
    started = up_factory()
    wait_for_calibration(started)
    return started


def samples(text: str, name: str) -> dict[frozenset[tuple[str, str]], float]:
    """{labels: value} of one series in Prometheus text (see `at`)."""
    found = {}
    for line in text.splitlines():
        match = re.match(rf"^{re.escape(name)}(?:\{{([^}}]*)\}})? (\S+)$", line)
        if match:
            pairs = re.findall(r'(\w+)="([^"]*)"', match.group(1) or "")
            found[frozenset(pairs)] = float(match.group(2))
    return found


def at(**labels: str) -> frozenset[tuple[str, str]]:
    return frozenset(labels.items())


def test_metrics_after_runs(up) -> None:  # type: ignore[no-untyped-def]
    with grpc.insecure_channel(f"127.0.0.1:{up.grpc_port}") as channel:
        stub = pb_grpc.LoopyServiceStub(channel)
        stub.ListTracks(pb.ListTracksRequest(), metadata=[("authorization", f"Bearer {up.key}")])
        with pytest.raises(grpc.RpcError):
            stub.GetTrack(
                pb.GetTrackRequest(track_id="nope"),
                metadata=[("authorization", f"Bearer {up.key}")],
            )

    answer = httpx.get(f"{up.base_url}/metrics", timeout=30)
    assert answer.status_code == 200
    assert answer.headers["content-type"].count("charset") == 1
    text = answer.text

    assert samples(text, "loopy_grpc_requests_total")[at(method="ListTracks", code="OK")] >= 1
    assert samples(text, "loopy_grpc_requests_total")[at(method="GetTrack", code="NOT_FOUND")] >= 1
    assert samples(text, "loopy_grpc_request_seconds_count")[at(method="ListTracks")] >= 1
    assert any(("operation", "Healthz") in k for k in samples(text, "loopy_http_requests_total"))

    runs = samples(text, "loopy_runs")
    assert runs[at(state="SUCCEEDED", device_class="cpu")] >= 3  # the calibration runs
    assert samples(text, "loopy_queue_depth") == {at(device_class="cpu"): 0.0}
    durations = samples(text, "loopy_run_seconds_count")
    assert durations[at(state="SUCCEEDED")] >= 3
    assert samples(text, "loopy_run_seconds_sum")[at(state="SUCCEEDED")] > 0
    beats = samples(text, "loopy_worker_last_heartbeat_timestamp_seconds")
    assert beats and all(v > 1.7e9 for v in beats.values()), beats
    assert "# TYPE loopy_evaluations gauge" in text
    assert samples(text, "loopy_store_up") == {at(): 1.0}

    head = httpx.head(f"{up.base_url}/metrics", timeout=30)
    assert head.status_code == 200 and head.content == b""
    assert head.headers["content-type"] == answer.headers["content-type"]


def test_queue_depth_counts_waiting_runs(up) -> None:  # type: ignore[no-untyped-def]
    headers = {"Authorization": f"Bearer {up.key}"}
    with httpx.Client(base_url=up.base_url, headers=headers, timeout=30) as http:
        runs = [http.post("/v1/runs", json={"track_id": "baseline"}).json() for _ in range(3)]
        depths = []
        for _ in range(10):  # the one worker takes one run at a time: two wait
            time.sleep(0.5)
            depths.append(
                samples(http.get("/metrics").text, "loopy_queue_depth")[at(device_class="cpu")]
            )
            if depths[-1] >= 1:
                break
        assert depths[-1] >= 1, depths
        for run in runs:
            http.post(f"/v1/runs/{run['id']}/cancel")


@pytest.mark.skipif(
    CHROMIUM is None and os.environ.get("CI") != "true",
    reason="Chromium is not installed (apt-get install chromium); CI installs it and runs this",
)
def test_swagger_ui_renders_offline_in_chromium(up, tmp_path_factory, record_property) -> None:  # type: ignore[no-untyped-def]
    assert CHROMIUM, "CI must have Chromium (.ci/run installs it)"
    page = httpx.get(f"{up.base_url}/schema", timeout=30).text
    assets = re.findall(r"""(?:src|href)=["']([^"']+)["']""", page)
    assert assets and all(a.startswith("/schema/assets/") for a in assets), assets

    out = tmp_path_factory.mktemp("swagger")
    common = [CHROMIUM, "--headless", "--no-sandbox", "--disable-gpu", "--disable-dev-shm-usage"]
    common += [OFFLINE, "--virtual-time-budget=30000", f"--user-data-dir={out / 'profile'}"]
    dom = subprocess.run(
        [*common, "--dump-dom", f"{up.base_url}/schema"],
        capture_output=True,
        text=True,
        timeout=120,
    ).stdout
    # Rendered by Swagger UI's script (the served HTML has none of these).
    assert "opblock-tag-section" in dom and "ProposeEdit" in dom, dom[:2000]
    screenshot = out / "swagger-ui.png"
    subprocess.run(
        [*common, "--window-size=1280,1000", f"--screenshot={screenshot}", f"{up.base_url}/schema"],
        capture_output=True,
        timeout=120,
    )
    assert screenshot.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert screenshot.stat().st_size > 20_000  # a rendered page, not a blank one
    record_property("screenshot", str(screenshot))
    print(f"Swagger UI screenshot: {screenshot}")
    if target := os.environ.get("LOOPY_TEST_ARTIFACTS"):
        Path(target).mkdir(parents=True, exist_ok=True)
        shutil.copy(screenshot, Path(target) / "swagger-ui.png")


def test_busy_port_names_the_flag(up, e2e, tmp_path) -> None:  # type: ignore[no-untyped-def]
    def start(*args: str) -> subprocess.CompletedProcess[str]:
        return subprocess.run(
            [sys.executable, "-m", "service.cli", *args, "--data-dir", str(tmp_path)],
            env=e2e.cli_env(tmp_path),
            capture_output=True,
            text=True,
            timeout=120,
        )

    http_taken = start("up", "--http-port", str(up.http_port), "--grpc-port", str(e2e.free_port()))
    assert http_taken.returncode == 1
    assert f"HTTP port {up.http_port} on 127.0.0.1 is already in use" in http_taken.stderr
    assert "--http-port PORT" in http_taken.stderr

    grpc_taken = start(
        "serve", "--http-port", str(e2e.free_port()), "--grpc-port", str(up.grpc_port)
    )
    assert grpc_taken.returncode == 1
    assert f"{up.grpc_port}" in grpc_taken.stderr and "--grpc-port PORT" in grpc_taken.stderr
