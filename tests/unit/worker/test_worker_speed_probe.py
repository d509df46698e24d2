"""The machine-speed probe the worker times before each run (decisions v2, issue 10)."""

from __future__ import annotations

import torch

from service.worker import speed_probe


def test_probe_measures_a_fixed_amount_of_work_and_leaves_torch_as_it_was():
    before = torch.get_num_threads()
    rate = speed_probe.measure_speed("cpu")
    assert rate is not None and rate > 0
    assert torch.get_num_threads() == before
    # Fixed work: the same products every time, so the rate only moves with the machine.
    size, products = speed_probe.SIZE, speed_probe.PRODUCTS_PER_BLOCK
    assert speed_probe.FLOP_PER_BLOCK == 2.0 * size**3 * products


def test_a_probe_that_cannot_run_reports_nothing_instead_of_failing_the_run():
    assert speed_probe.measure_speed("no-such-device") is None
