"""The `loopy` command: one argparse tree, each area registers its own subcommands.

An area module exposes `register(subparsers)`; each subparser sets `func`
(taking the parsed args, returning an exit code). Areas are imported lazily by
name so `loopy data ...` does not import the service and vice versa.
"""

from __future__ import annotations

import argparse
import importlib
import sys

# module path -> registers these top-level commands
AREAS = [
    "trainer.cli",  # data, train, baseline
    "service.commands",  # up, serve, keys, config
    "service.worker.cli",  # worker
    "clients.cli",  # tracks, program, propose, launch, watch, ... (over the SDK)
]


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="loopy", description="Loopy: the research loop as an API."
    )
    subparsers = parser.add_subparsers(dest="command", metavar="COMMAND")
    for name in AREAS:
        importlib.import_module(name).register(subparsers)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if not getattr(args, "func", None):
        parser.print_help()
        return 2
    return int(args.func(args) or 0)


if __name__ == "__main__":
    sys.exit(main())
