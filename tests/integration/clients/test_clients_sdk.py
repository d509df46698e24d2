"""The Python SDK (generated loopy_client + loopy_sdk helpers) against a real
server on loopback: a whole research loop, and errors as LoopyAPIError."""

from __future__ import annotations

import time
from typing import Any

import pytest
from loopy_client.models import EvaluationState, RunState, Verdict
from loopy_sdk import LoopyAPIError, RunWaitTimeout, connect

pytestmark = pytest.mark.timeout(60)


def test_research_loop_end_to_end(base_url: str, agent_key: str, track: str, kit: Any) -> None:
    with connect(base_url, agent_key) as loopy:
        tracks = loopy.list_tracks()
        assert [t.id for t in tracks.tracks] == [track]

        program = loopy.get_program(track)
        assert program.metric == "val_bpb"
        assert program.text  # the research program an agent reads first
        head = loopy.get_revision(program.head_revision)
        assert "LEARNING_RATE = 3e-4" in head.revision.source

        edit = loopy.propose_edit(
            track,
            blocks=[("LEARNING_RATE = 3e-4", "LEARNING_RATE = 1e-3")],
            description="higher learning rate",
        )
        assert not edit.already_exists
        assert edit.revision.parent_id == program.head_revision
        assert "+LEARNING_RATE = 1e-3" in edit.revision.diff_to_parent

        started = time.monotonic()
        run = loopy.launch_and_wait(track, edit.revision.id, timeout_s=30)
        assert time.monotonic() - started < 10
        assert run.state == RunState.SUCCEEDED
        assert run.revision_id == edit.revision.id
        assert run.summary is not None
        assert run.summary.val_bpb == pytest.approx(
            kit.val_bpb_for("LEARNING_RATE = 1e-3", run.seed)
        )

        # GetMetrics pages at MAX_METRIC_POINTS; metrics() follows next_since_step to the end.
        first_page = loopy.get_metrics(run.id)
        assert first_page.next_since_step is not None
        series = loopy.metrics(run.id)
        assert [step for step, _ in series["loss"]] == list(range(kit.METRIC_STEPS))
        assert series["loss"][-1][1] == pytest.approx(5.0 - 0.5 * (kit.METRIC_STEPS - 1))
        assert set(series) == {"loss", "lr"}
        assert set(loopy.metrics(run.id, names=["lr"])) == {"lr"}

        logs = loopy.get_run_logs(run.id)
        assert f"step {kit.METRIC_STEPS - 1} loss" in logs.text

        evaluation = loopy.evaluate(run.id, replicates=2)
        assert evaluation.run_id == run.id
        # wait_for_evaluation follows the pairs' runs: one GetEvaluation per round, no polling.
        reads: list[str] = []
        get_evaluation = loopy.get_evaluation

        def counting_get_evaluation(run_id: str, evaluation_id: str) -> Any:
            reads.append(evaluation_id)
            return get_evaluation(run_id, evaluation_id)

        loopy.get_evaluation = counting_get_evaluation  # type: ignore[method-assign]
        done = loopy.wait_for_evaluation(run.id, evaluation.id, timeout_s=30, poll_s=0.1)
        assert done.state == EvaluationState.DONE
        assert done.verdict == Verdict.KEEP, done.reason
        rounds = 1 + (len(done.pairs) - 1) // 2  # pair 0 + one new pair, then 2 a round
        assert len(reads) <= rounds + 1
        assert done.pairs_used == len(done.pairs) and done.e_value >= done.threshold
        assert done.reference.mean is not None and done.candidate.mean is not None
        assert done.delta is not None
        assert done.delta == pytest.approx(done.reference.mean - done.candidate.mean)
        assert done.delta > 0  # positive = the candidate has the lower val_bpb

        promoted = loopy.promote_run(track, run.id)
        assert promoted.head_revision == edit.revision.id
        changes = loopy.list_head_changes(track).head_changes
        assert changes[-1].to_revision == edit.revision.id
        assert changes[-1].evaluation_id == done.id and not changes[-1].forced
        leaderboard = loopy.get_leaderboard(track)
        assert leaderboard.entries[0].revision_id == edit.revision.id

        # The same source proposed again is recognised, with the runs already made of it.
        again = loopy.propose_edit(
            track, source=edit.revision.source, description="same idea, resubmitted"
        )
        assert again.already_exists
        assert run.id in again.existing_run_ids


