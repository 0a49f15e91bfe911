"""What one output unit sees: its measured footprint over the box the geometry predicts, in
input pixels, with the input frame drawn."""

from __future__ import annotations

import numpy as np

from fcn_jax.viz.figure import new_figure

SUPPORT, FRAME = "#6aaef0", "#e6e6e6"


def _span(mask: np.ndarray, axis: int) -> str:
    hit = np.flatnonzero(mask.any(axis=axis))
    return f"{hit[0]}..{hit[-1]}" if hit.size else "none"


def _spans(mask: np.ndarray) -> str:
    return f"rows {_span(mask, 1)}, cols {_span(mask, 0)}"


def footprint_figure(mask: np.ndarray, predicted, title: str = "", field=None):
    """The input frame (grey), the measured support (blue), the predicted support
    ``((top, bottom), (left, right))`` (inclusive pixels; red), and the unit's whole receptive
    field ``((top, bottom), (left, right))`` (dashed; it may reach past the frame) in input
    pixels. The view takes in the whole field: outside the frame is hatched, there is no input
    there, and the support stops at the frame's edge."""
    from matplotlib.colors import ListedColormap
    from matplotlib.patches import Patch, Rectangle

    height, width = mask.shape
    extent = [[-0.5, height - 0.5], [-0.5, width - 0.5]]
    for box in (predicted, field):
        for axis, (first, last) in zip(extent, box or (), strict=False):
            axis[0], axis[1] = min(axis[0], first - 0.5), max(axis[1], last + 0.5)
    rows, cols = tuple(extent[0]), tuple(extent[1])
    margin = 0.04 * max(rows[1] - rows[0], cols[1] - cols[0])
    figure = new_figure(720, 760, layout="constrained")
    ax = figure.subplots()
    ax.set_xlim(cols[0] - margin, cols[1] + margin)
    ax.set_ylim(rows[1] + margin, rows[0] - margin)  # row 0 on top, as in the image
    ax.add_patch(Rectangle((-1e6, -1e6), 2e6, 2e6, facecolor="white", edgecolor="0.75",
                           hatch="//", lw=0, zorder=0))  # fmt: skip
    ax.imshow(mask, cmap=ListedColormap([FRAME, SUPPORT]), vmin=0, vmax=1, zorder=1,
              interpolation="nearest", extent=(-0.5, width - 0.5, height - 0.5, -0.5))  # fmt: skip
    ax.add_patch(Rectangle((-0.5, -0.5), width, height, fill=False, ec="black", lw=1.2, zorder=2))
    handles = [
        Patch(facecolor=FRAME, edgecolor="black", label=f"input frame {height}x{width}"),
        Patch(facecolor=SUPPORT, label=f"measured support (autodiff): {_spans(mask)}"),
    ]
    if predicted is not None:
        (top, bottom), (left, right) = predicted
        box = Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1,
                        fill=False, ec="tab:red", lw=2, zorder=3,
                        label=f"predicted support (geometry): rows {top}..{bottom}, "
                              f"cols {left}..{right}")  # fmt: skip
        ax.add_patch(box)
        handles.append(box)
    if field is not None:
        (top, bottom), (left, right) = field
        window = Rectangle((left - 0.5, top - 0.5), right - left + 1, bottom - top + 1,
                           fill=False, ec="tab:orange", lw=1.5, ls="--", zorder=3,
                           label=f"receptive field {bottom - top + 1:g}x{right - left + 1:g}: "
                                 f"rows {top:g}..{bottom:g}, cols {left:g}..{right:g}")  # fmt: skip
        ax.add_patch(window)
        handles.append(window)
    if rows != (-0.5, height - 0.5) or cols != (-0.5, width - 0.5):
        outside = "outside the frame: no input, the support is clipped"
        handles.append(Patch(facecolor="white", edgecolor="0.6", hatch="//", label=outside))
    ax.set_xlabel("column (input pixels)")
    ax.set_ylabel("row (input pixels)")
    ax.set_aspect("equal")
    ax.legend(handles=handles, loc="upper center", bbox_to_anchor=(0.5, -0.08), fontsize=9,
              frameon=False)  # fmt: skip
    ax.set_title(title, fontsize=10)
    return figure
