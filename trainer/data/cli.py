"""`loopy data prepare | demo | verify`: build and check harnesses from the command line.

`add_data_commands(subparsers)` adds the `data` command to the `loopy` parser (trainer/cli.py
calls it); `python -m trainer.data.cli data ...` runs it on its own. Bad input prints one
`error: ...` line to stderr and exits with 2, never a traceback.
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any

import msgspec
from rich.console import Console
from rich.progress import BarColumn, Progress, TaskID, TextColumn, TimeElapsedColumn

from trainer.data.harness import Harness, HarnessError

STAGE_LABELS = {
    "scan": "reading documents",
    "tokenizer": "training tokenizer",
    "encode": "tokenizing",
    "validation": "packing validation rows",
}


def add_data_commands(subparsers: argparse._SubParsersAction) -> None:  # type: ignore[type-arg]
    from trainer.data import demo, prepare

    data = subparsers.add_parser("data", help="build and check harnesses (tokenized data)")
    data.set_defaults(func=lambda args: _help(data))
    commands = data.add_subparsers(dest="data_command", metavar="SUBCOMMAND")

    p = commands.add_parser(
        "prepare",
        help="build a harness from .parquet / .jsonl / .txt files",
        description="Train a byte-level BPE tokenizer on the documents, tokenize them into "
        "training shards and pin a packed validation set. .parquet: column 'text'; .jsonl: "
        "field 'text'; .txt: paragraphs joined into documents of ~4000 characters. "
        "Directories are searched recursively.",
    )
    p.add_argument("--source", nargs="+", action="extend", required=True, metavar="PATH")
    p.add_argument("--out", required=True, metavar="DIR", help="new or empty directory")
    p.add_argument("--vocab-size", type=int, default=prepare.DEFAULT_VOCAB_SIZE)
    p.add_argument(
        "--val-tokens", type=int, default=prepare.DEFAULT_VAL_TOKENS, help="validation tokens"
    )
    p.add_argument("--seq-len", type=int, default=prepare.DEFAULT_SEQ_LEN)
    p.add_argument(
        "--time-budget", type=float, default=prepare.DEFAULT_TIME_BUDGET_S, metavar="SECONDS"
    )
    p.add_argument("--description", default="")
    p.add_argument(
        "--threads", type=int, default=None, help="tokenizer threads (default: all cores)"
    )
    p.add_argument("--json", action="store_true", help="print the manifest as one JSON line")
    p.set_defaults(func=_prepare)

    d = commands.add_parser(
        "demo",
        help="build the demo harness from this Python's standard library sources",
        description="Deterministic: the same Python version gives the same harness id.",
    )
    d.add_argument("--out", required=True, metavar="DIR", help="new or empty directory")
    d.add_argument("--max-bytes", type=int, default=None, help="limit the source text (bytes)")
    d.add_argument("--vocab-size", type=int, default=demo.DEMO_VOCAB_SIZE)
    d.add_argument("--val-tokens", type=int, default=demo.DEMO_VAL_TOKENS)
    d.add_argument("--seq-len", type=int, default=demo.DEMO_SEQ_LEN)
    d.add_argument("--json", action="store_true", help="print the manifest as one JSON line")
    d.set_defaults(func=_demo)

    v = commands.add_parser("verify", help="check the sha256 of every file of a harness")
    v.add_argument("harness", metavar="DIR")
    v.add_argument("--json", action="store_true")
    v.set_defaults(func=_verify)


def _help(parser: argparse.ArgumentParser) -> int:
    parser.print_help()
    return 2


def _prepare(args: argparse.Namespace) -> int:
    from trainer.data.prepare import prepare

    def build(progress: Callable[[str, int, int | None], None]) -> Harness:
        return prepare(
            args.source,
            args.out,
            vocab_size=args.vocab_size,
            val_tokens=args.val_tokens,
            seq_len=args.seq_len,
            time_budget_s=args.time_budget,
            description=args.description,
            threads=args.threads,
            progress=progress,
        )

    return _build(build, args.json)


def _demo(args: argparse.Namespace) -> int:
    from trainer.data.demo import build_demo_harness

    return _build(
        lambda progress: build_demo_harness(
            args.out,
            max_bytes=args.max_bytes,
            vocab_size=args.vocab_size,
            seq_len=args.seq_len,
            val_tokens=args.val_tokens,
            progress=progress,
        ),
        args.json,
    )


def _verify(args: argparse.Namespace) -> int:
    try:
        harness = Harness.load(args.harness)
        harness.verify()
    except HarnessError as exc:
        return _fail(exc)
    if args.json:
        print(json.dumps({"harness_id": harness.harness_id, "verified": True}))
    else:
        print(f"harness {harness.harness_id}: all {len(harness.manifest.files)} files verified")
    return 0


def _build(build: Callable[[Any], Harness], as_json: bool) -> int:
    try:
        with _progress() as progress:
            harness = build(progress)
    except HarnessError as exc:
        return _fail(exc)
    if as_json:
        summary = msgspec.structs.asdict(harness.manifest)
        del summary["files"]
        print(json.dumps({**summary, "path": str(harness.path)}))
    else:
        _print_summary(harness)
    return 0


def _fail(exc: HarnessError) -> int:
    print(f"error: {exc}", file=sys.stderr)
    return 2


@contextmanager
def _progress() -> Iterator[Callable[[str, int, int | None], None]]:
    console = Console(stderr=True)
    bars = Progress(
        TextColumn("{task.description:<26}"),
        BarColumn(),
        TextColumn("{task.completed:>9,} / {task.fields[total_text]}"),
        TimeElapsedColumn(),
        console=console,
        disable=not console.is_terminal,
    )
    tasks: dict[str, TaskID] = {}

    def update(stage: str, done: int, total: int | None) -> None:
        if stage not in tasks:
            tasks[stage] = bars.add_task(STAGE_LABELS.get(stage, stage), total=None, total_text="?")
        bars.update(
            tasks[stage],
            completed=done,
            total=total,
            total_text="?" if total is None else f"{total:,}",
        )

    with bars:
        yield update


def _print_summary(harness: Harness) -> None:
    stats = harness.manifest.stats
    console = Console()
    console.print(f"[bold]harness {harness.harness_id}[/bold] written to {harness.path}")
    console.print(f"  {harness.manifest.description}")
    console.print(
        f"  vocab {harness.vocab_size:,} (BOS = {harness.bos_token_id}), seq_len {harness.seq_len}, "
        f"token dtype {harness.manifest.token_dtype}"
    )
    if stats:
        console.print(
            f"  train: {stats['train_documents']:,} documents, {stats['train_tokens']:,} tokens "
            f"in {len(harness.manifest.train_shards)} shard(s)"
        )
    console.print(
        f"  validation: {harness.val_rows:,} rows x {harness.seq_len + 1} tokens "
        f"({harness.eval_tokens:,} scored positions)"
        + (f" from {stats['val_documents']:,} documents" if stats else "")
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="loopy")
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    add_data_commands(subparsers)
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
