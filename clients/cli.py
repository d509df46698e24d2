"""The human side of `loopy`: tracks, program, propose, launch, watch, runs, logs,
evaluate, promote, leaderboard, results, chart.

Built on the Python SDK only (it talks HTTP to a running Loopy, like an agent).
Where: LOOPY_URL and LOOPY_API_KEY, else the service `loopy up` runs on this
machine's data dir (its URL from DATA_DIR/run/api.json, its admin key from
DATA_DIR/admin.key), so right after `loopy up` no flag is needed.

Every command prints for people (rich tables, a live progress bar) or, with
`--json`, one JSON document on stdout for scripts. An error prints its code,
detail and what to do on stderr and exits 1 (2 for a usage error).
"""

from __future__ import annotations

import argparse
import csv
import io
import json
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

EXIT_ERROR = 1
EXIT_USAGE = 2

# What to do about each error code, in a sentence a person can act on.
NEXT_STEP = {
    "UNAUTHENTICATED": (
        "check LOOPY_API_KEY (or the admin.key of the data dir `loopy config` shows); "
        "an admin makes a key with `loopy keys create --name NAME`"
    ),
    "PERMISSION_DENIED": "this needs another role (an admin key) or is another agent's resource",
    "NOT_FOUND": "check the id: `loopy tracks` and `loopy runs TRACK` list what exists",
    "INVALID_ARGUMENT": "fix the request as the details say and send it again",
    "ALREADY_EXISTS": "it exists already: use the existing one (see the details)",
    "CONFLICT": "someone changed it first (see details, e.g. current_head): redo it on the new state",
    "FAILED_PRECONDITION": "it is not in a state that allows this yet (see the details)",
    "RESOURCE_EXHAUSTED": "a quota is used up: wait retry_after_s, or ask an admin for more",
    "PAYLOAD_TOO_LARGE": "send less: the request is over the server's size limit",
    "UNAVAILABLE": "the service cannot do it right now (queue or store down): retry shortly",
    "INTERNAL": "a server fault: see the API log (DATA_DIR/logs/api.log for `loopy up`)",
}

COMMANDS = (
    "tracks",
    "program",
    "propose",
    "launch",
    "watch",
    "runs",
    "logs",
    "cancel",
    "evaluate",
    "promote",
    "leaderboard",
    "results",
    "chart",
)


class CLIError(Exception):
    """A problem found on this side (no key, unreadable file): message + what to do."""

    def __init__(self, message: str, next_step: str = "", code: str = "CLIENT_ERROR") -> None:
        super().__init__(message)
        self.code = code
        self.next_step = next_step


# --- registration --------------------------------------------------------------


