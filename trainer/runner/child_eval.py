"""The evaluation child: a fresh process that turns validation inputs into logits.

It loads the checkpoint through the train file's `build_model`, then answers
`score` requests: read int32 inputs [rows, T] from its shared input memory, write
float32 logits [rows, T, vocab] into its shared logits memory (both handed over the
channel after the load request, see eval_protocol). It never receives the targets and
never computes a loss; the supervisor does both. It does not know whether it is the
primary or the auditor: both get the same requests, only different rows.

argv: CHANNEL_FD.
"""

from __future__ import annotations

import json
import os
import sys
import time
from pathlib import Path

from trainer.runner.channel import Channel, ChannelClosed
from trainer.runner.child_common import classify, load_train_module, require
from trainer.runner.ctx import ContractError
from trainer.runner.eval_protocol import receive_buffers


def tight_numerics() -> None:
    """Deterministic kernels where the device has them, no TF32: two honest scorings of
    a row in batches of the same shape should agree bit for bit."""
    import torch as t

    t.backends.cudnn.benchmark = False
    t.backends.cudnn.deterministic = True
    t.backends.cuda.matmul.allow_tf32 = False
    t.backends.cudnn.allow_tf32 = False
    t.use_deterministic_algorithms(True, warn_only=True)


def main() -> None:
    channel = Channel.from_fd(int(sys.argv[1]))
    exit_code = 1
    # read when the libraries start: deterministic cuBLAS reductions; OpenMP threads that
    # sleep rather than spin while they wait, so that the CPU time the supervisor bounds
    # is work, not waiting for a core on a busy machine
    os.environ.setdefault("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    os.environ["OMP_WAIT_POLICY"] = "PASSIVE"
    try:
        import numpy as np
        import torch

        tight_numerics()

        # start the BLAS and thread pools now, while training still runs, not on the clock
        with torch.inference_mode():
            torch.ones(64, 64) @ torch.ones(64, 64)
        channel.send({"type": "ready"})  # imports done: the supervisor may start the clock
        spec = channel.recv()
        if spec.get("type") != "load":
            raise RuntimeError(f"expected a load request, got {spec.get('type')!r}")
        device = spec["device"]
        if device == "cpu":
            torch.set_num_threads(int(spec["threads"]))
        inputs, logits_out = receive_buffers(channel, spec)
        slots, rows_per_slot, T, V = logits_out.shape

        module = load_train_module(Path(spec["train_file"]))
        build_model = require(module, "build_model")
        require(module, "train")
        config = json.loads(Path(spec["config_path"]).read_text())
        model = build_model(config)  # type: ignore[operator]
        if not isinstance(model, torch.nn.Module):
            raise ContractError("build_model(config) must return a torch.nn.Module")
        state = torch.load(spec["checkpoint_path"], map_location="cpu", weights_only=True)
        try:
            model.load_state_dict(state, strict=True)
        except RuntimeError as exc:
            raise ContractError(f"the checkpoint does not fit build_model(config): {exc}") from None
        model.to(device).eval()
        channel.send({"type": "loaded"})

        autocast = torch.autocast(
            device_type="cuda", dtype=torch.bfloat16, enabled=device == "cuda"
        )
        while True:
            try:
                request = channel.recv()
            except ChannelClosed:
                break
            if request.get("type") == "exit":
                exit_code = 0
                break
            slot, rows = int(request["slot"]), int(request["rows"])
            if not (0 <= slot < slots and 0 < rows <= rows_per_slot):
                raise RuntimeError(f"bad score request {request}")
            t0 = time.perf_counter()
            idx = torch.from_numpy(np.array(inputs[slot, :rows], dtype=np.int64)).to(device)
            with torch.inference_mode(), autocast:
                logits = model(idx)
            if not isinstance(logits, torch.Tensor) or tuple(logits.shape) != (rows, T, V):
                got = (
                    tuple(logits.shape)
                    if isinstance(logits, torch.Tensor)
                    else type(logits).__name__
                )
                raise ContractError(
                    f"forward(idx [{rows}, {T}]) must return logits [{rows}, {T}, {V}], got {got}"
                )
            if device == "cuda":
                torch.cuda.synchronize()
            torch.from_numpy(logits_out[slot, :rows]).copy_(logits.detach().float())
            t2 = time.perf_counter()
            channel.send(
                {
                    "type": "scored",
                    "slot": slot,
                    "forward_seconds": t2 - t0,
                }
            )
    except BaseException as exc:
        reason, message = classify(exc)
        try:
            channel.send({"type": "failed", "reason": reason, "message": message})
        except OSError:
            pass
        print(message, file=sys.stderr)
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(exit_code)  # nothing left to save: skip torch's slow teardown
