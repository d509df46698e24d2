"""The audit plan, the audit check and the evaluation children's memory, in isolation."""

import mmap
import os
import socket

import numpy as np
import pytest
import torch

from trainer.runner.audit import AuditCheck, AuditPlan, tolerance_for
from trainer.runner.channel import Channel
from trainer.runner.config import RunFailure
from trainer.runner.eval_protocol import (
    Failed,
    ProtocolError,
    Scored,
    SharedBuffers,
    decode,
    receive_buffers,
)
from trainer.runner.failures import EvaluationFailed

BOS = 0


def val_rows(n=40, T=32, seed=0):
    """Rows of BOS-started documents, like the packed validation rows."""
    rng = np.random.default_rng(seed)
    rows = rng.integers(1, 50, size=(n, T + 1)).astype(np.int32)
    rows[:, 0] = BOS
    rows[rng.random((n, T + 1)) < 0.08] = BOS  # document starts inside rows
    return rows


def draw(seed=0, n=40, rows=4, fraction=0.1):
    data = val_rows(n)
    return data, AuditPlan.draw(np.random.default_rng(seed), data, BOS, rows, fraction)


def test_primary_scores_every_row_once_in_full_batches():
    _, plan = draw()
    counted = np.concatenate(
        [b[:k] for b, k in zip(plan.primary_batches, plan.primary_real, strict=True)]
    )
    assert sorted(counted.tolist()) == list(range(40))
    assert {len(b) for b in plan.primary_batches + plan.auditor_batches} == {4}


def test_auditor_rows_are_a_whole_batch_subset_with_spliced_real_text():
    data, plan = draw(n=37)  # 10 % is 4 rows: one full batch
    T = data.shape[1] - 1
    assert len(plan.audited) >= 4 and len(plan.audited) % 4 == 0
    assert plan.cuts and set(plan.cuts) <= set(plan.audited)
    for row, cut in plan.cuts.items():
        seen, original = plan.auditor_inputs[row], data[row, :T]
        donor, start = plan.donors[row]
        assert donor not in plan.audited  # text the auditor sees nowhere else
        assert (seen[: cut + 1] == original[: cut + 1]).all()
        assert seen[cut + 1] == BOS and original[cut + 1] != BOS  # reads as a new document
        assert (seen[cut + 1 :] == data[donor, start : start + T - 1 - cut]).all()
    for row in set(plan.audited) - set(plan.cuts):
        assert (plan.auditor_inputs[row] == data[row, :T]).all()


def test_plans_differ_from_draw_to_draw():
    plans = [draw(seed)[1] for seed in range(3)]
    orders = {tuple(np.concatenate(p.primary_batches).tolist()) for p in plans}
    assert len(orders) == 3
    assert len({tuple(p.audited) for p in plans}) == 3


def check_with(plan, T, auditor_minus_primary, device="cpu"):
    """Run AuditCheck over every audited row: primary nll 2.0, auditor 2.0 + the offset."""
    check = AuditCheck(tolerance_for(device).tolerance, plan)
    for row in plan.audited:
        primary = torch.full((T,), 2.0)
        check.compare(row, primary, primary + auditor_minus_primary(row))
    return check.verdict()


@pytest.mark.parametrize("device", ["cpu", "cuda"])
def test_a_leak_of_a_tenth_of_the_tolerance_is_caught_in_aggregate(device):
    data, plan = draw(n=80)
    T, leak = data.shape[1] - 1, tolerance_for(device).tolerance / 10

    def at_the_cut(row):
        offset = torch.zeros(T)
        if row in plan.cuts:
            offset[plan.cuts[row]] = leak  # the primary saw the true next token
        return offset

    with pytest.raises(EvaluationFailed) as caught:
        check_with(plan, T, at_the_cut, device)
    assert caught.value.reason == RunFailure.INTEGRITY
    gain = caught.value.evidence["audit"]["cut_gain"]
    assert gain["mean"] == pytest.approx(leak, rel=1e-3) and gain["mean"] > gain["threshold"]


def test_the_cuda_tolerance_catches_the_leak_that_passed_the_old_one():
    # issue 9: leaking 0.099 of the next token's logit passed the old CUDA tolerance (0.1)
    assert tolerance_for("cuda").tolerance < 0.099 / 2


def test_exact_agreement_and_symmetric_noise_pass():
    data, plan = draw(n=80)
    T, tol = data.shape[1] - 1, tolerance_for("cpu").tolerance
    assert check_with(plan, T, lambda row: torch.zeros(T))["worst"]["abs_diff"] == 0
    g = torch.Generator().manual_seed(0)
    noisy = check_with(plan, T, lambda row: (torch.rand(T, generator=g) - 0.5) * tol)
    assert 0 < noisy["worst"]["abs_diff"] <= tol