def register(subparsers: Any) -> None:
    def add(name: str, help_text: str, func: Callable[..., int]) -> argparse.ArgumentParser:
        parser: argparse.ArgumentParser = subparsers.add_parser(
            name, help=help_text, description=help_text + _WHERE
        )
        parser.add_argument("--json", action="store_true", help="print JSON for scripts")
        parser.set_defaults(func=lambda args: _main(func, args))
        return parser

    add("tracks", "list the tracks", cmd_tracks)

    p = add("program", "print a track's research program (what agents read first)", cmd_program)
    p.add_argument("track")

    p = add("propose", "propose an edit of a track's train.py", cmd_propose)
    p.add_argument("track")
    how = p.add_mutually_exclusive_group(required=True)
    how.add_argument("--diff", metavar="FILE", help="a unified diff file ('-' = stdin)")
    how.add_argument(
        "--replace", nargs=2, metavar=("OLD", "NEW"), help="replace the text OLD (once) by NEW"
    )
    how.add_argument("--file", metavar="TRAIN_PY", help="the whole new train.py")
    p.add_argument("-m", "--message", required=True, help="what the change is and why")
    p.add_argument("--base", default=None, help="revision the edit is made on (default: head)")

    p = add("launch", "queue a training run (of REVISION, default the track head)", cmd_launch)
    p.add_argument("track")
    p.add_argument("revision", nargs="?", default=None)
    p.add_argument("--seed", type=int, default=None)

    p = add("watch", "follow a run live: progress over the budget, then its summary", cmd_watch)
    p.add_argument("run")
    p.add_argument("--timeout", type=float, default=3600.0, help="seconds (default 3600)")

    p = add("runs", "list a track's runs, newest first", cmd_runs)
    p.add_argument("track")
    p.add_argument("--state", default=None, help="QUEUED, RUNNING, SUCCEEDED, FAILED, CANCELLED")
    p.add_argument("--limit", type=int, default=20)

    p = add("logs", "print a run's output (stdout and stderr of train.py)", cmd_logs)
    p.add_argument("run")
    p.add_argument("--tail", type=int, default=None, metavar="BYTES", help="only the last BYTES")

    p = add("cancel", "cancel a queued or running run", cmd_cancel)
    p.add_argument("run")

    p = add("evaluate", "judge a finished run against the head, beyond noise", cmd_evaluate)
    p.add_argument("run")
    p.add_argument("--wait", action="store_true", help="wait for the verdict")
    p.add_argument("--replicates", type=int, default=None, help="seeds per side")
    p.add_argument("--timeout", type=float, default=3600.0, help="longest wait, seconds")

    p = add("promote", "advance a track's head to a run's revision", cmd_promote)
    p.add_argument("track")
    p.add_argument("run")

    p = add("leaderboard", "the best revisions of a track", cmd_leaderboard)
    p.add_argument("track")
    p.add_argument("--limit", type=int, default=None)

    p = add(
        "results", "every finished run of a track as TSV (autoresearch's results.tsv)", cmd_results
    )
    p.add_argument("track")

    p = add("chart", "save a track's progress chart (PNG)", cmd_chart)
    p.add_argument("track")
    p.add_argument("-o", "--output", default="progress.png", help="default: progress.png")


_WHERE = (
    ". Talks to LOOPY_URL with LOOPY_API_KEY, else to the service `loopy up` runs on "
    "this machine's data dir (see `loopy config`)."
)


# --- plumbing --------------------------------------------------------------------


def _main(func: Callable[..., int], args: argparse.Namespace) -> int:
    import httpx
    from loopy_sdk import LoopyAPIError, RunWaitTimeout, connect
    from loopy_sdk.local import discover

    target = discover()
    try:
        if not target.api_key:
            raise CLIError(
                f"no API key: LOOPY_API_KEY is not set and {target.key_from} does not exist",
                "start Loopy with `loopy up` (it writes that file), or export LOOPY_API_KEY "
                "(and LOOPY_URL for a remote service)",
                code="NO_API_KEY",
            )
        with connect(target.url, target.api_key) as loopy:
            return func(loopy, args) or 0
    except LoopyAPIError as error:
        _fail(args, error.code, error.detail, NEXT_STEP.get(error.code, ""), error.to_dict())
    except httpx.TransportError as error:
        _fail(
            args,
            "UNREACHABLE",
            f"cannot reach Loopy at {target.url} (from {target.url_from}): {error}",
            "start it with `loopy up`, or point LOOPY_URL at a running service",
        )
    except RunWaitTimeout as error:
        _fail(
            args,
            "TIMEOUT",
            str(error),
            "it is still going: run the command again to keep waiting (or pass --timeout)",
            {"resource": error.resource.to_dict()},
        )
    except CLIError as error:
        _fail(args, error.code, str(error), error.next_step)
    except KeyboardInterrupt:
        return 130
    return EXIT_ERROR


def _fail(
    args: argparse.Namespace,
    code: str,
    detail: str,
    next_step: str,
    problem: dict[str, Any] | None = None,
) -> None:
    """The error on stderr: JSON with --json, else three lines a person reads."""
    if getattr(args, "json", False):
        body = {
            "error": {**(problem or {}), "code": code, "detail": detail, "next_step": next_step}
        }
        print(json.dumps(body, default=str), file=sys.stderr)
        return
    print(f"error: {code}: {detail}", file=sys.stderr)
    details = (problem or {}).get("details")
    if details:
        print(f"  details: {json.dumps(details, default=str)}", file=sys.stderr)
    if next_step:
        print(f"  what to do: {next_step}", file=sys.stderr)


def _emit(data: Any) -> None:
    print(json.dumps(data, indent=2, default=str))


