"""`run(config)`: train an untrusted train.py in a sandbox, then evaluate it, trusted.

Phases and where time goes (each appears in the result):
    startup    training child start -> its first ctx.report (imports, model build, compile)
    training   the budget, enforced here: startup allowance + budget + grace, then kill
    evaluation training child exit -> val_bpb known (a fresh child, started next to the
               training child so that its imports overlap the training child's start-up)
"""

from __future__ import annotations

import contextlib
import os
import shutil
import threading
import time
from collections.abc import Callable
from pathlib import Path

from trainer.data.harness import Harness
from trainer.runner.accounting import (
    CheckpointUnreadable,
    MemoryWatch,
    count_checkpoint_params,
    device_name_of,
    mfu_percent,
)
from trainer.runner.batches import BatchServer, TrainingClock
from trainer.runner.channel import Channel
from trainer.runner.children import (
    ChildSettings,
    LogCallback,
    default_threads,
    set_group_priority,
    spawn_train_child,
)
from trainer.runner.config import RunConfig, RunFailure, RunResult, RunStatus, Stop
from trainer.runner.devices import is_cuda, validate_device
from trainer.runner.failures import RunFailed, classify_exit
from trainer.runner.sandbox import JOB, SCRATCH, CopyRefused, Sandboxed, SandboxUnavailable
from trainer.runner.scoring import Scoring
from trainer.runner.warm import WarmChildren
from trainer.runner.watch import MetricsCallback, TrainingWatch

MEMORY_SAMPLE_S = 0.25  # how often the child's memory is sampled (CUDA: 1 s, nvidia-smi)
CHECKPOINT_JSON_MAX_BYTES = 1 << 20


def run(
    config: RunConfig,
    on_metrics: MetricsCallback | None = None,
    on_log: LogCallback | None = None,
    cancel: threading.Event | None = None,
    warm: WarmChildren | None = None,
    on_trained: Callable[[], None] | None = None,
) -> RunResult:
    """Train `config.train_source` on the harness, evaluate it, classify any failure.

    `warm`: children from `prewarm`, used for this run if they fit the config (else
    killed); either way they are this run's to end. `on_trained` is called as soon as the
    training child is gone (e.g. to pre-warm the next run while this one evaluates).
    """
    return _Run(config, on_metrics, on_log, cancel or threading.Event(), warm, on_trained).execute()


