"""A predicted label map over its image, with a legend of the classes it shows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fcn_jax.viz.colours import colorize, present
from fcn_jax.viz.legend import class_handles, class_legend, legend_columns, picture_with_panel


def overlay(
    image_rgb: np.ndarray, label: np.ndarray, alpha: float = 0.5, clear: int | None = 0
) -> np.ndarray:
    """The image with the coloured labels blended over it; class ``clear`` (the background)
    is left as the image."""
    colours = colorize(label).astype(np.float32)
    blend = image_rgb.astype(np.float32) * (1 - alpha) + colours * alpha
    coloured = np.ones(np.shape(label), bool) if clear is None else np.asarray(label) != clear
    return np.where(coloured[..., None], blend, image_rgb).astype(np.uint8)


def background_of(names: Sequence[str] | None) -> int | None:
    """The class an overlay leaves clear: 0 when it is (or may be) the background; none when
    class 0 is a thing (SIFT Flow's awning)."""
    return 0 if not names or names[0] == "background" else None


def overlay_figure(image_rgb: np.ndarray, label: np.ndarray, names: Sequence[str] | None = None,
                   alpha: float = 0.5):  # fmt: skip
    """:func:`overlay` at the image's own pixels, with a legend of exactly the classes the
    label map holds (its colours and names) to the right."""
    clear = background_of(names)
    picture = overlay(image_rgb, label, alpha, clear)
    handles = class_handles(present(label), names, clear)
    rows = max(picture.shape[0] // 18, 12)  # a column of entries about as tall as the image
    columns = legend_columns(len(handles), rows)
    legend = []

    def size(figure):
        legend.append(class_legend(figure, handles, "predicted classes", columns,
                                   loc="upper left"))  # fmt: skip
        box = legend[0].get_window_extent(figure.canvas.get_renderer())
        return box.width, box.height

    def draw(figure, left, top):
        legend[0].set_bbox_to_anchor((left, top), transform=figure.transFigure)

    return picture_with_panel(picture, size, draw)
