"""Read-outs of a track's history: the leaderboard, autoresearch's results.tsv and the
progress chart."""

from __future__ import annotations

import statistics
from datetime import datetime

import structlog

from service.domain.charts import RevisionPoint, render_progress_png
from service.domain.context import Context, best_run, finite
from service.domain.decisions import t_interval
from service.domain.models import (
    TERMINAL_RUN_STATES,
    Leaderboard,
    LeaderboardEntry,
    Principal,
    Run,
    RunState,
    Track,
    sandbox_of,
)

log = structlog.get_logger(__name__)


def promotions(ctx: Context, track: Track) -> dict[str, datetime]:
    """Revisions that were made head by a recorded promotion -> when first."""
    promoted: dict[str, datetime] = {}
    token = ""
    while True:
        page, token = ctx.meta.list_head_changes(track.id, 1000, token)
        for change in page:
            if change.from_revision is not None:
                promoted.setdefault(change.to_revision, change.time)
        if not token:
            return promoted


def get_leaderboard(
    ctx: Context, principal: Principal, track_id: str, limit: int | None = None
) -> Leaderboard:
    track = ctx.track(track_id)
    size = ctx.page_size(limit)
    promoted = promotions(ctx, track)
    by_revision: dict[str, list[Run]] = {}
    for run in ctx.all_runs(track_id=track.id, states=[RunState.SUCCEEDED]):
        if run.summary and finite(run.summary.val_bpb):
            by_revision.setdefault(run.revision_id, []).append(run)
    rows = []
    for revision_id, runs in by_revision.items():
        best = best_run(runs)
        assert best is not None and best.summary is not None
        values = [r.summary.val_bpb for r in runs if r.summary and r.summary.val_bpb is not None]
        rows.append((best.summary.val_bpb, statistics.fmean(values), revision_id, best, runs))
    rows.sort(key=lambda row: (row[0], row[1], row[2]))
    harness = ctx.meta.get_harness(track.harness_id)
    entries = []
    for rank, (best_value, mean_value, revision_id, best, runs) in enumerate(rows[:size], 1):
        revision = ctx.meta.get_revision(revision_id)
        entries.append(
            LeaderboardEntry(
                rank=rank,
                revision_id=revision_id,
                author_agent_id=revision.author_agent_id if revision else "",
                description=revision.description if revision else "",
                best_run_id=best.id,
                best_value=float(best_value or 0.0),
                mean_value=mean_value,
                runs=len(runs),
                is_head=revision_id == track.head_revision,
                kept=revision_id in promoted,
                sandbox=sandbox_of(runs),
            )
        )
    return Leaderboard(
        track_id=track.id, metric=harness.metric if harness else "val_bpb", entries=entries
    )


def _finished_runs(ctx: Context, track: Track) -> list[Run]:
    """Terminal runs, in the order they ended."""
    runs = ctx.all_runs(track_id=track.id, states=sorted(TERMINAL_RUN_STATES))
    return sorted(runs, key=lambda r: (r.end_time or r.create_time, r.id))


def results_tsv(ctx: Context, principal: Principal, track_id: str) -> str:
    """autoresearch-style results.tsv: run, revision, val_bpb, memory, status, description.

    status: `baseline` (the track's starting code), `keep` (its revision was promoted
    to head, as recorded when it happened: not recomputed from today's head),
    `discard` (succeeded, never promoted), `crash` (failed: val_bpb and memory are
    empty, the failure reason is in `description`), `cancelled` (likewise empty).
    """
    track = ctx.track(track_id)
    promoted = promotions(ctx, track)
    descriptions: dict[str, str] = {}
    lines = ["run_id\trevision\tval_bpb\tmemory_gb\tstatus\tdescription"]
    for run in _finished_runs(ctx, track):
        if run.revision_id not in descriptions:
            revision = ctx.meta.get_revision(run.revision_id)
            descriptions[run.revision_id] = " ".join(
                (revision.description if revision else "").split()
            )
        summary = run.summary
        description = descriptions[run.revision_id]
        if run.state is RunState.SUCCEEDED and summary and finite(summary.val_bpb):
            assert summary.val_bpb is not None
            value, memory = f"{summary.val_bpb:.6f}", f"{summary.peak_memory_mb / 1024:.1f}"
            if run.revision_id == track.baseline_revision:
                status = "baseline"
            else:
                status = "keep" if run.revision_id in promoted else "discard"
        else:
            # Never a 0.0 metric: a run without a result has no value at all.
            value = memory = ""
            status = "cancelled" if run.state is RunState.CANCELLED else "crash"
            why = run.failure_reason.value if run.failure_reason else run.state.value
            description = f"[{why}] {description}".strip()
        lines.append(
            f"{run.id}\t{run.revision_id[:12]}\t{value}\t{memory}\t{status}\t{description}"
        )
    return "\n".join(lines) + "\n"


def progress_png(ctx: Context, principal: Principal, track_id: str) -> bytes:
    """One point per revision (in the order its first run finished): the mean of its
    runs with a 95 % t interval; promoted revisions (as recorded when promoted) in
    colour, and the head's value over time as a step line."""
    track = ctx.track(track_id)
    harness = ctx.meta.get_harness(track.harness_id)
    metric = harness.metric if harness else "val_bpb"
    points = revision_points(ctx, track)
    return render_progress_png(f"{track.display_name}: progress", metric, points)


def revision_points(ctx: Context, track: Track) -> list[RevisionPoint]:
    promoted = promotions(ctx, track)
    values: dict[str, list[float]] = {}
    for run in _finished_runs(ctx, track):
        if run.state is RunState.SUCCEEDED and run.summary and finite(run.summary.val_bpb):
            assert run.summary.val_bpb is not None
            values.setdefault(run.revision_id, []).append(run.summary.val_bpb)
    points = []
    for index, (revision_id, vals) in enumerate(values.items(), 1):
        interval = t_interval(vals)
        if revision_id == track.baseline_revision:
            status = "baseline"
        else:
            status = "kept" if revision_id in promoted else "discarded"
        points.append(
            RevisionPoint(
                index=index,
                revision_id=revision_id,
                mean=statistics.fmean(vals),
                low=interval[0] if interval else None,
                high=interval[1] if interval else None,
                n=len(vals),
                status=status,
                promoted_at=promoted.get(revision_id),
            )
        )
    return points
