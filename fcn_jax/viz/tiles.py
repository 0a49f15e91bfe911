"""Validation samples side by side: image, ground truth, prediction, errors; titled columns
and a legend of the classes they show."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fcn_jax.viz.colours import VOID, colorize, present
from fcn_jax.viz.figure import new_figure
from fcn_jax.viz.legend import class_handles, class_legend, legend_columns

COLUMNS = ("image", "ground truth", "prediction", "errors")
CELL = 200  # pixels a sample's picture is drawn in (its longer side)
WRONG, UNSCORED = (230, 30, 30), (150, 150, 150)


def errors(image_rgb: np.ndarray, truth: np.ndarray, predicted: np.ndarray) -> np.ndarray:
    """The image faded to grey (so that only wrong pixels are red), wrong pixels red, void
    pixels (not scored) mid grey."""
    luminance = image_rgb.astype(np.float32) @ np.array([0.299, 0.587, 0.114], np.float32)
    faded = np.repeat((luminance * 0.3 + 255 * 0.7)[..., None], 3, axis=-1).astype(np.uint8)
    void = np.asarray(truth) == VOID
    wrong = (np.asarray(predicted) != np.asarray(truth)) & ~void
    picture = np.where(wrong[..., None], np.array(WRONG, np.uint8), faded)
    return np.where(void[..., None], np.array(UNSCORED, np.uint8), picture)


def wrong_share(truth: np.ndarray, predicted: np.ndarray) -> float:
    """The share of scored (non-void) pixels predicted wrong."""
    scored = np.asarray(truth) != VOID
    if not scored.any():
        return 0.0
    return float((np.asarray(predicted) != np.asarray(truth))[scored].mean())


def tile_classes(rows: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]]) -> list[int]:
    """The classes in any ground truth or prediction of ``rows`` (void included)."""
    return present(*(truth for _, truth, _ in rows), *(p for _, _, p in rows))


def tile(rows: Sequence[tuple[np.ndarray, np.ndarray, np.ndarray]],
         names: Sequence[str] | None = None, title: str = ""):  # fmt: skip
    """One row per (image, ground truth, prediction) sample, with :data:`COLUMNS` titled on
    top, each sample's share of wrong pixels under its errors, and a legend of exactly the
    classes in the ground truths and predictions."""
    handles = class_handles(tile_classes(rows), names)
    height = len(rows) * (CELL + 24) + 60
    columns = legend_columns(len(handles), (height - 60) // 20)
    figure = new_figure(len(COLUMNS) * (CELL + 12) + 150 * columns, height, layout="constrained")
    grid = figure.subplots(len(rows), len(COLUMNS), squeeze=False)
    for axes, (image, truth, predicted) in zip(grid, rows, strict=True):
        pictures = (image, colorize(truth), colorize(predicted), errors(image, truth, predicted))
        for ax, picture in zip(axes, pictures, strict=True):
            ax.imshow(picture, interpolation="nearest")
            ax.set_xticks([])
            ax.set_yticks([])
        axes[-1].set_xlabel(f"{wrong_share(truth, predicted):.1%} wrong", fontsize=9)
    for ax, name in zip(grid[0], COLUMNS, strict=True):
        ax.set_title(name, fontsize=10)
    grid[0][-1].set_title("errors (red; void grey)", fontsize=10)
    class_legend(figure, handles, "classes", columns, loc="outside right upper")
    if title:
        figure.suptitle(title, fontsize=11)
    return figure
