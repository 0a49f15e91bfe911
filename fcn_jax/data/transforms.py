"""What happens to one example on its way to the net: its input channels (the normalisation,
depth, HHA), its label maps, their check, and the training augmentation (flip, scale, crop)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from PIL import Image

from fcn_jax.data.labels import VOID, check_labels
from fcn_jax.data.preprocessing import Normalisation, caffe


def preprocess(image: np.ndarray, mean_rgb: Sequence[float] | Normalisation) -> np.ndarray:
    """RGB uint8 (H, W, 3) -> float32 BGR with the dataset mean subtracted, as the reference;
    or normalised as a :class:`~fcn_jax.data.preprocessing.Normalisation` (stored with imported
    weights) says."""
    how = mean_rgb if isinstance(mean_rgb, Normalisation) else caffe(mean_rgb)
    return how.apply(image)


INPUTS = ("color", "hha", "color+depth", "color|hha")


def model_input(example: dict, inputs: str, means: dict) -> np.ndarray:
    """The net's input for an example: 'color' (BGR minus the mean), 'hha' (the HHA image,
    treated like colour, minus its mean) or 'color+depth' (colour and a 4th channel of log
    depth minus its mean; missing depth, 0, becomes the mean) or 'color|hha' (colour then HHA,
    6 channels, for a late-fusion net with one stream each). ``means`` holds 'color' and, as
    the dataset provides them, 'hha' and 'log_depth'."""
    match inputs:
        case "color":
            return preprocess(example["image"], means["color"])
        case "hha":
            return preprocess(example["hha"], means["hha"])
        case "color+depth":
            depth = np.asarray(example["depth"], np.float64)
            log_depth = np.log(np.where(depth > 0, depth, 1.0)) - means["log_depth"]
            log_depth = np.where(depth > 0, log_depth, 0.0).astype(np.float32)
            return np.concatenate(
                [preprocess(example["image"], means["color"]), log_depth[..., None]], -1
            )
        case "color|hha":
            colour = preprocess(example["image"], means["color"])
            return np.concatenate([colour, preprocess(example["hha"], means["hha"])], axis=-1)
        case _:
            raise ValueError(f"inputs must be one of {INPUTS}, got {inputs!r}")


def labels_of(example: dict, tasks: Sequence[str], where: str) -> np.ndarray:
    """The label map (H, W) of a one-task example, or the maps of its tasks stacked (H, W, T):
    task 'semantic' is the example's 'label', task 'geometric' its 'geo_label'."""
    keys = {"semantic": "label", "geometric": "geo_label"}
    maps = []
    for task in tasks:
        if keys.get(task) not in example:
            raise ValueError(f"{where}: no label map for task {task!r}")
        maps.append(np.asarray(example[keys[task]]))
    return maps[0] if len(maps) == 1 else np.stack(maps, axis=-1)


def augment(image, label, rng, flip, scale, crop):
    """Random flip, scale (image bilinear, labels nearest) and crop (padding with the mean
    and the void label where the image is smaller than the crop)."""
    if flip and rng.random() < 0.5:
        image, label = image[:, ::-1], label[:, ::-1]
    if scale is not None:
        factor = rng.uniform(*scale)
        size = (max(1, round(image.shape[1] * factor)), max(1, round(image.shape[0] * factor)))
        image = np.stack(
            [
                np.asarray(Image.fromarray(c.astype(np.float32)).resize(size, Image.BILINEAR))
                for c in image.transpose(2, 0, 1)
            ],
            axis=-1,
        )
        maps = np.asarray(label, np.uint8).reshape(*label.shape[:2], -1)
        label = np.stack(
            [
                np.asarray(Image.fromarray(m).resize(size, Image.NEAREST))
                for m in maps.transpose(2, 0, 1)
            ],
            axis=-1,
        ).reshape(size[1], size[0], *label.shape[2:])
    if crop:
        height, width = max(crop, image.shape[0]), max(crop, image.shape[1])
        padded_image = np.zeros((height, width, image.shape[2]), np.float32)
        padded_label = np.full((height, width, *label.shape[2:]), VOID, np.uint8)
        padded_image[: image.shape[0], : image.shape[1]] = image
        padded_label[: label.shape[0], : label.shape[1]] = label
        top, left = rng.integers(0, height - crop + 1), rng.integers(0, width - crop + 1)
        image = padded_image[top : top + crop, left : left + crop]
        label = padded_label[top : top + crop, left : left + crop]
    return np.ascontiguousarray(image), np.ascontiguousarray(label)


def training_pair(
    example: dict,
    rng: np.random.Generator,
    where: str,
    *,
    inputs: str,
    means: dict,
    tasks: Sequence[str],
    num_classes: int | Sequence[int],
    flip: bool,
    scale: tuple[float, float] | None,
    crop: int,
) -> tuple[np.ndarray, np.ndarray]:
    """(net input, labels) of one training example: its labels checked against each task's
    class count (errors name ``where``), then both augmented with ``rng``."""
    labels = labels_of(example, tasks, where)
    counts = (num_classes,) if isinstance(num_classes, int) else tuple(num_classes)
    for t, count in enumerate(counts):
        check_labels(labels if labels.ndim == 2 else labels[..., t], count, where)
    return augment(model_input(example, inputs, means), labels, rng, flip, scale, crop)
