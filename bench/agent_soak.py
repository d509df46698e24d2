"""Agent soak: N agents run the research loop against one `loopy serve` over HTTP
for a while; reports requests, 4xx by code, 5xx, p50/p99 latency and the API
process's memory at start and end.

    python bench/agent_soak.py                       # 50 agents, 60 s
    python bench/agent_soak.py --agents 50 --seconds 300

The server is the embedded default (SQLite, filesystem broker) with no worker, so
launched runs stay QUEUED and each agent soon meets its queued-run quota: those
429s must all carry Retry-After. Each agent loops: read the program and the head,
propose an edit (a random learning rate), launch a run, read it, its metrics, the
leaderboard and its runs. Results go to stdout and bench/results/agent_soak.json.
This is a benchmark, not a test: it reports numbers, it asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import random
import sys
import tempfile
import time
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO))
sys.path.insert(0, str(REPO / "bench"))

RESULTS = REPO / "bench" / "results" / "agent_soak.json"


def seed(data_dir: Path, agents: int) -> tuple[str, list[str]]:
    """A track whose calibration is done, and `agents` agent keys: (track_id, keys)."""
    from service.domain.models import Harness, RunOutcome, RunState, RunSummary
    from service.domain.service import CreateAgentRequest, CreateTrackRequest, DecisionPolicy
    from service.settings import Settings
    from service.wiring import build_core
    from tests.support.fakes import RecordingDispatcher

    core = build_core(Settings(data_dir=str(data_dir)), dispatcher=RecordingDispatcher())
    try:
        admin = core.authenticate(core.bootstrap_admin("soak-admin").api_key)
        core.meta.put_harness(
            Harness(
                id="soak000000000000",
                description="soak harness (metadata only)",
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
            admin,
            CreateTrackRequest(
                track_id="soak",
                harness_id="soak000000000000",
                policy=DecisionPolicy(calibration_runs=1),
            ),
        )
        for run in core.meta.list_runs(track_id=track.id, states=[RunState.QUEUED])[0]:
            core.claim_run(run.id, "soak-worker")
            core.complete_run(
                run.id,
                "soak-worker",
                RunOutcome(
                    state=RunState.SUCCEEDED,
                    summary=RunSummary(val_bpb=1.0, training_seconds=1.0, num_steps=1),
                ),
            )
        keys = [
            core.create_agent(admin, CreateAgentRequest(name=f"agent-{i}")).api_key
            for i in range(agents)
        ]
        return track.id, keys
    finally:
        core.meta.close()


def rss_mb(pid: int) -> float:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    return 0.0


class Tally:
    def __init__(self) -> None:
        self.latencies: list[float] = []
        self.status: Counter[int] = Counter()
        self.codes_4xx: Counter[str] = Counter()
        self.no_retry_after: Counter[int] = Counter()  # 429/503 without Retry-After
        self.errors: Counter[str] = Counter()  # transport failures

    def record(self, response: Any, seconds: float) -> None:
        self.latencies.append(seconds)
        self.status[response.status_code] += 1
        if 400 <= response.status_code < 500:
            try:
                code = response.json().get("code", "?")
            except ValueError:
                code = "?"
            self.codes_4xx[f"{response.status_code} {code}"] += 1
        if response.status_code in (429, 503) and "retry-after" not in response.headers:
            self.no_retry_after[response.status_code] += 1


async def agent(
    base: str, key: str, track_id: str, deadline: float, tally: Tally, seed_value: int
) -> None:
    import httpx

    rng = random.Random(seed_value)
    headers = {"Authorization": f"Bearer {key}"}
    async with httpx.AsyncClient(base_url=base, headers=headers, timeout=30) as client:

        async def call(method: str, path: str, **kw: Any) -> Any:
            started = time.perf_counter()
            try:
                response = await client.request(method, path, **kw)
            except httpx.HTTPError as exc:
                tally.errors[type(exc).__name__] += 1
                return None
            tally.record(response, time.perf_counter() - started)
            return response

        run_ids: list[str] = []
        while time.monotonic() < deadline:
            await call("GET", f"/v1/tracks/{track_id}/program")
            track = await call("GET", f"/v1/tracks/{track_id}")
            head = (
                track.json()["head_revision"]
                if track is not None and track.status_code == 200
                else None
            )
            revision_id = None
            if head and rng.random() < 0.5:
                lr = round(rng.uniform(0.01, 0.08), 4)
                proposed = await call(
                    "POST",
                    f"/v1/tracks/{track_id}/revisions",
                    json={
                        "search_replace": [
                            {"search": "MATRIX_LR = 0.04", "replace": f"MATRIX_LR = {lr}"}
                        ],
                        "description": f"Muon LR {lr}",
                        "request_id": f"p-{seed_value}-{rng.random()}",
                    },
                )
                if proposed is not None and proposed.status_code == 201:
                    revision_id = proposed.json()["revision"]["id"]
            body: dict[str, Any] = {"track_id": track_id}
            if revision_id:
                body["revision_id"] = revision_id
            launched = await call("POST", "/v1/runs", json=body)
            if launched is not None and launched.status_code == 201:
                run_ids.append(launched.json()["id"])
            if run_ids:
                run_id = rng.choice(run_ids)
                await call("GET", f"/v1/runs/{run_id}")
                await call("GET", f"/v1/runs/{run_id}/metrics", params={"since_step": 0})
            await call("GET", f"/v1/tracks/{track_id}/leaderboard")
            await call("GET", f"/v1/tracks/{track_id}/runs", params={"page_size": 20})


async def soak(base: str, keys: list[str], track_id: str, seconds: float) -> Tally:
    tally = Tally()
    deadline = time.monotonic() + seconds
    await asyncio.gather(
        *(agent(base, key, track_id, deadline, tally, i) for i, key in enumerate(keys))
    )
    return tally


def main() -> int:
    parser = argparse.ArgumentParser(
        description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    parser.add_argument("--agents", type=int, default=50)
    parser.add_argument("--seconds", type=float, default=60.0)
    args = parser.parse_args()

    from api_load import start_loopy, stop  # type: ignore[import-not-found]

    with tempfile.TemporaryDirectory(prefix="loopy-soak-") as tmp:
        data_dir = Path(tmp)
        track_id, keys = seed(data_dir, args.agents)
        process, http_port, _ = start_loopy(data_dir)
        try:
            rss_start = rss_mb(process.pid)
            load_start = os.getloadavg()
            started = time.monotonic()
            tally = asyncio.run(soak(f"http://127.0.0.1:{http_port}", keys, track_id, args.seconds))
            elapsed = time.monotonic() - started
            rss_end = rss_mb(process.pid)
            load_end = os.getloadavg()
        finally:
            stop(process)

    latencies = sorted(tally.latencies)

    def pct(q: float) -> float:
        return round(1000 * latencies[min(len(latencies) - 1, int(q * len(latencies)))], 1)

    result = {
        "agents": args.agents,
        "seconds": round(elapsed, 1),
        "requests": len(latencies),
        "requests_per_s": round(len(latencies) / elapsed, 1),
        "status": dict(sorted(tally.status.items())),
        "4xx_by_code": dict(sorted(tally.codes_4xx.items())),
        "5xx": sum(n for s, n in tally.status.items() if s >= 500),
        "429_or_503_without_retry_after": dict(tally.no_retry_after),
        "transport_errors": dict(tally.errors),
        "p50_ms": pct(0.50) if latencies else None,
        "p99_ms": pct(0.99) if latencies else None,
        "api_rss_mb_start": round(rss_start, 1),
        "api_rss_mb_end": round(rss_end, 1),
        "loadavg_start": load_start,
        "loadavg_end": load_end,
        "cpus": os.cpu_count(),
        "when": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    print(json.dumps(result, indent=2))
    RESULTS.parent.mkdir(parents=True, exist_ok=True)
    RESULTS.write_text(json.dumps(result, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