def _console() -> Any:
    from rich.console import Console

    # Piped output is not cut to 80 columns: ids must stay whole to be copied.
    return Console(width=None if sys.stdout.isatty() else 200)


def _table(*columns: str, title: str | None = None) -> Any:
    """A table whose first column (the id to copy) never wraps or shortens."""
    from rich.table import Table

    table = Table(title=title)
    for i, name in enumerate(columns):
        table.add_column(name, no_wrap=i == 0, overflow="fold")
    return table


def _fmt(value: Any, digits: int = 4) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.{digits}f}"
    return str(value)


def _val_bpb(run: Any) -> float | None:
    summary = run.get("summary") if isinstance(run, dict) else None
    return summary.get("val_bpb") if summary else None


# --- commands --------------------------------------------------------------------


def cmd_tracks(loopy: Any, args: argparse.Namespace) -> int:
    tracks = [t.to_dict() for t in _all_pages(loopy.list_tracks, "tracks")]
    if args.json:
        _emit({"tracks": tracks})
        return 0
    table = _table("track", "name", "head", "device", "budget s", "noise σ", "head run")
    for t in tracks:
        table.add_row(
            t["id"],
            t.get("display_name", ""),
            t["head_revision"][:12],
            t["device_class"],
            f"{t['time_budget_s']:g}",
            _fmt(t.get("noise_std")),
            t.get("head_run_id") or "-",
        )
    _console().print(table)
    return 0


def _all_pages(call: Callable[..., Any], field: str) -> list[Any]:
    items: list[Any] = []
    token = ""
    while True:
        page = call(page_token=token)
        items.extend(getattr(page, field))
        token = page.next_page_token
        if not token:
            return items


def cmd_program(loopy: Any, args: argparse.Namespace) -> int:
    program = loopy.get_program(args.track)
    if args.json:
        _emit(program.to_dict())
        return 0
    print(program.text)
    return 0


def cmd_propose(loopy: Any, args: argparse.Namespace) -> int:
    fields: dict[str, Any] = {"description": args.message, "base_revision": args.base}
    if args.diff is not None:
        fields["diff"] = _read(args.diff)
    elif args.file is not None:
        fields["source"] = _read(args.file)
    else:
        fields["blocks"] = [tuple(args.replace)]
    result = loopy.propose_edit(args.track, **fields).to_dict()
    if args.json:
        _emit(result)
        return 0
    revision = result["revision"]
    stats = revision.get("stats") or {}
    note = " (already proposed before)" if result.get("already_exists") else ""
    note += " (rebased onto the head)" if result.get("rebased") else ""
    print(f"revision {revision['id']}{note}")
    print(
        f"  +{stats.get('lines_added', 0)} -{stats.get('lines_removed', 0)} lines: {revision['description']}"
    )
    if result.get("existing_run_ids"):
        print(f"  runs of it already: {', '.join(result['existing_run_ids'])}")
    print(f"next: loopy launch {args.track} {revision['id']}")
    return 0


def _read(path: str) -> str:
    try:
        return sys.stdin.read() if path == "-" else Path(path).read_text()
    except OSError as error:
        raise CLIError(f"cannot read {path}: {error.strerror}", "check the file name") from error


def cmd_launch(loopy: Any, args: argparse.Namespace) -> int:
    run = loopy.launch_run(args.track, args.revision, seed=args.seed).to_dict()
    if args.json:
        _emit(run)
        return 0
    print(run["id"])
    print(
        f"  {run['state']}: revision {run['revision_id'][:12]}, seed {run['seed']}, "
        f"{run['time_budget_s']:g} s on {run['device_class']}",
        file=sys.stderr,
    )
    print(f"next: loopy watch {run['id']}", file=sys.stderr)
    return 0


