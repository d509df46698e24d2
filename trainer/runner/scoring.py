"""Scoring a run's checkpoint: two evaluation children (primary and auditor, secretly
assigned) each load the train file and the trusted checkpoint copy; the supervisor
feeds them the validation rows, reduces the logits itself and audits one against the
other (trainer.runner.evaluation), under deadlines derived from the honest cost.
"""

from __future__ import annotations

import contextlib
import shutil
import threading
import time
from dataclasses import asdict
from pathlib import Path

from trainer.data.harness import Harness
from trainer.runner.audit import tolerance_for
from trainer.runner.channel import Channel, ChannelClosed, ChannelError
from trainer.runner.children import ChildSettings, LogCallback, set_group_priority, spawn_eval_child
from trainer.runner.config import RunConfig, RunFailure, RunResult, RunStatus, Stop
from trainer.runner.deadlines import Allowance, Clock, checkpoint_parameters, tree_cpu_seconds
from trainer.runner.eval_protocol import Failed as EvalFailed
from trainer.runner.eval_protocol import Loaded, Ready, SharedBuffers
from trainer.runner.eval_protocol import ProtocolError as EvalProtocolError
from trainer.runner.eval_protocol import decode as decode_eval_message
from trainer.runner.evaluation import ChildLink, Evaluator, rows_per_batch
from trainer.runner.failures import EvaluationFailed, RunFailed, classify_exit
from trainer.runner.sandbox import JOB, Sandboxed
from trainer.runner.watch import TrainingWatch


class Scoring:
    """The evaluation phase of one run and its two evaluation children."""

    def __init__(
        self,
        config: RunConfig,
        harness: Harness,
        settings: ChildSettings,
        out: Path,
        on_log: LogCallback | None,
        cancel: threading.Event,
        result: RunResult,
    ) -> None:
        self.config = config
        self.harness = harness
        self.settings = settings
        self.out = out
        self.on_log = on_log
        self.cancel = cancel
        self.result = result  # val_bpb, integrity and eval_timing are written here
        self.cuda = settings.cuda
        self.threads = settings.threads
        self.eval_timeout = config.eval_timeout_s or (600.0 if self.cuda else 120.0)
        self.eval_child: Sandboxed | None = None
        self.eval_channel: Channel | None = None
        self.eval_child_b: Sandboxed | None = None  # the second evaluation child
        self.eval_channel_b: Channel | None = None

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
        return classify_exit(child, returncode if returncode is not None else -9, oom, "evaluation")
