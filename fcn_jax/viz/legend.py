"""A legend of class colours, and a picture shown at its own pixels with a panel beside it."""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np

from fcn_jax.viz.colours import class_name, palette
from fcn_jax.viz.figure import DPI, new_figure, pixel_size

PAD = 8  # pixels between the picture, the panel and the edges


def class_handles(classes: Sequence[int], names: Sequence[str] | None, clear: int | None = None):
    """A swatch per class in its palette colour, named; class ``clear`` is left uncoloured
    (an overlay's background) and its swatch is hollow."""
    from matplotlib.patches import Patch

    colours = palette() / 255
    return [
        Patch(facecolor="none", edgecolor="0.4", label=f"{class_name(k, names)} (not coloured)")
        if k == clear
        else Patch(facecolor=colours[k], edgecolor="0.4", label=class_name(k, names))
        for k in classes
    ]


def class_legend(target, handles, title: str, columns: int = 1, **options):
    """``target.legend`` (a figure or axes) of ``handles`` in the package's one style."""
    return target.legend(handles=handles, title=title, ncols=columns, fontsize=9,
                         title_fontsize=9, frameon=False, alignment="left",
                         handlelength=1.2, **options)  # fmt: skip


def legend_columns(count: int, rows: int) -> int:
    """Columns enough for ``count`` entries in at most ``rows`` rows."""
    return max(1, math.ceil(count / max(rows, 1)))


def picture_with_panel(picture: np.ndarray, panel_size, draw_panel, title: str = ""):
    """A figure showing ``picture`` pixel for pixel at its top left (under ``title``), with a
    panel to its right: ``panel_size(figure)`` gives the panel's (width, height) in pixels and
    ``draw_panel(figure, left, top)`` draws it with its top left at those figure fractions."""
    figure = new_figure(1, 1)
    heading = figure.text(0, 1, title, fontsize=10, va="top") if title else None
    title_w, title_h = pixel_size(figure, heading) if heading else (0, 0)
    panel_w, panel_h = panel_size(figure)
    h, w = picture.shape[:2]
    top = math.ceil(title_h + PAD) if heading else 0
    width = math.ceil(max(w + 2 * PAD + panel_w, title_w + 2 * PAD))
    height = top + math.ceil(max(h, panel_h + 2 * PAD))
    figure.set_size_inches(width / DPI, height / DPI)
    if heading:
        heading.set_position((PAD / width, 1 - (PAD / 2) / height))
    figure.figimage(picture, xo=0, yo=height - top - h, origin="upper")
    draw_panel(figure, (w + PAD) / width, 1 - (top + PAD) / height)
    return figure