def test_one_position_over_the_tolerance_fails_with_evidence():
    data, plan = draw()
    T, tol = data.shape[1] - 1, tolerance_for("cpu").tolerance
    row = plan.audited[0]

    def bump(r):
        offset = torch.zeros(T)
        if r == row:
            offset[0] = -3 * tol  # position 0 is before any cut
        return offset

    with pytest.raises(EvaluationFailed) as caught:
        check_with(plan, T, bump)
    worst = caught.value.evidence["audit"]["worst"]
    assert (worst["row"], worst["position"]) == (row, 0)
    assert worst["abs_diff"] == pytest.approx(3 * tol, rel=1e-6)


def test_a_nan_where_the_primary_was_finite_fails():
    data, plan = draw()
    T = data.shape[1] - 1
    with pytest.raises(EvaluationFailed):
        check_with(plan, T, lambda row: torch.full((T,), float("nan")))


# --- the children's memory and messages ---


def handed_over():
    ours, theirs = Channel.pair()
    buffers = SharedBuffers(rows=2, seq_len=3, vocab_size=5)
    buffers.hand_over(ours, {"type": "load"})
    child = Channel(theirs)
    load = child.recv()
    return ours, child, buffers, load


def test_a_child_gets_its_inputs_read_only_and_cannot_resize_either_buffer():
    ours, child, buffers, load = handed_over()
    _, fds, _, _ = socket.recv_fds(child.sock, 1, 2)
    inputs_fd, logits_fd = fds
    try:
        with pytest.raises(OSError):
            os.write(inputs_fd, b"x")
        with pytest.raises(PermissionError):
            mmap.mmap(inputs_fd, 0, mmap.MAP_SHARED, mmap.PROT_READ | mmap.PROT_WRITE)
        with pytest.raises(OSError):
            os.ftruncate(inputs_fd, 0)
        for size in (0, 1 << 30):
            with pytest.raises(PermissionError):  # sealed: a SIGBUS for us otherwise
                os.ftruncate(logits_fd, size)
        assert "/" not in os.readlink(f"/proc/self/fd/{logits_fd}").removeprefix("/memfd:")
    finally:
        for fd in fds:
            os.close(fd)
        buffers.close()
        ours.close()
        child.close()


def test_what_the_child_writes_is_what_we_read():
    ours, child, buffers, load = handed_over()
    try:
        inputs, logits = receive_buffers(child, load)
        buffers.inputs[1] = 7
        assert (inputs[1] == 7).all() and not inputs.flags.writeable
        logits[0, 1, 2] = 3.5
        assert buffers.logits[0, 1, 2].tolist() == [3.5] * 5
    finally:
        buffers.close()
        ours.close()
        child.close()


def test_a_child_cannot_claim_a_reason_only_the_supervisor_observes():
    for forged in (RunFailure.INTEGRITY, RunFailure.TIMEOUT, "CANCELLED", "SUCCEEDED"):
        message = decode({"type": "failed", "reason": forged, "message": "x"})
        assert isinstance(message, Failed) and message.reason == RunFailure.CRASH
    assert (
        decode({"type": "failed", "reason": RunFailure.OOM, "message": "m"}).reason
        == RunFailure.OOM
    )
    assert decode({"type": "scored", "slot": 1}) == Scored(1)
    for bad in ({"type": "scored"}, {"type": "scored", "slot": 0, "val_bpb": 0.1}, {"x": 1}):
        with pytest.raises(ProtocolError):
            decode(bad)


def test_deadlines_grow_with_the_work_but_padding_cannot_buy_more_than_the_cap():
    from trainer.runner.deadlines import FIRST_CALL_S, LOAD_FIXED_S, Allowance

    small = Allowance.derive("cuda", 1, 10**6, 10**6, 10**6, budget_s=300.0)
    large = Allowance.derive("cuda", 1, 10**9, 10**6, 10**6, budget_s=300.0)
    assert small.scoring_s < large.scoring_s
    assert large.honest_scoring_s == pytest.approx(2 * 10**9 * 10**6 / large.device_flops)
    padded = Allowance.derive("cuda", 1, 10**12, 1 << 40, 10**9, budget_s=300.0)
    assert padded.scoring_s == FIRST_CALL_S["cuda"] + 300.0
    assert padded.load_s == LOAD_FIXED_S["cuda"] + 300.0