def cmd_watch(loopy: Any, args: argparse.Namespace) -> int:
    """A progress bar over the time budget (from the metric points' wall seconds), with
    step, loss and tokens/s; then the summary. --json: the finished run only."""
    from loopy_sdk import TERMINAL_RUN_STATES

    run = loopy.get_run(args.run)
    if args.json:
        run = loopy.wait_for_run(args.run, args.timeout)
        _emit(run.to_dict())
        return 0 if run.state.value == "SUCCEEDED" else EXIT_ERROR
    from rich.progress import BarColumn, Progress, TextColumn, TimeElapsedColumn

    budget = float(run.time_budget_s) or 1.0
    latest: dict[str, float] = {}
    state = run.state.value
    deadline = time.monotonic() + args.timeout
    progress = Progress(
        TextColumn("[bold]{task.fields[state]:<9}"),
        BarColumn(),
        TextColumn("{task.completed:>5.1f}/{task.total:g} s"),
        TextColumn("{task.fields[stats]}"),
        TimeElapsedColumn(),
        console=_console(),
        transient=False,
    )

    def stats() -> str:
        parts = []
        if "step" in latest:
            parts.append(f"step {int(latest['step'])}")
        if "loss" in latest:
            parts.append(f"loss {latest['loss']:.4f}")
        if "tokens_per_second" in latest:
            parts.append(f"{latest['tokens_per_second']:,.0f} tok/s")
        return "  ".join(parts)

    with progress:
        task = progress.add_task(args.run, total=budget, state=state, stats="")
        if run.state not in TERMINAL_RUN_STATES:
            after_seq = 0
            while time.monotonic() < deadline and state not in {
                s.value for s in TERMINAL_RUN_STATES
            }:
                try:
                    for event in loopy.watch_run(args.run, after_seq=after_seq):
                        after_seq = max(after_seq, event.seq)
                        if event.type == "state":
                            state = event.data.get("state", state)
                        elif event.type == "metrics":
                            for point in event.data.get("points", []):
                                latest[point["name"]] = point["value"]
                                latest["step"] = max(latest.get("step", 0), point["step"])
                                wall = point.get("wall_seconds")
                                if wall is not None:
                                    progress.update(task, completed=min(float(wall), budget))
                        progress.update(task, state=state, stats=stats())
                        if time.monotonic() >= deadline:
                            break
                except Exception as error:  # a dropped stream: resume from after_seq
                    import httpx

                    if not isinstance(error, httpx.TransportError):
                        raise
                    time.sleep(1.0)
        run = loopy.get_run(args.run)
        if run.state.value == "SUCCEEDED":
            progress.update(task, completed=budget)
        progress.update(task, state=run.state.value, stats=stats())
    if run.state not in TERMINAL_RUN_STATES:
        from loopy_sdk import RunWaitTimeout

        raise RunWaitTimeout(
            f"run {args.run} is still {run.state.value} after {args.timeout:g} s", run
        )
    _print_run(run.to_dict())
    return 0 if run.state.value == "SUCCEEDED" else EXIT_ERROR


def _print_run(run: dict[str, Any]) -> None:
    print(f"run {run['id']}: {run['state']}")
    if run.get("failure_reason"):
        print(f"  failure: {run['failure_reason']}: {run.get('failure_message') or ''}")
        print(f"  see: loopy logs {run['id']}")
    summary = run.get("summary") or {}
    rows = [
        ("val_bpb", _fmt(summary.get("val_bpb"), 6)),
        ("training seconds", _fmt(summary.get("training_seconds"), 1)),
        ("steps", _fmt(summary.get("num_steps"))),
        ("tokens", _fmt(summary.get("total_tokens"))),
        ("parameters", _fmt(summary.get("num_params"))),
        ("peak memory MB", _fmt(summary.get("peak_memory_mb"), 1)),
        ("device", _fmt(summary.get("device_name"))),
    ]
    if summary:
        for name, value in rows:
            print(f"  {name:<17}{value}")
        print(f"next: loopy evaluate {run['id']} --wait")


def cmd_runs(loopy: Any, args: argparse.Namespace) -> int:
    page = loopy.list_runs(args.track, state=args.state, page_size=args.limit)
    runs = [r.to_dict() for r in page.runs]
    if args.json:
        _emit({"runs": runs, "next_page_token": page.next_page_token})
        return 0
    table = _table("run", "state", "purpose", "revision", "seed", "val_bpb", "created")
    for r in runs:
        state = r["state"] + (f" ({r['failure_reason']})" if r.get("failure_reason") else "")
        table.add_row(
            r["id"],
            state,
            r.get("purpose", ""),
            r["revision_id"][:12],
            str(r["seed"]),
            _fmt(_val_bpb(r), 6),
            str(r["create_time"])[:19],
        )
    _console().print(table)
    return 0