def test_watch_run_streams_live_events_to_the_terminal_state(
    base_url: str, agent_key: str, track: str
) -> None:
    with connect(base_url, agent_key) as loopy:
        head = loopy.get_track(track).head_revision
        launched = loopy.launch_run(track, head, seed=7)
        events = list(loopy.watch_run(launched.id))

        # wait_for_run learns the end from the stream: one GetRun up front, no polling.
        get_run_calls: list[str] = []
        get_run = loopy.get_run

        def counting_get_run(run: str) -> Any:
            get_run_calls.append(run)
            return get_run(run)

        loopy.get_run = counting_get_run  # type: ignore[method-assign]
        finished = loopy.launch_and_wait(track, head, timeout_s=30, seed=8)
        assert finished.state == RunState.SUCCEEDED
        assert get_run_calls == [finished.id]
    states = [e.data["state"] for e in events if e.type == "state"]
    assert states[-1] == "SUCCEEDED"
    assert "RUNNING" in states
    assert any(e.type == "metrics" for e in events)
    assert any(e.type == "log" for e in events)
    assert [e.seq for e in events] == sorted(e.seq for e in events)


def test_wait_for_run_is_bounded_and_reports_the_last_state(
    base_url: str, agent_key: str, track: str, worker: Any
) -> None:
    worker.paused.set()
    with connect(base_url, agent_key) as loopy:
        run = loopy.launch_run(track)
        started = time.monotonic()
        with pytest.raises(RunWaitTimeout) as raised:
            loopy.wait_for_run(run.id, timeout_s=0.5, poll_s=0.1)
        assert time.monotonic() - started < 3
        assert raised.value.resource.state == RunState.QUEUED

        worker.paused.clear()
        finished = loopy.wait_for_run(run.id, timeout_s=30)
        assert finished.state == RunState.SUCCEEDED


def test_not_found_is_a_loopy_api_error(base_url: str, agent_key: str) -> None:
    with connect(base_url, agent_key) as loopy:
        with pytest.raises(LoopyAPIError) as raised:
            loopy.get_run("no-such-run")
    error = raised.value
    assert (error.status, error.code) == (404, "NOT_FOUND")
    assert error.details == {"run_id": "no-such-run"}
    assert "no-such-run" in error.detail
    assert error.to_dict()["code"] == "NOT_FOUND"


def test_rejected_edit_carries_the_details(base_url: str, agent_key: str, track: str) -> None:
    with connect(base_url, agent_key) as loopy:
        with pytest.raises(LoopyAPIError) as raised:
            loopy.propose_edit(
                track,
                blocks=[{"search": "LEARNING_RATE = 42", "replace": "LEARNING_RATE = 1"}],
                description="a block that matches nothing",
            )
    error = raised.value
    assert (error.status, error.code) == (400, "INVALID_ARGUMENT")
    assert error.details  # which block did not match, and the nearest text
    assert "LEARNING_RATE" in str(error.details)


def test_wrong_api_key_is_unauthenticated(base_url: str) -> None:
    with connect(base_url, "not-a-key") as loopy:
        with pytest.raises(LoopyAPIError) as raised:
            loopy.list_tracks()
    assert (raised.value.status, raised.value.code) == (401, "UNAUTHENTICATED")


def test_agent_cannot_create_a_track(base_url: str, agent_key: str, kit: Any) -> None:
    with connect(base_url, agent_key) as loopy:
        with pytest.raises(LoopyAPIError) as raised:
            loopy.create_track("agent-track", kit.HARNESS_ID, **kit.track_fields())
    assert (raised.value.status, raised.value.code) == (403, "PERMISSION_DENIED")


def test_progress_chart_and_results_export(base_url: str, agent_key: str, track: str) -> None:
    with connect(base_url, agent_key) as loopy:
        png = loopy.get_progress_chart(track)
        tsv = loopy.export_results(track)
    assert png.startswith(b"\x89PNG\r\n\x1a\n")
    assert tsv.splitlines()[0].split("\t")[0] in ("run", "run_id", "commit")
    assert len(tsv.splitlines()) >= 3  # header + the two calibration runs


def test_sse_parser_reads_ids_types_multiline_data_and_skips_keepalives() -> None:
    import httpx
    from loopy_sdk.events import RunEvent, run_events

    lines = [
        ": keep-alive",
        "",
        "id: 3",
        "event: log",
        'data: {"text":',
        'data: "a\\nb"}',
        "",
        "id: 4",
        "event: state",
        'data: {"state": "RUNNING"}',
        "",
    ]
    stream = "".join(f"{line}\n" for line in lines)
    response = httpx.Response(200, headers={"content-type": "text/event-stream"}, text=stream)
    events = list(run_events(response))
    assert events == [
        RunEvent(seq=3, type="log", data={"text": "a\nb"}),
        RunEvent(seq=4, type="state", data={"state": "RUNNING"}),
    ]