class _Run:
    def __init__(
        self,
        config: RunConfig,
        on_metrics: MetricsCallback | None,
        on_log: LogCallback | None,
        cancel: threading.Event,
        warm: WarmChildren | None = None,
        on_trained: Callable[[], None] | None = None,
    ) -> None:
        try:
            validate_device(config.device)
            if not config.budget_s > 0:
                raise ValueError(f"budget_s must be positive, got {config.budget_s}")
            self.settings = ChildSettings.of(config)
        except BaseException:
            if warm is not None:
                warm.close()
            raise
        self.warm = warm if warm is not None and warm.take(self.settings) else None
        self.on_trained = on_trained
        self.config = config
        self.on_metrics = on_metrics
        self.on_log = on_log
        self.cancel = cancel
        self.cuda = is_cuda(config.device)
        self.harness = Harness.load(config.harness_dir)
        self.out = Path(config.out_dir).resolve()
        self.out.mkdir(parents=True, exist_ok=True)
        self.threads = config.threads or default_threads()
        self.startup_allowance = config.startup_allowance_s or (180.0 if self.cuda else 30.0)
        self.grace = config.grace_s if config.grace_s is not None else 5.0 + 0.05 * config.budget_s
        self.limits = self.settings.limits
        self.result = RunResult(state=RunStatus.FAILED)
        self.scoring = Scoring(
            config, self.harness, self.settings, self.out, on_log, cancel, self.result
        )

    # --- the whole run ---

    def execute(self) -> RunResult:
        t0 = time.monotonic()
        result = self.result
        train_end = t0
        try:
            watch, train_end = self.train()
            self.scoring.evaluate(watch)
            result.eval_seconds = time.monotonic() - train_end
            result.state = RunStatus.SUCCEEDED
        except SandboxUnavailable as refused:  # fail closed: no sandbox, no run
            result.failure_reason = RunFailure.SANDBOX_UNAVAILABLE
            result.failure_message = str(refused)
            result.sandbox = result.sandbox | {"sandbox": "unavailable"}
        except RunFailed as failure:
            result.failure_message = failure.message
            if failure.reason != RunStatus.CANCELLED:
                result.failure_reason = failure.reason
            elif self.cancel.is_set():
                result.state = RunStatus.CANCELLED
            else:
                # only our own cancel makes a run CANCELLED, never a child's word for it
                result.failure_reason = RunFailure.CRASH
                result.failure_message = f"a child claimed to be cancelled: {failure.message}"
        finally:
            self.scoring.stop_eval_child()
            if self.warm is not None:
                self.warm.close()  # what is left of it: the eval work dir
        result.total_seconds = time.monotonic() - t0
        result.log_path = str(self.combine_logs())
        (self.out / "result.json").write_text(result.to_json() + "\n")
        return result

    # --- training ---

    def train(self) -> tuple[TrainingWatch, float]:
        cfg = self.config
        spawn_time = time.monotonic()
        child, channel = self.adopt_warm() or spawn_train_child(
            self.settings, self.out / "train", self.out / "train.log", self.on_log
        )
        # the job reaches the (maybe pre-warmed) child through its read-only job folder
        (child.mounts.job_dir / "train.py").write_text(cfg.train_source)
        (self.out / "train.py").write_text(cfg.train_source)  # what ran, for the record
        clock = TrainingClock(spawn_time, self.startup_allowance, cfg.budget_s)
        spec = {
            "workdir": child.path(SCRATCH),
            "train_file": child.path(f"{JOB}/train.py"),
            "device": "cuda" if self.cuda else "cpu",
            "threads": self.threads,
            "vocab_size": self.harness.vocab_size,
            "seq_len": self.harness.seq_len,
            "bos_token_id": self.harness.bos_token_id,
            "budget_s": cfg.budget_s,
            "token_budget": cfg.token_budget,
            "seed": cfg.seed,
            "options": cfg.options,
            "clock_deadline": clock.latest_start,
        }
        with contextlib.suppress(OSError):  # a dead child shows below, as an exit
            channel.send({"type": "job", "spec": spec})
        self.result.network_isolated = child.report.network_isolated
        self.result.sandbox_mode = child.report.sandbox
        self.result.sandbox = child.report.as_dict() | {
            "prewarmed": self.warm is not None,
            "train_pid": child.pid,
        }
        batches = BatchServer(str(self.harness.path), cfg.seed, clock)
        watch = TrainingWatch(channel, self.out, self.on_metrics, batches, clock)
        memory = MemoryWatch(child.pid, cfg.device)
        memory.start(1.0 if self.cuda else MEMORY_SAMPLE_S)
        if cfg.prewarm_eval:
            # import torch now, on the core the training child's single-threaded start-up
            # leaves idle, rather than when training starts and every core is busy
            self.scoring.start_eval_child()
        stop: tuple[Stop, str] | None = None
        while child.wait(timeout=0.05) is None:
            now = time.monotonic()
            start = clock.check(now)
            # the whole child lifetime: warm-up (at most the start-up allowance), then the
            # budget on the supervisor's clock, then the save grace (no batches in it)
            deadline = (start if start is not None else clock.latest_start) + cfg.budget_s
            if self.cancel.is_set():
                stop = (RunStatus.CANCELLED, "cancelled during training")
            elif now > deadline + self.grace:
                stop = (
                    RunFailure.TIMEOUT,
                    f"training still running {now - spawn_time:.1f} s after start: past the "
                    f"warm-up {(start or now) - spawn_time:.1f} s (allowance "
                    f"{self.startup_allowance:g} s) + budget {cfg.budget_s:g} s + save grace "
                    f"{self.grace:g} s; the process tree was killed",
                )
            elif watch.violation is not None:
                stop = watch.violation
            if stop is not None:
                break
        memory.sample()  # the last look before the process tree goes
        memory.stop()
        oom_killed = child.oom_killed()
        returncode = child.finish()
        train_end = time.monotonic()
        try:
            return self.collect_training(
                child, watch, memory, stop, returncode, oom_killed, spawn_time, train_end
            )
        finally:
            child.release()  # the scratch tmpfs goes with its last handle

    def collect_training(
        self,
        child: Sandboxed,
        watch: TrainingWatch,
        memory: MemoryWatch,
        stop: tuple[Stop, str] | None,
        returncode: int,
        oom_killed: bool,
        spawn_time: float,
        train_end: float,
    ) -> tuple[TrainingWatch, float]:
        if self.on_trained is not None:
            try:
                self.on_trained()
            except Exception:  # the caller's business (e.g. a failed pre-warm): not the run's
                pass
        watch.join()
        if stop is None and watch.violation is not None:
            stop = watch.violation
        self.fill_training_stats(watch, memory, spawn_time, train_end, killed=stop is not None)
        if stop is not None:
            raise RunFailed(*stop)
        if returncode != 0 or watch.claimed_failure is not None:
            raise RunFailed(
                *classify_exit(child, returncode, oom_killed, "training", watch.claimed_failure)
            )
        if not watch.saved:
            raise RunFailed(RunFailure.CONTRACT, "training ended without ctx.save(model, config)")
        self.copy_checkpoint(child)
        # counted on the trusted copy, never on a path inside the child's scratch
        checkpoint = self.out / "checkpoint.pt"
        try:
            self.result.num_params = count_checkpoint_params(
                checkpoint, self.config.max_checkpoint_mb << 20
            )
        except CheckpointUnreadable as exc:
            raise RunFailed(RunFailure.CONTRACT, f"the saved checkpoint: {exc}") from None
        r = self.result
        r.mfu_percent = mfu_percent(
            r.num_params,
            watch.batches.tokens - watch.batches.warmup_tokens,
            r.training_seconds,
            r.device_name,
        )
        return watch, train_end

    def copy_checkpoint(self, child: Sandboxed) -> None:
        """The trusted side copies the checkpoint out of the child's scratch: no link is
        followed, only a regular file of bounded size is taken; anything else is refused
        and recorded. Only this copy is evaluated and uploaded."""
        cap = self.config.max_checkpoint_mb << 20
        files = (("checkpoint.pt", cap), ("checkpoint.json", CHECKPOINT_JSON_MAX_BYTES))
        for name, max_bytes in files:
            try:
                child.copy_out(name, self.out / name, max_bytes)
            except CopyRefused as refused:
                self.result.sandbox["refused"] = str(refused)
                missing = "does not exist" in str(refused)
                reason = RunFailure.CONTRACT if missing else RunFailure.SANDBOX_VIOLATION
                raise RunFailed(reason, f"the run's {name} was not taken: {refused}") from None
        self.result.checkpoint_path = str(self.out / "checkpoint.pt")

    def fill_training_stats(
        self,
        watch: TrainingWatch,
        memory: MemoryWatch,
        spawn_time: float,
        end: float,
        killed: bool,
    ) -> None:
        """The supervisor's own figures; the child's claims go to `reported` only."""
        r = self.result
        start = watch.clock.start
        r.startup_seconds = (start if start is not None else end) - spawn_time
        r.training_seconds = max(0.0, end - start) if start is not None else 0.0
        # a run we had to kill is charged all the time its child held the machine
        r.compute_seconds = end - spawn_time if killed else r.training_seconds
        r.total_tokens = watch.batches.tokens
        r.num_steps = watch.batches.batches
        r.peak_memory_mb = memory.peak_mb
        r.device_name = device_name_of(self.config.device)
        r.final_loss = watch.last_loss
        r.metrics_dropped = watch.dropped
        r.reported = dict(watch.reported)

    # --- warm children ---

    def adopt_warm(self) -> tuple[Sandboxed, Channel] | None:
        """Take the warm children over for this run (their job folders stay in the warm
        folder, which is removed when the run ends); None (and they are killed) if not."""
        warm = self.warm
        if warm is None:
            return None
        child, channel = warm.train, warm.train_channel
        assert child is not None and channel is not None
        try:
            os.rename(warm.root / "train.log", self.out / "train.log")
        except OSError:  # e.g. another file system: start cold
            self.warm = None
            warm.close()
            return None
        with warm.lock:
            warm.train = warm.train_channel = None  # ours to end from here
            eval_child, eval_channel = warm.eval, warm.eval_channel
            warm.eval = warm.eval_channel = None
            eval_b, eval_b_channel = warm.eval_b, warm.eval_b_channel
            warm.eval_b = warm.eval_b_channel = None
        child.follow(self.out / "train.log", self.on_log)
        set_group_priority(child, 0)  # the run is on: back to normal priority
        if eval_child is not None and eval_channel is not None:
            set_group_priority(eval_child, 0)
            with contextlib.suppress(OSError):
                os.rename(warm.root / "eval.log", self.out / "eval.log")
                eval_child.follow(self.out / "eval.log", self.on_log)
            self.scoring.eval_child, self.scoring.eval_channel = eval_child, eval_channel
        if eval_b is not None and eval_b_channel is not None:
            set_group_priority(eval_b, 0)
            with contextlib.suppress(OSError):
                os.rename(warm.root / "eval-2.log", self.out / "eval-2.log")
                eval_b.follow(self.out / "eval-2.log", self.on_log)
            self.scoring.eval_child_b, self.scoring.eval_channel_b = eval_b, eval_b_channel
        return child, channel

    # --- logs ---

    def combine_logs(self) -> Path:
        combined = self.out / "run.log"
        with open(combined, "wb") as out:
            for name, title in (
                ("train.log", "training"),
                ("eval.log", "evaluation"),
                ("eval-2.log", "evaluation (second child)"),
            ):
                path = self.out / name
                if path.exists():
                    out.write(f"--- {title} ---\n".encode())
                    with open(path, "rb") as f:
                        shutil.copyfileobj(f, out)
        return combined
