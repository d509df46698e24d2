"""Children started before their run is known, so the next run skips their start-up.

A worker calls `prewarm(config, work_root)` while a run evaluates; the next `run(...,
warm=...)` takes the children over if they fit its settings, else kills them.
"""

from __future__ import annotations

import shutil
import threading
import uuid
from pathlib import Path

from trainer.runner.channel import Channel, ChannelClosed, ChannelError
from trainer.runner.children import (
    WARM_NICENESS,
    ChildSettings,
    set_group_priority,
    spawn_eval_child,
    spawn_train_child,
)
from trainer.runner.config import RunConfig
from trainer.runner.sandbox import Sandboxed


class WarmChildren:
    """A training child (and two evaluation children) started before their run is known.

    Each serves exactly one run: `run(config, warm=...)` takes them over, or kills
    them when they do not fit the config or died. No clock runs while they wait;
    `close()` kills what was never used (the children also exit when our end of
    their channel closes, so a dead supervisor leaves no idle child behind).
    """

    def __init__(self, config: RunConfig, work_root: str | Path) -> None:
        self.settings = ChildSettings.of(config)
        self.root = Path(work_root).resolve() / f"warm-{uuid.uuid4().hex[:12]}"
        self.root.mkdir(parents=True)
        self.train: Sandboxed | None = None
        self.train_channel: Channel | None = None
        self.eval: Sandboxed | None = None
        self.eval_channel: Channel | None = None
        self.eval_b: Sandboxed | None = None  # the second evaluation child
        self.eval_b_channel: Channel | None = None
        self.lock = threading.Lock()
        self.taken = False
        try:
            self.train, self.train_channel = spawn_train_child(
                self.settings, self.train_dir, self.root / "train.log", None
            )
            set_group_priority(self.train, WARM_NICENESS)
            if self.settings.prewarm_eval:
                self.eval, self.eval_channel = spawn_eval_child(
                    self.settings, self.eval_dir, self.root / "eval.log", None
                )
                set_group_priority(self.eval, WARM_NICENESS)
                self.eval_b, self.eval_b_channel = spawn_eval_child(
                    self.settings, self.root / "eval-2", self.root / "eval-2.log", None
                )
                set_group_priority(self.eval_b, WARM_NICENESS)
        except BaseException:
            self.close()
            raise

    @property
    def train_dir(self) -> Path:
        return self.root / "train"

    @property
    def eval_dir(self) -> Path:
        return self.root / "eval"

    def wait_ready(self, timeout: float) -> bool:
        """Block until the training child has imported torch and waits for its job."""
        channel = self.train_channel
        if channel is None:
            return False
        try:
            return channel.recv(timeout=timeout).get("type") == "waiting"
        except (ChannelClosed, ChannelError, OSError, TimeoutError):
            return False

    def alive(self) -> bool:
        children = (self.train, self.eval, self.eval_b)
        return all(c.poll() is None for c in children if c is not None)

    def take(self, settings: ChildSettings) -> bool:
        """Claim the children for one run if they fit `settings` and live; else kill them."""
        with self.lock:
            fits = not self.taken and settings == self.settings and self.alive()
            self.taken = True
        if not fits:
            self.close()
        return fits

    def close(self) -> None:
        """Kill whatever is still running and remove the warm folder (idempotent)."""
        with self.lock:
            self.taken = True
            children = [
                (self.train, self.train_channel),
                (self.eval, self.eval_channel),
                (self.eval_b, self.eval_b_channel),
            ]
            self.train = self.train_channel = self.eval = self.eval_channel = None
            self.eval_b = self.eval_b_channel = None
        for child, channel in children:
            if channel is not None:
                channel.close()
            if child is not None:
                child.finish()
                child.release()
        shutil.rmtree(self.root, ignore_errors=True)


def prewarm(config: RunConfig, work_root: str | Path) -> WarmChildren:
    """Start the next run's children now: only the config's device, harness and sandbox
    settings matter (its train_source, budget, seed and out_dir are not looked at).
    `work_root` must be on the file system of the runs' out_dir (the work dir is moved)."""
    return WarmChildren(config, work_root)
