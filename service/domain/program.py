"""The research program an agent reads first (`GetProgram`).

Generated from the track and its harness unless the track's creator wrote one.
It tells a cold agent everything it needs: the goal, the contract of train.py,
the budget, the loop through the API, the rules, and how decisions are made.
"""

from __future__ import annotations

from service.domain.models import BudgetKind, DecisionPolicy, Harness, Track


def budget_sentence(
    budget_kind: BudgetKind, time_budget_s: float, token_budget: int, device_class: str
) -> str:
    if budget_kind is BudgetKind.TOKENS:
        return (
            f"a training budget of **{token_budget:,} tokens** per run (hardware-independent: "
            f"`ctx.progress()` counts the tokens `ctx.train_batches` served and `ctx.should_stop()` "
            f"turns true at the budget; {time_budget_s:g} seconds stay the hard limit) on `{device_class}` "
            "workers"
        )
    return (
        f"a training budget of **{time_budget_s:g} seconds** of wall time per run on "
        f"`{device_class}` workers (a faster model gets more steps in the same time)"
    )


def decision_state_text(track: Track) -> str:
    """The live part of the program: appended whenever the program is read."""
    budget = track.error_budget
    if budget is None:
        return ""
    per_run = (
        f"{track.token_budget:,} tokens per run"
        if track.budget_kind is BudgetKind.TOKENS
        else f"{track.time_budget_s:g} s of wall time per run"
    )
    threshold = 1 / budget.next_level if budget.next_level > 0 else float("inf")
    return f"""
## Decision state (live)

- Budget kind: **{track.budget_kind.value}** ({per_run}).
- False-discovery budget: alpha = {budget.alpha:g} over the whole track, spent by
  {budget.rule}. Tests so far: {budget.tests}; KEEPs: {budget.discoveries}; spent
  {budget.spent:.3g} of {budget.earned:.3g} earned; **remaining {budget.remaining:.3g}**.
- The next evaluation gets level {budget.next_level:.3g}: a KEEP needs an e-value of at
  least {threshold:.3g}.
"""


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
    budget_kind: BudgetKind = BudgetKind.WALL_SECONDS,
    token_budget: int = 0,
) -> str:
    imports = ", ".join(f"`{m}`" for m in sorted(allowed_imports))
    title = display_name or track_id
    intro = f"\n{description}\n" if description else ""
    auto = (
        "A `KEEP` verdict advances the head by itself on this track."
        if policy.auto_promote
        else "A `KEEP` verdict does not move the head: call `PromoteRun` to keep the change."
    )
    budget = budget_sentence(budget_kind, time_budget_s, token_budget, device_class)
    return f"""# Research program: {title}
{intro}
## Goal

Lower **`{harness.metric}`** (validation bits per byte, lower is better) on the fixed
harness `{harness.id}` ({harness.description or "pinned train shards and validation set"}:
vocabulary {harness.vocab_size}, sequence length {harness.seq_len}) within {budget}.
The metric is vocabulary independent and computed by the service, not by your code.

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
   its runs (`already_exists`), so nothing is trained twice by accident; code that only
   differs in comments, docstrings or formatting is reported in `equivalent_to` and
   evaluates to `EQUIVALENT` at once, without a run. A refusal says exactly what failed
   (hunk, nearest text, syntax error with line and column).
3. Launch a run: `LaunchRun` (`POST /v1/runs`) with the revision. Follow it with
   `WatchRun` (`GET /v1/runs/{{run}}/events`, server-sent events) or poll `GetRun`;
   read `GetMetrics` and `GetRunLogs`. Runs you queue count against your quota.
4. Evaluate: `Evaluate` (`POST /v1/runs/{{run}}/evaluations`) compares the run's revision
   with the head in *pairs*: candidate and head run with the same seed, dispatched
   together, {policy.replicates} pairs per round, at most {policy.max_pairs} pairs. It stays
   `PENDING` while pairs run and stops as soon as the evidence is decisive; then it reports
   the pairs, the mean paired gain with its interval, the e-value, the level it was tested
   at, the machine speeds of both sides and a verdict. Wait for it with the SDK's
   `wait_for_evaluation` (or the MCP tool of that name) instead of polling.
5. Keep or discard: {auto} Only a `KEEP` evaluated against the current head can be
   promoted (an admin may force a promotion, with a reason that is recorded). Promotion is
   a compare-and-swap on the head; if another agent advanced it first you get a conflict
   and should rebase your idea onto the new head. Every head change is listed
   (`ListHeadChanges`).

## How decisions are made

Each pair gives a gain d = reference - candidate in `{harness.metric}` (positive = better).
After every round the evaluation computes an anytime-valid e-value over the pairs (the
scale-invariant mixture likelihood ratio of the paired t-test: exact for small samples,
valid however often it is looked at). `KEEP` when the e-value reaches 1 / level and the
mean gain exceeds {policy.min_delta:g}; `DISCARD` when the candidate is clearly worse or
shows no gain; `INCONCLUSIVE` when the pairs run out first. Each evaluation's level comes
from the track's false-discovery budget (alpha = {policy.fdr_alpha:g}, LORD++): over the
whole track the expected share of false `KEEP`s among `KEEP`s stays below alpha. Every run
records a machine-speed probe; when the two sides ran at speeds more than
{policy.speed_tolerance:.0%} apart beyond the probes' noise, the verdict is `CONFOUNDED`
(re-evaluate later). Changing only the seed is not an improvement.

## Rules

- Keep changes small and describe them: one idea per revision makes the history useful.
- Do not try to read validation data, the network or the file system; it is not there.
- Simpler code at equal `{harness.metric}` is a win worth keeping.
"""
