"""Docs that run: every fenced code block of README.md and docs/*.md, executed in
order against a real `loopy up`, as a reader would paste it.

- `bash` blocks run with `set -euo pipefail` in a fresh shell whose `curl` fails on
  an HTTP error (`--fail-with-body`), from a scratch directory, with HOME pointing at a
  fresh home whose default data dir is the one this `loopy up` uses (so the docs'
  `~/.local/share/loopy/admin.key` and the CLI's discovery are exercised as written).
  What a block starts in the background is stopped when its document is done.
- `python` blocks run with this interpreter, same environment; `json` blocks must parse
  (an `mcpServers` entry must name a command this install has).
- `text` blocks are listings (a directory tree, a file format, a signature), not code.
- A block preceded by `<!-- docs-run: skip: why -->` is not run; the reason is required.
  Any other language fails the test until it has a runner here.

Each document runs in its own fresh working folder (a reader's session). The only
rewrites: the documented ports (8000, 50051, 8808) become this test's free ports and
`/tmp/` becomes that folder's `tmp/`. The folder holds a small corpus under the names
the docs use (`shards/`, `notes.jsonl`, `book.txt`).
"""

from __future__ import annotations

import contextlib
import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest

pytestmark = [pytest.mark.slow, pytest.mark.timeout(1500)]

REPO = Path(__file__).resolve().parents[2]
DOCUMENTS = [REPO / "README.md", *sorted((REPO / "docs").glob("*.md"))]
RUNNABLE = {"bash", "python", "json"}
LISTINGS = {"text"}
SKIP = re.compile(r"<!--\s*docs-run:\s*skip:\s*(?P<why>\S.*?)\s*-->")
BLOCK_TIMEOUT_S = 600
# curl that fails on 4xx/5xx, like a reader would notice an error body.
BASH_PRELUDE = 'curl() { command curl --fail-with-body "$@"; }\n'


@dataclass
class Block:
    path: Path
    line: int
    language: str
    code: str
    skip: str | None

    @property
    def where(self) -> str:
        return f"{self.path.relative_to(REPO)}:{self.line}"


def extract_blocks(path: Path) -> list[Block]:
    blocks: list[Block] = []
    lines = path.read_text().splitlines()
    i = 0
    while i < len(lines):
        opening = re.match(r"^```(\w*)\s*$", lines[i])
        if not opening:
            i += 1
            continue
        previous = next((lines[j] for j in range(i - 1, -1, -1) if lines[j].strip()), "")
        skip = SKIP.search(previous)
        end = next((j for j in range(i + 1, len(lines)) if lines[j].startswith("```")), None)
        assert end is not None, f"{path}:{i + 1}: unclosed code block"
        blocks.append(
            Block(
                path=path,
                line=i + 1,
                language=opening.group(1) or "(none)",
                code="\n".join(lines[i + 1 : end]) + "\n",
                skip=skip.group("why") if skip else None,
            )
        )
        i = end + 1
    return blocks


def test_every_block_is_runnable_or_says_why_not() -> None:
    """Cheap, no service: a block in an unknown language must get a runner or a reason."""
    runnable = 0
    for path in DOCUMENTS:
        for block in extract_blocks(path):
            runnable += block.skip is None and block.language in RUNNABLE
            if block.skip is None:
                assert block.language in RUNNABLE | LISTINGS, (
                    f"{block.where}: a ```{block.language} block; label it bash/python/json/"
                    "text, or precede it with <!-- docs-run: skip: why -->"
                )
    assert runnable >= 10, f"only {runnable} runnable blocks found: is the extraction broken?"


