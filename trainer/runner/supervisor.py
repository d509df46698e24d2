"""`run(config)`: train an untrusted train.py in a sandbox, then evaluate it, trusted.

Phases and where time goes (each appears in the result):
    startup    training child start -> its first ctx.report (imports, model build, compile)
    training   the budget, enforced here: startup allowance + budget + grace, then kill
    evaluation training child exit -> val_bpb known (a fresh child, started next to the
               training child so that its imports overlap the training child's start-up)
"""

from __future__ import annotations

import contextlib
import json
import math
import os
import shutil
import signal
import threading
import time
import uuid
from collections.abc import Callable
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import msgspec

from trainer.data.harness import Harness
from trainer.runner.accounting import (
    CheckpointUnreadable,
    MemoryWatch,
    count_checkpoint_params,
    device_name_of,
    mfu_percent,
)
from trainer.runner.batches import BatchRefused, BatchServer, TrainingClock
from trainer.runner.channel import Channel, ChannelClosed, ChannelError
from trainer.runner.config import (
    CLAIMABLE_REASONS,
    RunConfig,
    RunFailure,
    RunResult,
    RunStatus,
    Stop,
)
from trainer.runner.devices import is_cuda, validate_device
from trainer.runner.eval_protocol import Failed as EvalFailed
from trainer.runner.eval_protocol import Loaded, Ready, SharedBuffers
from trainer.runner.eval_protocol import ProtocolError as EvalProtocolError
from trainer.runner.eval_protocol import decode as decode_eval_message
from trainer.runner.evaluation import (
    Allowance,
    ChildLink,
    Clock,
    EvaluationFailed,
    Evaluator,
    checkpoint_parameters,
    rows_per_batch,
    tolerance_for,
    tree_cpu_seconds,
)
from trainer.runner.messages import (
    EXPLODING_LOSS,
    MAX_FRAME_BYTES,
    Done,
    Failed,
    Hello,
    Metric,
    NextBatch,
    OpenBatches,
    Saved,
    TrainMessage,
    decode_train_message,
)
from trainer.runner.sandbox import (
    BWRAP,
    JOB,
    NONE,
    SCRATCH,
    ChildCommand,
    CopyRefused,
    Limits,
    Mounts,
    Sandboxed,
    SandboxSettings,
    SandboxUnavailable,
    scrubbed_env,
)

MetricsCallback = Callable[[list[dict[str, Any]]], None]
LogCallback = Callable[[str], None]
# A train file's channel: messages other than batch requests (which wait for our answer)
# at most MESSAGE_RATE per second on average, else the run ends as CONTRACT (ctx.report
# itself sends at most 200 per second); metric values recorded at most ROW_RATE per
# second and MAX_METRIC_ROWS per run, the rest counted as dropped.
MESSAGE_RATE, MESSAGE_BURST = 2000.0, 20000.0
ROW_RATE, ROW_BURST = 1000.0, 10000.0
MAX_METRIC_ROWS = 100_000
MEMORY_SAMPLE_S = 0.25  # how often the child's memory is sampled (CUDA: 1 s, nvidia-smi)


class RunFailed(Exception):
    """Ends the run early: FAILED for a reason, or CANCELLED on the caller's cancel."""

    def __init__(self, reason: Stop, message: str) -> None:
        super().__init__(message)
        self.reason = reason
        self.message = message


def _physical_memory_mb() -> int:
    return os.sysconf("SC_PAGE_SIZE") * os.sysconf("SC_PHYS_PAGES") >> 20


def _default_threads() -> int:
    return len(os.sched_getaffinity(0))


def _link_or_copy(src: Path, dst: Path) -> None:
    """Between the supervisor's own files only (never into the harness cache)."""
    try:
        os.link(src, dst)
    except OSError:
        shutil.copyfile(src, dst)


CHECKPOINT_JSON_MAX_BYTES = 1 << 20


