"""Turning examples into batches with grain: preprocessing, augmentation, shape buckets,
seeded sampling, process sharding, worker processes.

Whole images of varying size are padded up to a bucket (each side rounded up to a multiple),
with the void label in the padding, so a jitted step compiles once per bucket, not per image.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from functools import partial

import grain
import numpy as np
from absl import flags
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


def _augment(image, label, rng, flip, scale, crop):
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


def _example(k, *, source, sampling, seed, inputs, means, num_classes, flip, scale, crop, tasks):
    """Training example number ``k`` of the stream: which image and which augmentation depend
    only on (seed, k)."""
    rng = np.random.default_rng((seed, k))
    if sampling == "replacement":
        index = int(rng.integers(0, len(source)))
    else:  # epochs: position k % n of epoch k // n's permutation (three-word seed: never a
        # per-example generator's)
        n = len(source)
        index = int(np.random.default_rng((seed, k // n, 0)).permutation(n)[k % n])
    example = source[index]
    where = f"training example {index}"
    labels = labels_of(example, tasks, where)
    counts = (num_classes,) if isinstance(num_classes, int) else tuple(num_classes)
    for t, count in enumerate(counts):
        check_labels(labels if labels.ndim == 2 else labels[..., t], count, where)
    return _augment(model_input(example, inputs, means), labels, rng, flip, scale, crop)


def training_dataset(
    source: Sequence[dict],
    *,
    batch_size: int,
    seed: int,
    mean_rgb: Sequence[float] | Normalisation,
    num_classes: int | Sequence[int],
    total_steps: int,
    inputs: str = "color",
    extra_means: dict | None = None,
    tasks: Sequence[str] = ("semantic",),
    multiple: int = 32,
    flip: bool = True,
    scale: tuple[float, float] | None = None,
    crop: int = 0,
    sampling: str = "replacement",
    process_index: int = 0,
    process_count: int = 1,
) -> grain.MapDataset:
    """Grain dataset whose element ``s`` is this process's part of the batch of step ``s``.

    ``inputs`` picks the net's input channels (:func:`model_input`; ``extra_means`` gives the
    means beyond colour; ``mean_rgb`` may be the normalisation stored with imported weights).
    ``tasks`` names the label maps (several: labels (N, H, W, T) and ``num_classes`` one count
    per task). ``sampling='replacement'`` is the reference's: each
    example is a random image, drawn with replacement; ``'epochs'`` shuffles the images once
    per epoch.
    Example ``k`` of the global stream depends only on (seed, k); of each global batch, process
    ``p`` of ``P`` takes the ``p``-th block of ``batch_size / P`` consecutive examples, so the
    processes' parts laid end to end are the global batch, whatever the number of processes.
    """
    if batch_size % process_count:
        raise ValueError(f"batch_size {batch_size} is not divisible by {process_count} processes")
    if sampling not in ("replacement", "epochs"):
        raise ValueError(f"sampling must be 'replacement' or 'epochs', got {sampling!r}")
    local = batch_size // process_count
    colour = mean_rgb if isinstance(mean_rgb, Normalisation) else tuple(mean_rgb)

    def global_number(j: int) -> int:  # this process's j-th example in the global stream
        return (j // local) * batch_size + process_index * local + j % local

    example = partial(
        _example,
        source=source,
        sampling=sampling,
        seed=seed,
        inputs=inputs,
        means={"color": colour, **(extra_means or {})},
        tasks=tuple(tasks),
        num_classes=num_classes,
        flip=flip,
        scale=scale,
        crop=crop,
    )
    return (
        grain.MapDataset.range(total_steps * local)
        .map(global_number)
        .map(example)
        .batch(local, batch_fn=partial(_collate, multiple=multiple))
    )


def _collate(pairs, multiple):
    images, labels = zip(*pairs, strict=True)
    return pad_batch(images, labels, multiple)


def read_options(workers: int) -> grain.ReadOptions:
    """How far ahead the stream reads: a few batches, never grain's default of 16 threads and
    500 batches, which held 1.7-2.1 GB of prefetched PASCAL-sized batches after 50 steps in this
    process (``benchmarks/pipeline_rate.py`` images) and, run inside each worker process, made
    2 workers deliver 21 batches/s where 1 thread and 4 batches each deliver 175 (2-core CPU).
    In this process: up to 4 decoding threads, 2 batches ahead each."""
    if workers > 0:
        return grain.ReadOptions(num_threads=1, prefetch_buffer_size=4)
    threads = max(1, min(4, os.cpu_count() or 1))
    return grain.ReadOptions(num_threads=threads, prefetch_buffer_size=2 * threads)


def batches_from(dataset: grain.MapDataset, start_step: int = 0, workers: int = 0) -> Iterator:
    """Iterate ``dataset`` from ``start_step`` (what a resumed run needs), decoding and
    augmenting in ``workers`` processes (0: in this one), a few batches ahead
    (:func:`read_options`); ``close()`` the iterator to stop the workers.

    Workers hand batches over in grain's shared memory, which grain unlinks from a background
    thread once a batch is dropped; the one or two batches still held or just dropped when the
    process exits are reported by Python's resource tracker as leaked (and removed by it).
    Sending them by pipe instead (``DatasetOptions(min_shm_size=...)``) silenced that but made
    ``close()`` wait 50 s for a worker blocked on a full pipe, so it was not kept."""
    stream = dataset[start_step:].to_iter_dataset(read_options(workers))
    if workers > 0:
        if not flags.FLAGS.is_parsed():  # grain's workers read absl flags
            flags.FLAGS.mark_as_parsed()
        stream = stream.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
    return iter(stream)


def train_batches(source: Sequence[dict], *, start_step: int = 0, workers: int = 0, **options):
    """Batches from step ``start_step`` on (see :func:`training_dataset` for ``options``;
    ``total_steps`` defaults to a million)."""
    options.setdefault("total_steps", 1_000_000)
    return batches_from(training_dataset(source, **options), start_step, workers)