@pytest.fixture(scope="module")
def home(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return tmp_path_factory.mktemp("docs-home")


@pytest.fixture(scope="module")
def up(home, tiny_harness_dir, e2e, wait_for_calibration):  # type: ignore[no-untyped-def]
    """`loopy up` on the data dir a reader gets by default (HOME/.local/share/loopy)."""
    data_dir = home / ".local" / "share" / "loopy"
    started = e2e.LoopyUp(data_dir, tiny_harness_dir, e2e.free_port(), e2e.free_port())
    try:
        wait_for_calibration(started)
        yield started
    finally:
        started.kill()


@pytest.fixture(scope="module")
def corpus(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A small corpus under the names the docs' examples use."""
    import pydoc

    root = tmp_path_factory.mktemp("docs-corpus")
    modules = [
        "json", "argparse", "pathlib", "collections", "functools", "subprocess", "typing",
        "asyncio", "logging", "email", "http.client", "unittest", "dataclasses", "enum",
        "inspect", "threading", "textwrap", "string", "re", "datetime", "decimal", "csv",
    ]  # fmt: skip
    docs = [
        pydoc.render_doc(__import__(m, fromlist=["_"]), renderer=pydoc.plaintext) for m in modules
    ]
    (root / "shards").mkdir()
    for i, text in enumerate(docs[:8]):
        (root / "shards" / f"part{i}.txt").write_text(text)
    with open(root / "notes.jsonl", "w") as f:
        for text in docs[8:16]:
            for k in range(0, len(text), 2000):
                f.write(json.dumps({"text": text[k : k + 2000]}) + "\n")
    (root / "book.txt").write_text("\n\n".join(docs[16:]))
    return root


@pytest.fixture
def scratch(tmp_path: Path, corpus: Path) -> Path:
    """A reader's fresh working folder per document (its own /tmp/ too), with the corpus."""
    for name in ("shards", "notes.jsonl", "book.txt"):
        (tmp_path / name).symlink_to(corpus / name)
    (tmp_path / "tmp").mkdir()
    return tmp_path


def rewrite(code: str, up: Any, mcp_port: int, scratch: Path) -> str:
    for host in ("localhost", "127.0.0.1"):
        code = code.replace(f"{host}:8000", f"{host}:{up.http_port}")
        code = code.replace(f"{host}:8808", f"{host}:{mcp_port}")
    code = code.replace("--http 8808", f"--http {mcp_port}")
    code = code.replace("50051", str(up.grpc_port))
    return code.replace("/tmp/", f"{scratch}/tmp/")


def reader_env(home: Path) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith("LOOPY_") and k not in {"XDG_DATA_HOME", "PYTHONPATH"}
    }
    bin_dir = str(Path(sys.executable).parent)
    env.update(
        {
            "HOME": str(home),
            "PATH": os.pathsep.join([bin_dir, env.get("PATH", "")]),
            "PYTHONPATH": os.pathsep.join([str(REPO), str(REPO / "clients" / "python")]),
            "COLUMNS": "200",
            "OMP_NUM_THREADS": "1",
        }
    )
    return env


@pytest.mark.parametrize("document", DOCUMENTS, ids=lambda p: str(p.relative_to(REPO)))
def test_document_runs(document: Path, up, home: Path, scratch: Path, e2e, record_property) -> None:  # type: ignore[no-untyped-def]
    env = reader_env(home)
    mcp_port = e2e.free_port()
    background: list[int] = []  # process groups a block left running
    executed, skipped, listings, commands = 0, 0, 0, 0
    timings: list[str] = []
    try:
        for block in extract_blocks(document):
            if block.skip is not None:
                skipped += 1
                continue
            if block.language in LISTINGS:
                listings += 1
                continue
            code = rewrite(block.code, up, mcp_port, scratch)
            started = time.monotonic()
            if block.language == "json":
                check_json(block, json.loads(code), env)
            else:
                run_block(block, code, env, scratch, background)
            timings.append(f"line {block.line}: {time.monotonic() - started:.0f} s")
            executed += 1
            commands += count_commands(block)
    finally:
        for pgid in background:
            with contextlib.suppress(ProcessLookupError, PermissionError):
                os.killpg(pgid, signal.SIGTERM)
    summary = (
        f"{document.relative_to(REPO)}: {executed} blocks run ({commands} commands), "
        f"{skipped} skipped with a reason, {listings} listings; {', '.join(timings)}"
    )
    record_property("docs_run", summary)
    print(summary)


def count_commands(block: Block) -> int:
    """Shell commands (a continued line counts once) or, for Python, one program."""
    if block.language != "bash":
        return 1
    joined = block.code.replace("\\\n", " ")
    return sum(
        1 for line in joined.splitlines() if line.strip() and not line.strip().startswith("#")
    )


def run_block(
    block: Block, code: str, env: dict[str, str], cwd: Path, background: list[int]
) -> None:
    if block.language == "bash":
        argv = ["bash", "-euo", "pipefail", "-c", BASH_PRELUDE + code]
    else:
        script = cwd / f"block_{block.path.stem}_{block.line}.py"
        script.write_text(code)
        argv = [sys.executable, str(script)]
    # Output to a file, not a pipe: a server the block starts in the background keeps
    # its copy open, and the block is done when its shell exits, not at end of output.
    log_path = cwd / f"block_{block.path.stem}_{block.line}.log"
    with open(log_path, "w") as log:
        proc = subprocess.Popen(
            argv,
            cwd=cwd,
            env=env,
            stdin=subprocess.DEVNULL,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own group: what it backgrounds is stopped later
        )
    background.append(proc.pid)
    started = time.monotonic()
    try:
        proc.wait(timeout=BLOCK_TIMEOUT_S)
    except subprocess.TimeoutExpired:
        os.killpg(proc.pid, signal.SIGKILL)
        proc.wait()
        out = log_path.read_text(errors="replace")
        raise AssertionError(
            f"{block.where}: still running after {BLOCK_TIMEOUT_S} s\n{out[-4000:]}"
        ) from None
    out = log_path.read_text(errors="replace")
    took = time.monotonic() - started
    assert proc.returncode == 0, (
        f"{block.where}: the ```{block.language} block failed (exit {proc.returncode}, "
        f"{took:.0f} s):\n{code}\n--- output ---\n{out[-6000:]}"
    )


def check_json(block: Block, data: Any, env: dict[str, str]) -> None:
    for name, server in (data.get("mcpServers") or {}).items():
        command = Path(server["command"]).name
        found = shutil.which(command, path=env["PATH"])
        assert found, (
            f"{block.where}: MCP server {name!r} names {command!r}, which is not installed"
        )