@dataclass(frozen=True)
class ChildSettings:
    """Everything a child is started with before its run is known: a pre-warmed child
    serves a run only when these are equal."""

    device: str
    threads: int
    limits: Limits
    sandbox: SandboxSettings
    extra_env: tuple[tuple[str, str], ...]
    harness_dir: str
    prewarm_eval: bool

    @classmethod
    def of(cls, config: RunConfig) -> ChildSettings:
        validate_device(config.device)
        if config.sandbox not in (BWRAP, NONE):
            raise ValueError(f"sandbox must be {BWRAP!r} or {NONE!r}, not {config.sandbox!r}")
        cuda = is_cuda(config.device)
        memory = config.memory_limit_mb or int(0.8 * _physical_memory_mb())
        threads = config.threads or _default_threads()
        return cls(
            device=config.device,
            threads=threads,
            limits=Limits(
                memory_mb=memory,
                address_space=not cuda,  # CUDA reserves huge virtual ranges
                max_processes=config.max_processes,
                max_file_size_mb=config.max_file_size_mb,
                max_open_files=config.max_open_files,
                log_cap_bytes=config.log_cap_bytes,
                cpus=float(threads),
            ),
            sandbox=SandboxSettings(
                mode=config.sandbox,
                bwrap=config.bwrap,
                uid=config.sandbox_uid,
                scratch_mb=config.scratch_mb,
            ),
            extra_env=tuple(sorted(config.extra_env.items())),
            harness_dir=str(Path(config.harness_dir).resolve()),
            prewarm_eval=config.prewarm_eval,
        )

    @property
    def cuda(self) -> bool:
        return is_cuda(self.device)


def spawn_child(
    settings: ChildSettings,
    module: str,
    args: list[str],
    mounts: Mounts,
    log_path: Path,
    on_log: LogCallback | None,
    name: str,
) -> tuple[Sandboxed, Channel]:
    """Start a sealed child running `module` with `args` and read-only `mounts`; (child,
    our end of its channel). Its scratch (home, cwd) is a private tmpfs of
    settings.sandbox.scratch_mb; the channel is the only descriptor it inherits."""
    channel, child_end = Channel.pair()
    try:
        home = SCRATCH if not settings.sandbox.unsafe else None
        child = Sandboxed(
            ChildCommand(module, [str(child_end.fileno()), *args]),
            limits=settings.limits,
            log_path=log_path,
            mounts=mounts,
            settings=settings.sandbox,
            device=settings.device,
            pass_fds=(child_end.fileno(),),
            on_log=on_log,
            name=name,
            env_for=lambda view: scrubbed_env(
                home or view(SCRATCH), settings.device, settings.threads, dict(settings.extra_env)
            ),
        )
    except BaseException:
        channel.close()
        raise
    finally:
        child_end.close()
    return child, channel


def _fresh_dir(path: Path) -> Path:
    shutil.rmtree(path, ignore_errors=True)
    path.mkdir(parents=True)
    return path


def spawn_train_child(
    settings: ChildSettings,
    job_dir: Path,
    log_path: Path,
    on_log: LogCallback | None,
) -> tuple[Sandboxed, Channel]:
    """A training child that imports torch, then waits for its job on the channel. It sees
    only its job folder (train.py, written when the job is known) read-only under /job: no
    harness file at all, since its batches come from the supervisor over the channel (a
    child that could read the shards could train on fresh data past its budget)."""
    device = "cuda" if settings.cuda else "cpu"
    return spawn_child(
        settings,
        "trainer.runner.child_train",
        [device],
        Mounts(_fresh_dir(job_dir)),
        log_path,
        on_log,
        "loopy-train",
    )


EXCHANGE_PREFIX = "loopy-exchange-"


def _sweep_exchange_dirs(shm: Path) -> None:
    """Remove the evaluation buffer folders of supervisors that are gone (killed before
    their clean-up; supervisors before memfd buffers made one per evaluation child)."""
    for path in shm.glob(f"{EXCHANGE_PREFIX}*-*"):
        pid = path.name[len(EXCHANGE_PREFIX) :].split("-", 1)[0]
        if pid.isdigit() and not Path(f"/proc/{pid}").exists():
            shutil.rmtree(path, ignore_errors=True)


