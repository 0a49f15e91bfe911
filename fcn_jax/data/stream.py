"""The grain stream of training batches: seeded sampling, process sharding, read-ahead,
worker processes, resuming at a step.

Example ``k`` of the stream is a function of (seed, k) alone (:func:`training_dataset`); what
happens to it is :func:`~fcn_jax.data.transforms.training_pair`, and how a batch of them is
padded to one shape :func:`~fcn_jax.data.batching.pad_batch`.
"""

from __future__ import annotations

import os
from collections.abc import Iterator, Sequence
from functools import partial

import grain
import numpy as np
from absl import flags

from fcn_jax.data.batching import pad_batch
from fcn_jax.data.preprocessing import Normalisation
from fcn_jax.data.transforms import training_pair


def _example(k, *, source, sampling, seed, **transform):
    """Training example number ``k`` of the stream: which image and which augmentation depend
    only on (seed, k)."""
    rng = np.random.default_rng((seed, k))
    if sampling == "replacement":
        index = int(rng.integers(0, len(source)))
    else:  # epochs: position k % n of epoch k // n's permutation (three-word seed: never a
        # per-example generator's)
        n = len(source)
        index = int(np.random.default_rng((seed, k // n, 0)).permutation(n)[k % n])
    return training_pair(source[index], rng, f"training example {index}", **transform)


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

    ``inputs`` picks the net's input channels (:func:`~fcn_jax.data.transforms.model_input`;
    ``extra_means`` gives the means beyond colour; ``mean_rgb`` may be the normalisation stored
    with imported weights). ``tasks`` names the label maps (several: labels (N, H, W, T) and
    ``num_classes`` one count per task). ``sampling='replacement'`` is the reference's: each
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


def _let_grain_read_its_flags() -> None:
    """Mark absl's flags parsed (each then reads as its default) unless a program already
    parsed them.

    grain 0.2.18 reads its absl flag ``--grain_enable_multiprocess_worker_profiling`` when it
    starts worker processes, and absl refuses to read any flag before the flags are parsed
    (``UnparsedFlagAccessError``); nothing here runs under ``absl.app``. ``grain.config.update``
    is no way round it: it sets only the options grain lists in its config, and this flag is
    not one. grain's repository has since caught that error for this flag (after 0.2.18); once
    the grain installed does, this function can go."""
    if not flags.FLAGS.is_parsed():
        flags.FLAGS.mark_as_parsed()


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
        _let_grain_read_its_flags()
        stream = stream.mp_prefetch(grain.MultiprocessingOptions(num_workers=workers))
    return iter(stream)


def train_batches(source: Sequence[dict], *, start_step: int = 0, workers: int = 0, **options):
    """Batches from step ``start_step`` on (see :func:`training_dataset` for ``options``;
    ``total_steps`` defaults to a million)."""
    options.setdefault("total_steps", 1_000_000)
    return batches_from(training_dataset(source, **options), start_step, workers)
