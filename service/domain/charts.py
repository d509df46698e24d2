"""The progress chart (`GET /v1/tracks/{track}/progress.png`).

One point per revision, not per run: the mean of its finished runs with a 95 %
Student-t interval (single runs have no interval). "Kept" means the revision was
promoted to head when it happened (the recorded head changes), never recomputed
from today's head; the baseline is drawn apart, as the starting point.

matplotlib's object API with the Agg canvas: no pyplot global state, so charts
can be drawn from several request threads at once.
"""

from __future__ import annotations

import io
from datetime import datetime

import msgspec

STATUS_STYLE = {
    # status -> (colour, marker size, legend label)
    "baseline": ("#264653", 36, "baseline"),
    "kept": ("#2a9d8f", 36, "kept (promoted at the time)"),
    "discarded": ("#bbbbbb", 18, "not promoted"),
}


class RevisionPoint(msgspec.Struct, kw_only=True):
    index: int  # order in which the revision's first run finished
    revision_id: str
    mean: float
    low: float | None  # 95 % t interval of the mean; None with a single run
    high: float | None
    n: int  # finished runs behind the mean
    status: str  # "baseline", "kept", "discarded"
    promoted_at: datetime | None = None


def render_progress_png(title: str, metric: str, points: list[RevisionPoint]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title)
    ax.set_xlabel("revision (in the order its first run finished)")
    ax.set_ylabel(f"{metric}: mean of runs, 95 % interval (lower is better)")
    ax.grid(True, alpha=0.3)
    if not points:
        ax.text(0.5, 0.5, "no finished runs yet", ha="center", va="center", transform=ax.transAxes)
    else:
        for status, (colour, size, label) in STATUS_STYLE.items():
            group = [p for p in points if p.status == status]
            if not group:
                continue
            with_interval = [p for p in group if p.low is not None and p.high is not None]
            if with_interval:
                ax.errorbar(
                    [p.index for p in with_interval],
                    [p.mean for p in with_interval],
                    yerr=[
                        [p.mean - (p.low or p.mean) for p in with_interval],
                        [(p.high or p.mean) - p.mean for p in with_interval],
                    ],
                    fmt="none",
                    ecolor=colour,
                    elinewidth=1.2,
                    capsize=3,
                    alpha=0.8,
                )
            ax.scatter(
                [p.index for p in group], [p.mean for p in group], s=size, color=colour, label=label
            )
        # The head over the revisions: the baseline, then each promoted revision.
        head = sorted(
            (p for p in points if p.status in ("baseline", "kept")), key=lambda p: p.index
        )
        if head:
            xs = [p.index for p in head] + [max(p.index for p in points)]
            ys = [p.mean for p in head] + [head[-1].mean]
            ax.step(xs, ys, where="post", color="#e76f51", linewidth=1.8, label="head")
        ax.legend(loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
