"""The learning curve: training loss, and validation scores on one 0-1 scale, over the whole
history of a run (every start's rows of ``metrics.jsonl``)."""

from __future__ import annotations

from collections.abc import Iterable, Sequence

import numpy as np

from fcn_jax.viz.figure import new_figure

LOSS = ("train", "loss")
SCORES = {  # validation score: (label, line width, z-order); mean IU drawn thickest, on top
    "mean_iu": ("mean IU", 2.6, 4),
    "pixel_accuracy": ("pixel accuracy", 1.3, 3),
    "mean_accuracy": ("mean accuracy", 1.3, 3),
    "fw_iu": ("frequency-weighted IU", 1.3, 3),
}


def _number(value) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def learning_series(records: Iterable[dict]) -> dict[tuple[str, str], tuple[list, list]]:
    """``{(split, metric): (steps, values)}`` of the numeric metrics in ``records`` (JSON
    lines of ``metrics.jsonl``), by step. A step done again after a resume has several rows:
    the last one wins."""
    last: dict[tuple[str, int], dict] = {}
    for record in records:
        if isinstance(record.get("step"), int) and isinstance(record.get("split"), str):
            last[(record["split"], record["step"])] = record
    series: dict[tuple[str, str], tuple[list, list]] = {}
    for (split, step), record in sorted(last.items(), key=lambda item: item[0][1]):
        for metric, value in record.items():
            if metric not in ("step", "time") and _number(value):
                steps, values = series.setdefault((split, metric), ([], []))
                steps.append(step)
                values.append(float(value))
    return series


def _loss_panel(ax, series) -> None:
    steps, losses = series.get(LOSS, ([], []))
    ax.plot(steps, losses, color="tab:blue", lw=1.4, label="training loss\n(every logged step)")
    positive = [v for v in losses if v > 0]
    if positive and max(positive) / min(positive) > 20:  # spans decades
        ax.set_yscale("log")
    ax.set_ylabel("loss" + (" (log scale)" if ax.get_yscale() == "log" else ""))
    if losses:
        ax.set_title(f"training loss (last {losses[-1]:.4g} at step {steps[-1]})", fontsize=10)


def _score_panel(ax, series) -> None:
    shown = False
    for metric, (label, width, order) in SCORES.items():
        steps, values = series.get(("val", metric), ([], []))
        if steps:
            ax.plot(steps, values, lw=width, zorder=order, marker="o", ms=2 + width,
                    label=f"{label} {values[-1]:.3f}")  # fmt: skip
            shown = True
    ax.set_ylim(0, 1)
    ax.set_yticks(np.linspace(0, 1, 6))
    ax.set_ylabel("score")
    ax.set_xlabel("step")
    ax.set_title("validation (last values)", fontsize=10)
    if shown:
        ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    else:
        ax.text(0.5, 0.5, "no validation yet", ha="center", va="center", transform=ax.transAxes)


def learning_curve(series: dict, title: str = "", resumes: Sequence[int] = ()):
    """Two panels on one step axis: the training loss (a log scale when it spans decades),
    and the validation scores from 0 to 1; a dotted line where the run was resumed."""
    from matplotlib.ticker import MaxNLocator

    figure = new_figure(900, 620, layout="constrained")
    loss_ax, score_ax = figure.subplots(2, 1, sharex=True)
    _loss_panel(loss_ax, series)
    _score_panel(score_ax, series)
    score_ax.xaxis.set_major_locator(MaxNLocator(integer=True, steps=[1, 2, 5, 10]))
    for ax in (loss_ax, score_ax):
        ax.grid(alpha=0.3)
        for k, step in enumerate(resumes):
            ax.axvline(step, color="0.5", ls=":", lw=1, label="resumed" if k == 0 else None)
    loss_ax.legend(fontsize=9, loc="upper left", bbox_to_anchor=(1.01, 1), frameon=False)
    figure.suptitle(title or "learning curve", fontsize=11)
    return figure