def cmd_logs(loopy: Any, args: argparse.Namespace) -> int:
    logs = loopy.get_run_logs(args.run, tail_bytes=args.tail).to_dict()
    if args.json:
        _emit(logs)
        return 0
    sys.stdout.write(logs["text"])
    if logs.get("truncated"):
        print("(earlier output cut; --tail BYTES shows more or less)", file=sys.stderr)
    return 0


def cmd_cancel(loopy: Any, args: argparse.Namespace) -> int:
    run = loopy.cancel_run(args.run).to_dict()
    if args.json:
        _emit(run)
    else:
        print(f"run {run['id']}: {run['state']}")
    return 0


def cmd_evaluate(loopy: Any, args: argparse.Namespace) -> int:
    evaluation = loopy.evaluate(args.run, replicates=args.replicates)
    if args.wait:
        if not args.json:
            print(f"evaluation {evaluation.id}: waiting for the replicate runs...", file=sys.stderr)
        evaluation = loopy.wait_for_evaluation(args.run, evaluation.id, args.timeout)
    data = evaluation.to_dict()
    if args.json:
        _emit(data)
        return 0
    print(f"evaluation {data['id']} of run {data['run_id']}: {data['state']}")
    if data.get("verdict"):
        print(f"  verdict    {data['verdict']}")
    for side in ("candidate", "reference"):
        stats = data.get(side) or {}
        print(
            f"  {side:<10} mean {_fmt(stats.get('mean'), 6)}  std {_fmt(stats.get('std'), 6)}"
            f"  n {stats.get('n', 0)}  ({str(stats.get('revision_id', ''))[:12]})"
        )
    print(f"  delta      {_fmt(data.get('delta'), 6)}  z {_fmt(data.get('z_score'), 2)}")
    if data.get("failure_message"):
        print(f"  failure    {data['failure_message']}")
    if data.get("verdict") == "KEEP" and not data.get("promoted"):
        print(f"next: loopy promote {data['track_id']} {data['run_id']}")
    elif data["state"] == "PENDING":
        print(f"next: loopy evaluate {data['run_id']} --wait (the same evaluation is reused)")
    return 0


def cmd_promote(loopy: Any, args: argparse.Namespace) -> int:
    track = loopy.promote_run(args.track, args.run).to_dict()
    if args.json:
        _emit(track)
        return 0
    print(
        f"track {track['id']}: head is now {track['head_revision']} (run {track.get('head_run_id')})"
    )
    return 0


def cmd_leaderboard(loopy: Any, args: argparse.Namespace) -> int:
    board = loopy.get_leaderboard(args.track, limit=args.limit).to_dict()
    if args.json:
        _emit(board)
        return 0
    from rich.table import Table

    table = Table(
        "#",
        "revision",
        "best",
        "mean",
        "runs",
        "author",
        "description",
        title=f"{args.track}: {board.get('metric', 'val_bpb')} (lower is better)",
    )
    for e in board.get("entries", []):
        table.add_row(
            str(e["rank"]),
            e["revision_id"][:12] + (" (head)" if e.get("is_head") else ""),
            _fmt(e["best_value"], 6),
            _fmt(e["mean_value"], 6),
            str(e["runs"]),
            e.get("author_agent_id", ""),
            e.get("description", ""),
        )
    _console().print(table)
    return 0


def cmd_results(loopy: Any, args: argparse.Namespace) -> int:
    text = loopy.export_results(args.track)
    if args.json:
        rows = list(csv.DictReader(io.StringIO(text), delimiter="\t"))
        _emit({"results": rows})
        return 0
    sys.stdout.write(text if text.endswith("\n") or not text else text + "\n")
    return 0


def cmd_chart(loopy: Any, args: argparse.Namespace) -> int:
    png = loopy.get_progress_chart(args.track)
    out = Path(args.output)
    try:
        out.write_bytes(png)
    except OSError as error:
        raise CLIError(f"cannot write {out}: {error.strerror}", "choose another -o path") from error
    if args.json:
        _emit({"path": str(out.resolve()), "bytes": len(png)})
    else:
        print(f"wrote {out} ({len(png):,} bytes)")
    return 0
