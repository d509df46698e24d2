"""`loopy train`, `loopy baseline` (and `loopy data ...` from trainer.data.cli).

Thin: parse, call trainer.runner.run, print the summary.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from trainer.baseline import baseline_source
from trainer.data.cli import add_data_commands


def register(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    add_data_commands(subparsers)

    train = subparsers.add_parser(
        "train",
        help="train a train.py on a harness in a sandbox, then evaluate it (trusted)",
        description="Runs training in a sandboxed child and the evaluation in a fresh one; "
        "prints an autoresearch-style summary (or one JSON object with --json).",
    )
    train.add_argument("--harness", required=True, help="harness directory")
    train.add_argument("--train-file", help="the train.py to run (default: the baseline)")
    train.add_argument("--budget", type=float, help="training seconds (default: the harness's)")
    train.add_argument("--device", default="cpu", help="cpu, cuda or cuda:N (default: cpu)")
    train.add_argument("--seed", type=int, default=0)
    train.add_argument("--out", required=True, help="output directory (logs, checkpoint, result)")
    train.add_argument(
        "--option",
        action="append",
        default=[],
        metavar="NAME=VALUE",
        help="ctx.options entry for the train file (JSON value), e.g. DEPTH=2; repeatable",
    )
    train.add_argument("--quiet", action="store_true", help="do not echo the training log")
    train.add_argument("--json", action="store_true", help="print one JSON object as the last line")
    train.set_defaults(func=_train)

    baseline = subparsers.add_parser("baseline", help="print the baseline train.py")
    baseline.set_defaults(func=_baseline)


def _baseline(args: argparse.Namespace) -> int:
    sys.stdout.write(baseline_source())
    return 0


def _parse_options(pairs: list[str]) -> dict[str, object]:
    options: dict[str, object] = {}
    for pair in pairs:
        name, sep, raw = pair.partition("=")
        if not sep or not name:
            raise ValueError(f"--option wants NAME=VALUE, got {pair!r}")
        try:
            options[name] = json.loads(raw)
        except json.JSONDecodeError:
            options[name] = raw
    return options


def _train(args: argparse.Namespace) -> int:
    from trainer.data.harness import Harness, HarnessError
    from trainer.runner import RunConfig, run
    from trainer.runner.config import RunStatus

    try:
        harness = Harness.load(args.harness)
        source = Path(args.train_file).read_text() if args.train_file else baseline_source()
        config = RunConfig(
            harness_dir=args.harness,
            train_source=source,
            budget_s=args.budget if args.budget is not None else harness.time_budget_s,
            out_dir=args.out,
            device=args.device,
            seed=args.seed,
            options=_parse_options(args.option),
        )
        on_log = None if args.quiet else (lambda line: print(line, file=sys.stderr, flush=True))
        result = run(config, on_log=on_log)
    except (HarnessError, OSError, ValueError) as exc:
        print(f"error: {exc}", file=sys.stderr)
        return 2
    if args.json:
        payload = json.loads(result.to_json())
        payload["overhead"] = {
            "startup_seconds": result.startup_seconds,
            "training_seconds": result.training_seconds,
            "eval_seconds": result.eval_seconds,
            "other_seconds": max(
                0.0,
                result.total_seconds
                - result.startup_seconds
                - result.training_seconds
                - result.eval_seconds,
            ),
        }
        print(json.dumps(payload))
    else:
        print(summary(result))
    return 0 if result.state == RunStatus.SUCCEEDED else 1


def summary(result) -> str:  # type: ignore[no-untyped-def]
    """The block autoresearch users grep for, plus state and overhead."""
    lines = ["---"]
    if result.val_bpb is not None:
        lines.append(f"val_bpb:          {result.val_bpb:.6f}")
    lines += [
        f"training_seconds: {result.training_seconds:.1f}",
        f"total_seconds:    {result.total_seconds:.1f}",
        f"peak_memory_mb:   {result.peak_memory_mb:.1f}",
    ]
    if result.mfu_percent is not None:
        lines.append(f"mfu_percent:      {result.mfu_percent:.2f}")
    lines += [
        f"total_tokens_M:   {result.total_tokens / 1e6:.1f}",
        f"num_steps:        {result.num_steps}",
        f"num_params_M:     {result.num_params / 1e6:.1f}",
        f"startup_seconds:  {result.startup_seconds:.1f}",
        f"eval_seconds:     {result.eval_seconds:.1f}",
        f"state:            {result.state}",
    ]
    if result.failure_reason:
        lines.append(f"failure_reason:   {result.failure_reason}")
        lines.append(f"failure_message:  {(result.failure_message or '').strip()[-2000:]}")
    lines.append(f"network_isolated: {str(result.network_isolated).lower()}")
    lines.append(f"sandbox:          {result.sandbox_mode or 'not built'}")
    return "\n".join(lines)
