"""Time edit validation and application on the baseline train.py.

    python -m bench.edit_validate [--repeat 200]

Reports milliseconds per call (median and min) and the ratio against the reference measured in
the same run: a bare `ast.parse` of the same source (validation cannot be
cheaper than parsing once). The SPEC target is "well under 100 ms".
"""

from __future__ import annotations

import argparse
import ast
import statistics
import time
from collections.abc import Callable

from service.domain.edits import EditPolicy, apply_edit, unified_diff, validate_source
from service.domain.models import ProposeEditRequest, SearchReplaceBlock
from service.domain.service import DomainSettings
from trainer.baseline import baseline_source


def per_call_ms(fn: Callable[[], object], repeat: int) -> tuple[float, float]:
    """(median, min) milliseconds per call; the min is the steadier figure on a
    shared machine."""
    fn()  # warm caches
    samples = []
    for _ in range(repeat):
        t0 = time.perf_counter()
        fn()
        samples.append((time.perf_counter() - t0) * 1000)
    return statistics.median(samples), min(samples)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=200)
    args = parser.parse_args()

    settings = DomainSettings()
    policy = EditPolicy(
        allowed_imports=frozenset(settings.default_allowed_imports),
        max_source_bytes=settings.max_source_bytes,
        max_patch_bytes=settings.max_patch_bytes,
        max_description_chars=settings.max_description_chars,
    )
    base = baseline_source()
    target = base.replace("MATRIX_LR = 0.04", "MATRIX_LR = 0.02", 1)
    patch = unified_diff(base, target)
    moved = "# moved\n" * 7 + base
    head = base.replace("x = F.relu(x).square()", "x = F.gelu(x)", 1)
    block = SearchReplaceBlock(search="MATRIX_LR = 0.04", replace="MATRIX_LR = 0.02")

    ref_median, ref_min = per_call_ms(lambda: ast.parse(base), args.repeat)
    cases: dict[str, Callable[[], object]] = {
        "validate_source": lambda: validate_source(base, policy),
        "apply unified diff (exact)": lambda: apply_edit(
            base, base, ProposeEditRequest(unified_diff=patch), policy
        ),
        "apply unified diff (offset +7)": lambda: apply_edit(
            moved, moved, ProposeEditRequest(unified_diff=patch), policy
        ),
        "apply search/replace": lambda: apply_edit(
            base, base, ProposeEditRequest(search_replace=[block]), policy
        ),
        "apply + rebase onto moved head": lambda: apply_edit(
            base, head, ProposeEditRequest(unified_diff=patch), policy
        ),
    }
    print(f"baseline train.py: {len(base.encode())} bytes, {base.count(chr(10))} lines")
    print(f"{'':34s} {'median':>9s} {'min':>9s} {'min / ref':>9s}")
    print(f"{'reference: ast.parse':34s} {ref_median:6.2f} ms {ref_min:6.2f} ms {1:8.2f}x")
    for name, fn in cases.items():
        median, fastest = per_call_ms(fn, args.repeat)
        print(f"{name:34s} {median:6.2f} ms {fastest:6.2f} ms {fastest / ref_min:8.2f}x")


if __name__ == "__main__":
    main()
