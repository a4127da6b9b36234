"""PNG plots for the board, drawn with matplotlib's Agg canvas.

Figures are built through the object API (``Figure`` + ``FigureCanvasAgg``),
never ``pyplot``, so rendering needs no display and leaves the caller's
matplotlib backend alone.
"""

from __future__ import annotations

import io
import math
import re

from .compare import transfer_gap
from .entries import Entry, board_tasks
from .tables import Plot, task_name


def _figure(width: float, height: float):
    from matplotlib.backends.backend_agg import FigureCanvasAgg
    from matplotlib.figure import Figure

    fig = Figure(figsize=(width, height), dpi=100)
    FigureCanvasAgg(fig)
    return fig


def _png(fig) -> bytes:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", bbox_inches="tight", metadata={"Software": None})
    return buf.getvalue()


def slug(name: str) -> str:
    """A file-name-safe form of a model name, short enough for any file system (names repeat-numbered later)."""
    return re.sub(r"[^A-Za-z0-9._-]+", "-", name).strip("-").lower()[:100].strip("-.") or "model"


def heatmap(entry: Entry, version: str) -> Plot | None:
    """Tasks by languages, each cell the task's per-language score."""
    import numpy as np

    tasks = [t for t in board_tasks(version) + sorted(set(entry.tasks) - set(board_tasks(version)))
             if t in entry.tasks and entry.tasks[t].per_lang]
    if not tasks:
        return None
    langs = sorted({lang for t in tasks for lang in entry.tasks[t].languages})
    grid = np.full((len(tasks), len(langs)), np.nan)
    for i, t in enumerate(tasks):
        for j, lang in enumerate(langs):
            v = entry.tasks[t].lang_score(lang)
            if v is not None:
                grid[i, j] = v
    fig = _figure(max(6.0, 0.32 * len(langs) + 2.5), max(2.5, 0.42 * len(tasks) + 1.5))
    ax = fig.add_subplot(1, 1, 1)
    im = ax.imshow(np.ma.masked_invalid(grid), aspect="auto", cmap="viridis", vmin=0, vmax=100)
    ax.set_xticks(range(len(langs)), labels=langs, fontsize=7, rotation=90)
    ax.set_yticks(range(len(tasks)), labels=[task_name(t) + ("†" if not entry.tasks[t].complete else "")
                                              for t in tasks], fontsize=8)
    for i in range(len(tasks)):
        for j in range(len(langs)):
            if not math.isnan(grid[i, j]):
                ax.text(j, i, f"{grid[i, j]:.0f}", ha="center", va="center", fontsize=5,
                        color="white" if grid[i, j] < 60 else "black")
    ax.set_title(f"{entry.name}: score by language", fontsize=10)
    fig.colorbar(im, ax=ax, fraction=0.025, pad=0.01)
    return Plot(f"heatmap-{slug(entry.name)}", f"{entry.name}: per-language score of each task "
                "(mean of the task's primary figures; blank = not evaluated; † partial task)", _png(fig))


def task_bars(entries: list[Entry], version: str) -> Plot | None:
    """Each task's average (avg_metric) across models, side by side."""
    tasks = [t for t in board_tasks(version) if any(e.tasks.get(t) and e.tasks[t].avg_metric is not None
                                                   for e in entries)]
    shown = [e for e in entries if any(e.tasks.get(t) and e.tasks[t].avg_metric is not None for t in tasks)]
    if not tasks or not shown:
        return None
    fig = _figure(max(7.0, 1.1 * len(tasks) + 0.25 * len(tasks) * len(shown)), 4.2)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(shown)
    for k, e in enumerate(shown):
        xs, ys, partial = [], [], []
        for i, t in enumerate(tasks):
            ts = e.tasks.get(t)
            if ts is not None and ts.avg_metric is not None:
                xs.append(i - 0.4 + width * (k + 0.5))
                ys.append(ts.avg_metric)
                partial.append(e.kind == "run" and not ts.complete)
        bars = ax.bar(xs, ys, width, label=e.name)
        for bar, p in zip(bars, partial):
            if p:
                bar.set_hatch("//")
    ax.set_xticks(range(len(tasks)), labels=[task_name(t) for t in tasks], fontsize=8)
    ax.set_ylabel("avg_metric (%)")
    ax.set_ylim(0, 100)
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncols=min(3, len(shown)), loc="upper center", bbox_to_anchor=(0.5, -0.1))
    ax.set_title("Task averages by model", fontsize=10)
    return Plot("task-bars", "Each task's average over its languages (avg_metric; QA: (EM+F1)/2) by model; "
                "hatched bars are partial", _png(fig))


def gap_chart(runs: list[Entry], version: str) -> Plot | None:
    """Cross-lingual transfer gap per task and model."""
    tasks = [t for t in board_tasks(version) if any(transfer_gap(e, t)[0] is not None for e in runs)]
    shown = [e for e in runs if any(transfer_gap(e, t)[0] is not None for t in tasks)]
    if not tasks or not shown:
        return None
    fig = _figure(max(6.0, 1.0 * len(tasks) + 0.2 * len(tasks) * len(shown)), 3.8)
    ax = fig.add_subplot(1, 1, 1)
    width = 0.8 / len(shown)
    for k, e in enumerate(shown):
        xs, ys = [], []
        for i, t in enumerate(tasks):
            g, _ = transfer_gap(e, t)
            if g is not None:
                xs.append(i - 0.4 + width * (k + 0.5))
                ys.append(g)
        ax.bar(xs, ys, width, label=e.name)
    ax.axhline(0, color="black", linewidth=0.8)
    ax.set_xticks(range(len(tasks)), labels=[task_name(t) for t in tasks], fontsize=8)
    ax.set_ylabel("English − other languages (points)")
    ax.grid(axis="y", alpha=0.3)
    ax.legend(fontsize=7, ncols=min(3, len(shown)), loc="upper center", bbox_to_anchor=(0.5, -0.1))
    ax.set_title("Cross-lingual transfer gap", fontsize=10)
    return Plot("transfer-gap", "Transfer gap: English score minus the mean of the other languages "
                "(lower is better)", _png(fig))


def make_plots(runs: list[Entry], references: list[Entry], version: str) -> list[Plot]:
    plots: list[Plot] = []
    for e in runs:
        p = heatmap(e, version)
        if p is not None:
            plots.append(p)
    for p in (task_bars(runs + references, version), gap_chart(runs, version)):
        if p is not None:
            plots.append(p)
    names: dict[str, int] = {}
    for p in plots:  # unique file names even for models whose names slug alike
        names[p.name] = names.get(p.name, 0) + 1
        if names[p.name] > 1:
            p.name = f"{p.name}-{names[p.name]}"
    return plots
