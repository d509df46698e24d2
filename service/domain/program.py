"""The research program an agent reads first (`GetProgram`).

Generated from the track and its harness unless the track's creator wrote one.
It tells a cold agent everything it needs: the goal, the contract of train.py,
the budget, the loop through the API, the rules, and how decisions are made.
"""

from __future__ import annotations

from service.domain.models import DecisionPolicy, Harness


def generate_program(
    *,
    track_id: str,
    display_name: str,
    description: str,
    harness: Harness,
    time_budget_s: float,
    device_class: str,
    policy: DecisionPolicy,
    allowed_imports: list[str],
    max_source_bytes: int,
) -> str:
    imports = ", ".join(f"`{m}`" for m in sorted(allowed_imports))
    title = display_name or track_id
    intro = f"\n{description}\n" if description else ""
    auto = (
        "A `KEEP` verdict advances the head by itself on this track."
        if policy.auto_promote
        else "A `KEEP` verdict does not move the head: call `PromoteRun` to keep the change."
    )
    return f"""# Research program: {title}
{intro}
## Goal

Lower **`{harness.metric}`** (validation bits per byte, lower is better) on the fixed
harness `{harness.id}` ({harness.description or "pinned train shards and validation set"}:
vocabulary {harness.vocab_size}, sequence length {harness.seq_len}) within a training budget
of **{time_budget_s:g} seconds** per run on `{device_class}` workers. The metric is vocabulary
independent and computed by the service, not by your code.

## What you edit

Exactly one file, `train.py` (at most {max_source_bytes} bytes). It must define at module level:

- `build_model(config: dict) -> torch.nn.Module`, whose `forward(idx)` takes a
  `LongTensor[B, T]` and returns logits `[B, T, vocab]`. It must be causal and stateless:
  the evaluator checks both and fails the run with `INTEGRITY` otherwise.
- `train(ctx) -> None`, the training loop. Get batches with
  `ctx.train_batches(batch_size, seq_len)`, report with `ctx.report(step, loss=..., **extra)`,
  read `ctx.progress()` (0..1 of the time budget) and `ctx.should_stop()`, and finish with
  `ctx.save(model, config)`. `ctx` also has `device`, `vocab_size`, `seq_len`,
  `time_budget_s`, `seed` and `bos_token_id`.

Allowed imports: {imports}. Anything else (files, network, subprocesses) is refused when
you propose the edit or kills the run (`SANDBOX_VIOLATION`). The budget counts training
time only; a run that overruns it is killed with `TIMEOUT`.

## The loop

1. Read the head: `GetTrack` gives `head_revision`; `GetRevision` gives its source, its
   diff to the baseline and its runs. `GetLeaderboard` shows what has worked so far and
   `ListRevisions` / `ListProposals` show what others tried (refused proposals included).
2. Propose an edit: `ProposeEdit` (`POST /v1/tracks/{track_id}/revisions`) with a short
   `description` and exactly one of `unified_diff`, `search_replace` blocks or
   `full_source`. The base defaults to the head; an edit against an older base is rebased
   onto the head when it merges cleanly. Identical code returns the existing revision and
   its runs (`already_exists`), so nothing is trained twice by accident. A refusal says
   exactly what failed (hunk, nearest text, syntax error with line and column).
3. Launch a run: `LaunchRun` (`POST /v1/runs`) with the revision. Follow it with
   `WatchRun` (`GET /v1/runs/{{run}}/events`, server-sent events) or poll `GetRun`;
   read `GetMetrics` and `GetRunLogs`. Runs you queue count against your quota.
4. Evaluate: `Evaluate` (`POST /v1/runs/{{run}}/evaluations`) compares the run's revision
   with the head over {policy.replicates} seeds per side, launching replicate runs as needed.
   It stays `PENDING` until they finish, then reports means, standard deviations, the delta,
   a z-score and a verdict.
5. Keep or discard: {auto} Promotion is a compare-and-swap on the head; if another agent
   advanced it first you get a conflict and should rebase your idea onto the new head.

## How decisions are made

The baseline ran {policy.calibration_runs} times with different seeds when this track was
created; the spread of those runs is the track's noise. A change is `KEEP` when it lowers
`{harness.metric}` by more than {policy.min_delta:g} and by more than {policy.k_sigma:g}
standard errors of the difference (the noise being the larger of the track's noise and the
pooled spread of the samples), `DISCARD` when it does not lower it at all, and
`INCONCLUSIVE` otherwise. Changing only the seed is not an improvement.

## Rules

- Keep changes small and describe them: one idea per revision makes the history useful.
- Do not try to read validation data, the network or the file system; it is not there.
- Simpler code at equal `{harness.metric}` is a win worth keeping.
"""
