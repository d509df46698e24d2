"""The progress chart (`GET /v1/tracks/{track}/progress.png`).

matplotlib's object API with the Agg canvas: no pyplot global state, so charts
can be drawn from several request threads at once.
"""

from __future__ import annotations

import io

import msgspec


class ChartPoint(msgspec.Struct, kw_only=True):
    index: int  # order in which the run finished
    value: float
    kept: bool  # the run's revision is in the head's lineage


def render_progress_png(title: str, metric: str, points: list[ChartPoint]) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(9, 4.5), dpi=100)
    FigureCanvasAgg(fig)
    ax = fig.add_subplot(1, 1, 1)
    ax.set_title(title)
    ax.set_xlabel("experiment (finished runs, in order)")
    ax.set_ylabel(f"{metric} (lower is better)")
    ax.grid(True, alpha=0.3)
    if not points:
        ax.text(0.5, 0.5, "no finished runs yet", ha="center", va="center", transform=ax.transAxes)
    else:
        discarded = [p for p in points if not p.kept]
        kept = [p for p in points if p.kept]
        if discarded:
            ax.scatter(
                [p.index for p in discarded],
                [p.value for p in discarded],
                s=14,
                color="#bbbbbb",
                label="discarded",
            )
        if kept:
            ax.scatter(
                [p.index for p in kept],
                [p.value for p in kept],
                s=22,
                color="#2a9d8f",
                label="kept",
            )
            # The head's running best: a step line through the kept runs.
            xs, ys, best = [], [], float("inf")
            for p in kept:
                best = min(best, p.value)
                xs.append(p.index)
                ys.append(best)
            xs.append(max(p.index for p in points))
            ys.append(best)
            ax.step(xs, ys, where="post", color="#e76f51", linewidth=1.8, label="running best")
        ax.legend(loc="upper right")
    fig.tight_layout()
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    return buf.getvalue()
