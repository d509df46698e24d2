"""Shared by the training and evaluation children: load a train.py, classify failures."""

from __future__ import annotations

import errno
import importlib.util
import sys
import traceback
from pathlib import Path
from types import ModuleType

from trainer.runner.config import RunFailure
from trainer.runner.ctx import ContractError, TrainingDiverged

TRACEBACK_CHARS = 3000


def load_train_module(path: Path) -> ModuleType:
    """Execute train.py as the module `train` (its import-time code runs here)."""
    spec = importlib.util.spec_from_file_location("train", path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules["train"] = module
    spec.loader.exec_module(module)
    return module


def require(module: ModuleType, name: str) -> object:
    fn = getattr(module, name, None)
    if not callable(fn):
        raise ContractError(f"train.py must define a function `{name}`")
    return fn


def is_out_of_memory(exc: BaseException) -> bool:
    if isinstance(exc, MemoryError):
        return True
    text = str(exc)
    return type(exc).__name__ == "OutOfMemoryError" or (
        isinstance(exc, RuntimeError)
        and ("out of memory" in text or "can't allocate memory" in text)
    )


def classify(exc: BaseException) -> tuple[RunFailure, str]:
    """(failure reason, message with the traceback tail) for an exception from train.py."""
    tail = "".join(traceback.format_exception(exc))[-TRACEBACK_CHARS:]
    if isinstance(exc, ContractError):
        return RunFailure.CONTRACT, f"{exc}\n{tail}"
    if isinstance(exc, TrainingDiverged | FloatingPointError):
        return RunFailure.DIVERGED, f"{exc}\n{tail}"
    if is_out_of_memory(exc):
        return RunFailure.OOM, f"out of memory: {exc}\n{tail}"
    if isinstance(exc, OSError) and exc.errno == errno.EFBIG:
        return RunFailure.SANDBOX_VIOLATION, f"file size limit exceeded: {exc}\n{tail}"
    if isinstance(exc, OSError) and exc.errno == errno.EMFILE:
        return RunFailure.SANDBOX_VIOLATION, f"open file limit exceeded: {exc}\n{tail}"
    if isinstance(exc, OSError) and exc.errno == errno.EAGAIN and "fork" in tail:
        return RunFailure.SANDBOX_VIOLATION, f"process limit exceeded: {exc}\n{tail}"
    return RunFailure.CRASH, tail
