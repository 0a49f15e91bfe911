"""A class's score map over its image, with a colour bar and the class's name."""

from __future__ import annotations

import numpy as np
from PIL import Image

from fcn_jax.viz.legend import PAD, picture_with_panel

COLOUR_MAP = "magma"  # dark (0) to pale yellow (1)
BAR = (14, 200)  # the colour bar's width and least height, in pixels


def heat_colours(score: np.ndarray) -> np.ndarray:
    """Scores in [0, 1] (clipped) -> uint8 RGB of the colour map."""
    import matplotlib

    ramp = matplotlib.colormaps[COLOUR_MAP]
    return (ramp(np.clip(score, 0, 1))[..., :3] * 255).round().astype(np.uint8)


def heatmap(image_rgb: np.ndarray, score: np.ndarray, alpha: float = 0.6) -> np.ndarray:
    """A class score map in [0, 1] (any resolution: a classifier's is coarse) stretched to the
    image bilinearly, coloured by the colour map and blended over the image."""
    height, width = image_rgb.shape[:2]
    score = np.clip(np.asarray(score, np.float32), 0, 1)
    stretched = np.asarray(Image.fromarray(score).resize((width, height), Image.BILINEAR))
    blend = image_rgb.astype(np.float32) * (1 - alpha) + heat_colours(stretched) * alpha
    return blend.clip(0, 255).astype(np.uint8)


def heatmap_figure(image_rgb: np.ndarray, score: np.ndarray, label: str, alpha: float = 0.6):
    """:func:`heatmap` at the image's own pixels under the title ``label`` (the class), with
    a colour bar of the score from 0 to 1 (the same for every image, so they compare)."""
    from matplotlib.cm import ScalarMappable
    from matplotlib.colors import Normalize

    picture = heatmap(image_rgb, score, alpha)
    bar_height = max(picture.shape[0] - 2 * PAD, BAR[1])

    def size(figure):
        return BAR[0] + 48, bar_height  # the bar, its ticks and their labels

    def draw(figure, left, top):
        width, height = figure.get_size_inches() * figure.dpi
        box = [left, top - bar_height / height, BAR[0] / width, bar_height / height]
        bar_axes = figure.add_axes(box, label="colour bar")
        mappable = ScalarMappable(Normalize(0, 1), COLOUR_MAP)
        bar = figure.colorbar(mappable, cax=bar_axes)
        bar.ax.tick_params(labelsize=8)
        bar.set_label("softmax score", fontsize=8)

    return picture_with_panel(picture, size, draw, title=label)
