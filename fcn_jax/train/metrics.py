"""Segmentation scores of the paper (section 5): from a confusion matrix built on device.

With ``n[i, j]`` the number of pixels of true class i predicted as j and ``t_i = sum_j n[i, j]``:
pixel accuracy ``sum_i n_ii / sum_i t_i``; mean accuracy ``mean_i n_ii / t_i``; mean IU
``mean_i n_ii / (t_i + sum_j n_ji - n_ii)``; frequency weighted IU
``(sum_k t_k)^-1 sum_i t_i n_ii / (t_i + sum_j n_ji - n_ii)``. Classes absent from both ground
truth and prediction are left out of the means (and mean accuracy leaves out classes absent
from the ground truth).
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from fcn_jax.data.labels import VOID


def confusion_matrix(labels: jax.Array, predictions: jax.Array, num_classes: int) -> jax.Array:
    """(C, C) int32 counts of (true, predicted) over non-void pixels, computed with bincount."""
    valid = labels != VOID
    index = jnp.where(valid, labels.astype(jnp.int32) * num_classes + predictions, 0)
    weights = valid.ravel().astype(jnp.int32)
    counts = jnp.bincount(index.ravel(), weights=weights, length=num_classes**2)
    return counts.reshape(num_classes, num_classes).astype(jnp.int32)


def scores(confusion: np.ndarray) -> dict:
    """The four metrics of the paper and the per-class IU (None for absent classes)."""
    n = np.asarray(confusion, np.float64)
    hits, truth, predicted = np.diag(n), n.sum(axis=1), n.sum(axis=0)
    union = truth + predicted - hits
    present, labelled = union > 0, truth > 0
    iu = np.divide(hits, union, out=np.zeros_like(hits), where=present)
    total = max(truth.sum(), 1)
    return {
        "pixel_accuracy": float(hits.sum() / total),
        "mean_accuracy": float(np.mean(hits[labelled] / truth[labelled]))
        if labelled.any()
        else 0.0,
        "mean_iu": float(np.mean(iu[present])) if present.any() else 0.0,
        "fw_iu": float(np.sum(truth * iu) / total),
        "per_class_iu": [float(v) if p else None for v, p in zip(iu, present, strict=True)],
    }