def spawn_eval_child(
    settings: ChildSettings, job_dir: Path, log_path: Path, on_log: LogCallback | None
) -> tuple[Sandboxed, Channel]:
    """An evaluation child: it sees its job folder (train.py and the trusted copy of the
    checkpoint, written when training ended) read-only under /job; the buffers it
    shares with the supervisor come as anonymous memory over its channel
    (eval_protocol), never a named file; it never sees the validation targets."""
    if Path("/dev/shm").is_dir():
        _sweep_exchange_dirs(Path("/dev/shm"))
    mounts = Mounts(_fresh_dir(job_dir))
    try:
        return spawn_child(
            settings, "trainer.runner.child_eval", [], mounts, log_path, on_log, "loopy-eval"
        )
    except BaseException:
        shutil.rmtree(job_dir, ignore_errors=True)
        raise


def set_group_priority(child: Sandboxed, niceness: int) -> None:
    """Renice every thread of the child's sandbox (the supervisor is the only one allowed
    to lower it again). Warm children import torch at the lowest priority so they do not
    slow the evaluation of the run that is finishing on the same cores."""
    for tid in child.threads():
        with contextlib.suppress(OSError):  # gone, or not permitted: only speed suffers
            os.setpriority(os.PRIO_PROCESS, tid, niceness)


WARM_NICENESS = 19


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


