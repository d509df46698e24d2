"""The tiny harness that real runs train on in the worker, fault and end-to-end tests,
and the run options that make a 2 s budget take a few dozen steps on one core."""

from __future__ import annotations

import json
from pathlib import Path

TINY_OPTIONS = {
    "DEPTH": 1,
    "ASPECT_RATIO": 32,
    "HEAD_DIM": 16,
    "TOTAL_BATCH_SIZE": 256,
    "DEVICE_BATCH_SIZE": 4,
}
TINY_RUN_CONFIG = {"options": TINY_OPTIONS, "threads": 1, "startup_allowance_s": 60.0}
TINY_BUDGET_S = 2.0


def tiny_corpus(path: Path) -> Path:
    """~185 KB of English text that is on every machine with Python, as 3 KB documents."""
    import pydoc

    modules = ("json", "argparse", "pathlib", "collections", "functools", "subprocess")
    text = "\n\n".join(
        pydoc.render_doc(__import__(name), renderer=pydoc.plaintext) for name in modules
    )
    docs = [text[i : i + 3000] for i in range(0, len(text), 3000)]
    path.write_text("\n".join(json.dumps({"text": doc}) for doc in docs))
    return path


def build_tiny_harness(root: Path) -> Path:
    """Prepare the tiny harness under `root`; returns its directory."""
    from trainer.data.prepare import prepare

    out = root / "harness"
    prepare(
        [tiny_corpus(root / "corpus.jsonl")],
        out,
        vocab_size=512,
        val_tokens=1024,
        seq_len=64,
        time_budget_s=TINY_BUDGET_S,
        threads=1,
    )
    return out
