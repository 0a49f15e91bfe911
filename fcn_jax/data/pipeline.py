"""Turning examples into batches: preprocessing, shape buckets, seeded sampling.

Whole images of varying size are padded up to a bucket (each side rounded up to a multiple),
with the void label in the padding, so a jitted step compiles once per bucket, not per image.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence

import numpy as np

from fcn_jax.losses import VOID, check_labels


def preprocess(image: np.ndarray, mean_rgb: Sequence[float]) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> float32 BGR with the dataset mean subtracted, as the reference."""
    image = np.asarray(image)
    if image.ndim != 3 or image.shape[-1] != 3:
        raise ValueError(f"expected an RGB image of shape (H, W, 3), got {image.shape}")
    return (image.astype(np.float32) - np.asarray(mean_rgb, np.float32))[..., ::-1]


def bucket(size: int, multiple: int) -> int:
    """``size`` rounded up to a multiple of ``multiple``."""
    return -(-size // multiple) * multiple


def pad_batch(
    images: Sequence[np.ndarray], labels: Sequence[np.ndarray], multiple: int
) -> dict[str, np.ndarray]:
    """Stack images (H_i, W_i, C) and labels (H_i, W_i) into the bucket of the largest: images
    padded with 0 (the mean, after preprocessing), labels with the void label."""
    height = bucket(max(i.shape[0] for i in images), multiple)
    width = bucket(max(i.shape[1] for i in images), multiple)
    batch_image = np.zeros((len(images), height, width, images[0].shape[-1]), np.float32)
    batch_label = np.full((len(images), height, width), VOID, np.int32)
    for k, (image, label) in enumerate(zip(images, labels, strict=True)):
        if image.shape[:2] != label.shape:
            raise ValueError(f"image {image.shape[:2]} and label {label.shape} sizes differ")
        batch_image[k, : image.shape[0], : image.shape[1]] = image
        batch_label[k, : label.shape[0], : label.shape[1]] = label
    return {"image": batch_image, "label": batch_label}


def train_batches(
    source: Sequence[dict],
    *,
    batch_size: int,
    seed: int,
    mean_rgb: Sequence[float],
    num_classes: int,
    multiple: int = 32,
    flip: bool = True,
    start_step: int = 0,
) -> Iterator[dict[str, np.ndarray]]:
    """Endless training batches, the reference's way: each step draws ``batch_size`` random
    images with replacement. Batch ``k`` depends only on (seed, k), so a run resumed at
    ``start_step`` sees exactly the batches it would have seen."""
    step = start_step
    while True:
        rng = np.random.default_rng((seed, step))
        images, labels = [], []
        for index in rng.integers(0, len(source), batch_size):
            example = source[int(index)]
            check_labels(example["label"], num_classes, f"training example {index}")
            image, label = preprocess(example["image"], mean_rgb), example["label"]
            if flip and rng.random() < 0.5:
                image, label = image[:, ::-1], label[:, ::-1]
            images.append(image)
            labels.append(np.asarray(label))
        yield pad_batch(images, labels, multiple)
        step += 1
