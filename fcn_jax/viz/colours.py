"""Class colours (the PASCAL VOC colour map), label PNGs, and which classes a picture shows."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

VOID = 255  # the label of unlabelled pixels (fcn_jax.data.labels.VOID; viz imports none of ours)


def palette(num_colours: int = 256) -> np.ndarray:
    """The PASCAL VOC colour map: (num_colours, 3) uint8; class 0 black, 255 (void) cream."""
    colours = np.zeros((num_colours, 3), np.uint8)
    for index in range(num_colours):
        c, r, g, b = index, 0, 0, 0
        for shift in range(7, -1, -1):
            r |= ((c >> 0) & 1) << shift
            g |= ((c >> 1) & 1) << shift
            b |= ((c >> 2) & 1) << shift
            c >>= 3
        colours[index] = (r, g, b)
    return colours


def colorize(label: np.ndarray) -> np.ndarray:
    """(H, W) class indices -> (H, W, 3) uint8 palette colours."""
    return palette()[np.asarray(label, np.uint8)]


def label_png(label: np.ndarray) -> Image.Image:
    """A palette ('P' mode) PNG of class indices, as VOC stores its masks."""
    image = Image.fromarray(np.asarray(label, np.uint8), mode="P")
    image.putpalette(palette().ravel().tolist())
    return image


def present(*labels: np.ndarray) -> list[int]:
    """The classes (void included) in any of ``labels``, in order."""
    found = set()
    for label in labels:
        found |= {int(v) for v in np.unique(np.asarray(label))}
    return sorted(found)


def class_name(index: int, names: Sequence[str] | None) -> str:
    """``'3 bird'``; ``'void'`` for unlabelled pixels; ``'3'`` without names."""
    if index == VOID:
        return "void (not scored)"
    if names is not None and 0 <= index < len(names):
        return f"{index} {names[index]}"
    return str(index)