class TrainingWatch:
    """Reads the training child's channel on a thread: serves its batches, records its
    metrics, keeps what it claims about itself. Every frame is decoded against the
    bounded schema in trainer.runner.messages; the first one that does not fit, or a
    flood, sets `violation` (CONTRACT, saying what was wrong) and reading stops. Nothing
    a child sends can raise here."""

    def __init__(
        self,
        channel: Channel,
        out_dir: Path,
        on_metrics: MetricsCallback | None,
        batches: BatchServer,
        clock: TrainingClock,
    ) -> None:
        self.channel = channel
        self.on_metrics = on_metrics
        self.batches = batches
        self.clock = clock
        self.metrics_file = open(out_dir / "metrics.jsonl", "w")  # noqa: SIM115 - closed in join
        self.violation: tuple[RunFailure, str] | None = None  # seen here; the child is killed
        self.claimed_failure: tuple[str, str] | None = None  # the child's word only
        self.reported: dict[str, Any] = {}
        self.saved = False  # the child says it called ctx.save (the file is checked)
        self.last_loss: float | None = None
        self.rows = 0
        self.dropped = 0
        self._mfu: list[float] = []
        self._messages = _Bucket(MESSAGE_RATE, MESSAGE_BURST)
        self._row_budget = _Bucket(ROW_RATE, ROW_BURST)
        self.thread = threading.Thread(target=self._read, daemon=True)
        self.thread.start()

    def _read(self) -> None:
        while self.violation is None:
            try:
                frame = self.channel.recv_frame(max_bytes=MAX_FRAME_BYTES)
            except (ChannelClosed, OSError):
                return
            except Exception as exc:  # ChannelError: oversized frame
                self.violation = (RunFailure.CONTRACT, f"training channel: {exc}")
                return
            try:
                message = decode_train_message(frame)
            except msgspec.ValidationError as exc:
                self.violation = (RunFailure.CONTRACT, f"training channel: invalid message: {exc}")
                return
            except Exception as exc:
                self.violation = (
                    RunFailure.CONTRACT,
                    f"training channel: undecodable frame: {exc}",
                )
                return
            try:
                self._handle(message)
            except BatchRefused as exc:
                self.violation = (RunFailure.CONTRACT, f"training batches: {exc}")
            except (ChannelClosed, OSError):  # the child is gone mid-reply
                return
            except Exception as exc:  # ours (e.g. an unreadable harness), never the child's
                self.violation = (
                    RunFailure.CRASH,
                    f"the supervisor failed serving the child: {exc!r}",
                )

    def _handle(self, message: TrainMessage) -> None:
        now = time.monotonic()
        if isinstance(message, NextBatch):  # request and answer: the child waits on us
            self.batches.next(message, self.channel)
            return
        if isinstance(message, OpenBatches):
            self.batches.open(message, self.channel)
            return
        if not self._messages.take(now):
            self.violation = (
                RunFailure.CONTRACT,
                f"training channel flooded: more than {MESSAGE_BURST:g} messages at over "
                f"{MESSAGE_RATE:g} per second",
            )
            return
        if isinstance(message, Metric):
            self._metric(message, now)
        elif isinstance(message, Hello):
            self.reported["device_name"] = message.device_name
        elif isinstance(message, Saved):
            self.saved = True
            self.reported["num_params"] = message.num_params
        elif isinstance(message, Failed):
            if self.claimed_failure is None:
                self.claimed_failure = (message.reason, message.message)
                self.reported["failure_reason"] = message.reason
        elif isinstance(message, Done):
            self.reported |= {
                "num_steps": message.steps,
                "total_tokens": message.tokens,
                "training_seconds": message.training_seconds,
                "peak_memory_mb": message.peak_memory_mb,
            }

    def _metric(self, message: Metric, now: float) -> None:
        start = self.clock.start_now(now)  # the first report starts the clock
        step, values = message.step, message.values
        self.reported["num_steps"] = max(self.reported.get("num_steps", 0), step + 1)
        loss = values.get("loss")
        if loss is not None:
            self.last_loss = loss
            if not math.isfinite(loss) or loss > EXPLODING_LOSS:
                self.violation = (RunFailure.DIVERGED, f"loss {loss} reported at step {step}")
        mfu = values.get("mfu_percent")
        if mfu is not None and step > 0 and math.isfinite(mfu):
            self._mfu.append(mfu)
            self.reported["mfu_percent"] = sum(self._mfu) / len(self._mfu)
        wall = max(0.0, now - start)
        rows = []
        for name, value in values.items():
            if not math.isfinite(value):
                continue  # not a point on a chart (a non-finite loss ended the run above)
            if self.rows >= MAX_METRIC_ROWS or not self._row_budget.take(now):
                self.dropped += 1
                continue
            self.rows += 1
            rows.append({"step": step, "name": name, "value": value, "wall_seconds": wall})
        if not rows:
            return
        self.metrics_file.write("".join(json.dumps(row) + "\n" for row in rows))
        if self.on_metrics is not None:
            try:
                self.on_metrics(rows)
            except Exception:  # the caller's store: a failed write is not the run's fault
                pass

    def join(self) -> None:
        self.thread.join(timeout=5)
        self.channel.close()
        self.metrics_file.close()
        self.batches.close()


