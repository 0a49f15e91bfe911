"""Label maps: the void label and the check that every label is a class or void."""

from __future__ import annotations

import numpy as np

VOID = 255


def check_labels(labels: np.ndarray, num_classes: int, where: str = "labels") -> None:
    """Raise if any label is outside [0, num_classes) and not the void label 255."""
    labels = np.asarray(labels)
    bad = (labels != VOID) & ((labels < 0) | (labels >= num_classes))
    if bad.any():
        values = sorted({int(v) for v in np.unique(labels[bad])})[:10]
        first = tuple(int(i) for i in np.argwhere(bad)[0])
        raise ValueError(
            f"{where}: label values {values} are outside [0, {num_classes}) and not void "
            f"({VOID}); first at index {first}"
        )
