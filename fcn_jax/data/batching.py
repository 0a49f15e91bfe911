"""Whole images of varying size in one batch: each side padded up to a bucket (a multiple of
a size), images with 0 (the mean, after preprocessing) and labels with the void label, so a
jitted step compiles once per bucket, not per image."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np

from fcn_jax.data.labels import VOID


def bucket(size: int, multiple: int) -> int:
    """``size`` rounded up to a multiple of ``multiple``."""
    return -(-size // multiple) * multiple


def pad_batch(
    images: Sequence[np.ndarray], labels: Sequence[np.ndarray], multiple: int
) -> dict[str, np.ndarray]:
    """Stack images (H_i, W_i, C) and labels (H_i, W_i), or (H_i, W_i, T) for T tasks, into the
    bucket of the largest: images padded with 0 (the mean, after preprocessing), labels with the
    void label."""
    height = bucket(max(i.shape[0] for i in images), multiple)
    width = bucket(max(i.shape[1] for i in images), multiple)
    batch_image = np.zeros((len(images), height, width, images[0].shape[-1]), np.float32)
    batch_label = np.full((len(images), height, width, *labels[0].shape[2:]), VOID, np.int32)
    for k, (image, label) in enumerate(zip(images, labels, strict=True)):
        if image.shape[:2] != label.shape[:2]:
            raise ValueError(f"image {image.shape[:2]} and label {label.shape} sizes differ")
        batch_image[k, : image.shape[0], : image.shape[1]] = image
        batch_label[k, : label.shape[0], : label.shape[1]] = label
    return {"image": batch_image, "label": batch_label}


def pad_to(batch: dict[str, np.ndarray], height: int, width: int) -> dict[str, np.ndarray]:
    """A padded batch padded further to (``height``, ``width``), as every process of a
    multi-process run must agree on one shape: images with 0, labels with the void label."""
    image, label = batch["image"], batch["label"]
    if image.shape[1:3] == (height, width):
        return batch
    extra = ((0, 0), (0, height - image.shape[1]), (0, width - image.shape[2]))
    return {
        "image": np.pad(image, (*extra, (0, 0))),
        "label": np.pad(label, extra + ((0, 0),) * (label.ndim - 3), constant_values=VOID),
    }