class _Bucket:
    """A token bucket: `rate` per second on average, `burst` at once."""

    def __init__(self, rate: float, burst: float) -> None:
        self.rate, self.burst = rate, burst
        self.tokens = burst
        self.at = time.monotonic()

    def take(self, now: float) -> bool:
        self.tokens = min(self.burst, self.tokens + (now - self.at) * self.rate)
        self.at = now
        if self.tokens < 1:
            return False
        self.tokens -= 1
        return True


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
        self.threads = config.threads or _default_threads()
        self.startup_allowance = config.startup_allowance_s or (180.0 if self.cuda else 30.0)
        self.grace = config.grace_s if config.grace_s is not None else 5.0 + 0.05 * config.budget_s
        self.eval_timeout = config.eval_timeout_s or (600.0 if self.cuda else 120.0)
        self.limits = self.settings.limits
        self.result = RunResult(state=RunStatus.FAILED)
        self.eval_child: Sandboxed | None = None
        self.eval_channel: Channel | None = None
        self.eval_child_b: Sandboxed | None = None  # the second evaluation child
        self.eval_channel_b: Channel | None = None

    # --- the whole run ---

    def execute(self) -> RunResult:
        t0 = time.monotonic()
        result = self.result
        train_end = t0
        try:
            watch, train_end = self.train()
            self.evaluate(watch)
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
            self.stop_eval_child()
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
            self.start_eval_child()
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
                *self.classify_exit(
                    child, returncode, oom_killed, "training", watch.claimed_failure
                )
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

    def classify_exit(
        self,
        child: Sandboxed,
        returncode: int,
        oom_killed: bool,
        phase: str,
        claimed: tuple[str, str] | None = None,
    ) -> tuple[RunFailure, str]:
        """Why a child that ended on its own failed, from what we saw: the cgroup's OOM
        kill, the signal, the exit status. A child's own account (`claimed`) can only
        name which kind of train-file failure it was (CLAIMABLE_REASONS), never move
        the blame (CANCELLED, TIMEOUT, INTEGRITY, WORKER_LOST, ... are CRASH)."""
        tail = child.tail()
        signum = -returncode if returncode < 0 else 0
        if oom_killed:
            return RunFailure.OOM, f"{phase} ran out of memory (exit {returncode})\n{tail}"
        if signum == signal.SIGKILL:
            return (
                RunFailure.OOM,
                f"{phase} process was killed (SIGKILL), most likely for memory\n{tail}",
            )
        if signum == signal.SIGXFSZ:
            return RunFailure.SANDBOX_VIOLATION, f"{phase} exceeded the file size limit\n{tail}"
        if signum:
            name = signal.Signals(signum).name if signum in signal.valid_signals() else signum
            return RunFailure.CRASH, f"{phase} process died (signal {name})\n{tail}"
        if claimed is not None:
            reason, message = claimed
            if reason in CLAIMABLE_REASONS:
                return RunFailure(reason), message[-4000:]
            return RunFailure.CRASH, (
                f"{phase} failed (exit code {returncode}); it claimed {reason[:64]!r}, which "
                f"only the supervisor decides\n{message[-4000:]}"
            )
        if "std::bad_alloc" in tail or "out of memory" in tail:
            return RunFailure.OOM, f"{phase} ran out of memory (exit {returncode})\n{tail}"
        return RunFailure.CRASH, f"{phase} process died (exit code {returncode})\n{tail}"

    # --- evaluation ---

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
            self.eval_child, self.eval_channel = eval_child, eval_channel
        if eval_b is not None and eval_b_channel is not None:
            set_group_priority(eval_b, 0)
            with contextlib.suppress(OSError):
                os.rename(warm.root / "eval-2.log", self.out / "eval-2.log")
                eval_b.follow(self.out / "eval-2.log", self.on_log)
            self.eval_child_b, self.eval_channel_b = eval_b, eval_b_channel
        return child, channel

    def start_eval_child(self) -> None:
        """Start whichever of the two evaluation children is missing (they import torch
        and wait; pre-warmed ones come from WarmChildren)."""
        if self.eval_child is None:
            self.eval_child, self.eval_channel = spawn_eval_child(
                self.settings, self.out / "eval", self.out / "eval.log", self.on_log
            )
        if self.eval_child_b is None:
            self.eval_child_b, self.eval_channel_b = spawn_eval_child(
                self.settings, self.out / "eval-2", self.out / "eval-2.log", self.on_log
            )

    def eval_pairs(self) -> list[tuple[Sandboxed, Channel, Path]]:
        """(child, our end of its channel, its job folder) for each evaluation child."""
        pairs = [(self.eval_child, self.eval_channel), (self.eval_child_b, self.eval_channel_b)]
        return [(c, ch, c.mounts.job_dir) for c, ch in pairs if c is not None and ch is not None]

    def stop_eval_child(self) -> None:
        """Ask both evaluation children to exit, then make sure they are gone."""
        pairs = self.eval_pairs()
        for _, channel, _ in pairs:
            with contextlib.suppress(OSError):
                channel.send({"type": "exit"})
        deadline = time.monotonic() + 2.0  # together: one slow child does not double it
        for child, channel, _ in pairs:
            child.wait(timeout=max(0.0, deadline - time.monotonic()))
            child.finish()
            child.release()
            channel.close()
        self.eval_child = self.eval_channel = self.eval_child_b = self.eval_channel_b = None

    def evaluate(self, watch: TrainingWatch | None = None, audit_seed: int | None = None) -> None:
        """Score the checkpoint in out/train with two evaluation children (primary and
        auditor, secretly assigned), under deadlines derived from the honest cost."""
        entered = time.monotonic()
        cfg, h = self.config, self.harness
        self.start_eval_child()
        val_rows, token_bytes = h.val_rows_array(), h.token_bytes()
        rows = cfg.eval_batch_rows or rows_per_batch(
            h.val_rows, h.seq_len, h.vocab_size, cfg.eval_slot_mb or (512 if self.cuda else 16)
        )
        rows = max(1, min(rows, h.val_rows))
        tolerance = tolerance_for(self.config.device)
        atol = cfg.integrity_atol if cfg.integrity_atol is not None else tolerance.tolerance
        seed = audit_seed if audit_seed is not None else cfg.audit_seed
        evaluator = Evaluator(
            val_rows,
            token_bytes,
            h.vocab_size,
            h.bos_token_id,
            rows,
            atol,
            cfg.audit_fraction,
            seed,
        )
        checkpoint = self.out / "checkpoint.pt"  # the trusted copy
        allowance = Allowance.derive(
            self.config.device,
            self.threads,
            checkpoint_parameters(checkpoint),
            checkpoint.stat().st_size if checkpoint.exists() else 0,
            evaluator.forwarded_tokens,
            cfg.budget_s,
        )
        basis = {"tolerance": atol, "measured": tolerance.as_dict()}
        deadline = {"allowance": asdict(allowance)}
        pairs = self.eval_pairs()
        roots = [child.pid for child, _, _ in pairs]
        clock = Clock(None if self.cuda else lambda: tree_cpu_seconds(roots))
        stop = threading.Event()

        def guard() -> None:  # a cancel or a child past its deadline: kill, do not wait
            while not stop.wait(0.05):
                # past the wall deadline the waiting side raises TIMEOUT itself first
                if (
                    self.cancel.is_set()
                    or clock.poll()
                    and (clock.over_cpu or clock.remaining() < -1.0)
                ):
                    for child, _, _ in pairs:
                        child.kill()
                    return

        guard_thread = threading.Thread(target=guard, daemon=True)
        guard_thread.start()
        links: list[ChildLink] = []
        try:
            self.load_eval_children(pairs, rows, clock, allowance, links)
            clock.start("scoring", *allowance.limits("scoring"))
            outcome = evaluator.run(links[0], links[1], clock)
            clock.stop()
        except EvaluationFailed as failure:
            self.result.integrity = failure.evidence | {"basis": basis}
            if failure.reason == RunFailure.TIMEOUT:
                self.result.integrity["deadline"] |= deadline
            raise RunFailed(failure.reason, failure.message) from None
        except (ChannelClosed, ChannelError, OSError, TimeoutError) as exc:
            reason, message = self.eval_death(exc, clock)
            if reason == RunFailure.TIMEOUT:
                self.result.integrity = {"deadline": clock.timeout("").evidence["deadline"]}
                self.result.integrity["deadline"] |= deadline
            raise RunFailed(reason, message) from None
        finally:
            stop.set()
            guard_thread.join()
            for link in links:
                link.buffers.close()
            clock.stop()
            self.result.eval_timing = {"setup": clock.created - entered} | clock.spent
        self.result.val_bpb = outcome.val_bpb
        self.result.integrity = outcome.integrity | {
            "basis": basis,
            "deadline": deadline | {"spent": dict(clock.spent)},
            "scored_tokens": outcome.scored_tokens,
        }
        # setup (plan, allowance), ready (imports), load, scoring: our clock; then how
        # the scoring split between the children (our clock, and what they say)
        self.result.eval_timing |= outcome.timing

    def load_eval_children(
        self,
        pairs: list[tuple[Sandboxed, Channel, Path]],
        rows: int,
        clock: Clock,
        allowance: Allowance,
        links: list[ChildLink],
    ) -> None:
        """Give each child its own copy of the train file and checkpoint and its own
        shared memory; wait until both have imported, then loaded, within the deadlines."""
        h = self.harness
        jobs = []
        for child, _, workdir in pairs:
            set_group_priority(child, 0)  # evaluation is on: normal priority
            jobs.append(self.place_eval_job(child, workdir))
        clock.start("ready", self.eval_timeout)
        for _, channel, _ in pairs:
            self.expect(channel, Ready, clock)
        clock.start("load", *allowance.limits("load"))
        for i, ((_, channel, _), job) in enumerate(zip(pairs, jobs, strict=True)):
            buffers = SharedBuffers(rows, h.seq_len, h.vocab_size)
            links.append(ChildLink(f"#{i + 1}", channel, buffers))  # the caller closes it
            device = "cuda" if self.cuda else "cpu"
            load = {"type": "load", "device": device, "threads": self.threads}
            buffers.hand_over(channel, load | job)
        for _, channel, _ in pairs:
            self.expect(channel, Loaded, clock)

    def place_eval_job(self, child: Sandboxed, job_dir: Path) -> dict[str, str]:
        """Put the train file and the trusted checkpoint copy into one evaluation child's
        read-only job folder (copies, not links: even without a sandbox, what one child
        writes must not reach the other or our copy); the paths as the child sees them."""
        (job_dir / "train.py").write_text(self.config.train_source)
        for name in ("checkpoint.pt", "checkpoint.json"):
            shutil.copyfile(self.out / name, job_dir / name)
        return {
            "train_file": child.path(f"{JOB}/train.py"),
            "checkpoint_path": child.path(f"{JOB}/checkpoint.pt"),
            "config_path": child.path(f"{JOB}/checkpoint.json"),
        }

    def expect(self, channel: Channel, kind: type, clock: Clock) -> None:
        remaining = clock.remaining()
        try:
            if remaining <= 0:
                raise TimeoutError
            message = decode_eval_message(channel.recv(timeout=remaining))
        except TimeoutError:
            raise clock.timeout(f"waiting for {kind.__name__.lower()}") from None
        except (EvalProtocolError, ChannelError) as exc:
            raise EvaluationFailed(RunFailure.CONTRACT, f"evaluation child: {exc}") from None
        if isinstance(message, EvalFailed):
            raise EvaluationFailed(RunFailure(message.reason), message.message)
        if not isinstance(message, kind):
            raise EvaluationFailed(
                RunFailure.CONTRACT, f"evaluation child said {message!r}, expected {kind.__name__}"
            )

    def eval_death(self, exc: BaseException, clock: Clock) -> tuple[Stop, str]:
        if self.cancel.is_set():
            return RunStatus.CANCELLED, "cancelled during evaluation"
        pairs = self.eval_pairs()
        if clock.expired() or isinstance(exc, TimeoutError):
            return RunFailure.TIMEOUT, clock.timeout("the child was killed at its deadline").message
        for child, _, _ in pairs:
            child.wait(timeout=1)
        dead = [child for child, _, _ in pairs if child.poll() is not None] or [
            child for child, _, _ in pairs
        ]
        child = dead[0]
        oom = child.oom_killed()
        for other, _, _ in pairs:
            other.kill()  # the guard kills on timeout; make sure in every other case too
        returncode = child.wait(timeout=5)
        return self.classify_exit(
            child, returncode if returncode is not None else -9, oom, "evaluation"
        )

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
