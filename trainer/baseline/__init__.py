"""The baseline training file that every track starts from (SPEC §3)."""

from __future__ import annotations

from pathlib import Path

BASELINE_PATH = Path(__file__).with_name("train.py")


def baseline_source() -> str:
    """The baseline train.py, exactly as agents receive it."""
    return BASELINE_PATH.read_text(encoding="utf-8")
