"""The training child: `train(ctx)` of an untrusted train.py, inside the sandbox.

argv: CHANNEL_FD DEVICE (cpu or cuda). The child imports torch (and, on CUDA, opens the device), says
"waiting", then blocks on the channel for the job: a spec that names the train file
and the run settings. It opens no data file: training batches come from the supervisor
(trainer.runner.batches), and what it says about itself (steps, tokens, seconds,
memory, device) is only kept as the run's `reported_*` extras. A
pre-warmed child is started before its run is known and waits here, idle, until one
is handed to it; every child serves exactly one job.
"""

from __future__ import annotations

import os
import resource
import sys
import tempfile
from pathlib import Path

from trainer.runner.accounting import peak_flops_for
from trainer.runner.channel import Channel, ChannelClosed
from trainer.runner.child_common import classify, load_train_module, require
from trainer.runner.config import RunFailure
from trainer.runner.ctx import TrainContext


def main() -> None:
    channel = Channel.from_fd(int(sys.argv[1]))
    device_name = warm_up(sys.argv[2] == "cuda")
    channel.send({"type": "waiting"})
    try:
        job = channel.recv()
    except (ChannelClosed, OSError):  # never used: the supervisor let go of us
        os._exit(0)
    if job.get("type") != "job":
        os._exit(2)
    spec = job["spec"]
    workdir = Path(spec["workdir"])
    enter_workdir(workdir)
    exit_code = 1
    ctx = None
    try:
        device = spec["device"]
        channel.send({"type": "hello", "device_name": device_name})
        ctx = TrainContext(
            channel=channel,
            workdir=workdir,
            device=device,
            vocab_size=int(spec["vocab_size"]),
            seq_len=int(spec["seq_len"]),
            bos_token_id=int(spec["bos_token_id"]),
            time_budget_s=float(spec["budget_s"]),
            token_budget=int(spec.get("token_budget") or 0),
            seed=int(spec["seed"]),
            options=spec["options"],
            clock_deadline=float(spec["clock_deadline"]),
            device_name=device_name,
            peak_flops=peak_flops_for(device_name) if device == "cuda" else None,
        )
        module = load_train_module(Path(spec["train_file"]))
        require(module, "build_model")
        train = require(module, "train")
        train(ctx)  # type: ignore[operator]
        if not ctx.saved:
            channel.send(
                {
                    "type": "failed",
                    "reason": RunFailure.CONTRACT,
                    "message": "train(ctx) returned without calling ctx.save(model, config)",
                }
            )
        else:
            exit_code = 0
    except BaseException as exc:  # everything the train file raises is a classified result
        reason, message = classify(exc)
        try:
            channel.send({"type": "failed", "reason": reason, "message": message})
        except OSError:
            pass
        print(message, file=sys.stderr)
    finally:
        if ctx is not None:
            try:
                channel.send(
                    {
                        "type": "done",
                        "steps": ctx.steps,
                        "tokens": ctx.tokens_served,
                        "training_seconds": ctx.training_seconds(),
                        "peak_memory_mb": peak_memory_mb(spec["device"]),
                    }
                )
            except Exception:
                pass
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)  # everything is saved and reported: skip torch's slow teardown


def warm_up(cuda: bool) -> str:
    """The slow, run-independent start: import torch, start its thread pools or the GPU."""
    import numpy  # noqa: F401 - most train files use it; the import is the point
    import torch

    if cuda:
        torch.cuda.set_device(0)
        torch.ones(1, device="cuda")  # creates the CUDA context
        return torch.cuda.get_device_name(0)
    with torch.no_grad():
        torch.ones(64, 64) @ torch.ones(64, 64)
    return "cpu"


def enter_workdir(workdir: Path) -> None:
    """A pre-warmed child's work dir was moved into its run's folder: follow it."""
    os.chdir(workdir)
    os.environ["HOME"] = str(workdir)
    os.environ["TMPDIR"] = str(workdir / "tmp")
    tempfile.tempdir = None  # recomputed from TMPDIR on next use


def peak_memory_mb(device: str) -> float:
    if device == "cuda":
        import torch

        return torch.cuda.max_memory_allocated() / 2**20
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
