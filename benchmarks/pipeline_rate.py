"""Input pipeline throughput: training batches per second from a folder of PASCAL-sized JPEG
images and PNG masks, through the grain pipeline the trainer uses."""

from __future__ import annotations

import tempfile
import time
from pathlib import Path

import numpy as np
from PIL import Image

from fcn_jax.data.datasets import open_dataset
from fcn_jax.data.stream import train_batches
from fcn_jax.data.synthetic import scene


def pascal_like_sizes(count: int, seed: int = 0) -> list[tuple[int, int]]:
    """(height, width) pairs with one side 500 and the other uniform in 300-500, as PASCAL."""
    rng = np.random.default_rng(seed)
    sizes = []
    for _ in range(count):
        other = int(rng.integers(300, 501))
        sizes.append((other, 500) if rng.random() < 0.7 else (500, other))
    return sizes


def write_folder(root: Path, count: int) -> Path:
    (root / "images").mkdir(parents=True)
    (root / "masks").mkdir()
    rng = np.random.default_rng(0)
    for k, (h, w) in enumerate(pascal_like_sizes(count)):
        example = scene(rng, h, w)
        Image.fromarray(example["image"]).save(root / "images" / f"{k:04d}.jpg", quality=90)
        Image.fromarray(example["label"].astype(np.uint8)).save(root / "masks" / f"{k:04d}.png")
    return root


def images_per_second(workers: int, batches: int = 200, count: int = 40) -> float:
    """Batch-1 training examples per second (decode, augment, pad) with ``workers`` processes,
    in the steady state: timed after every worker has delivered (4 batches per worker), over
    ``batches`` batches (the ``count`` images repeat)."""
    with tempfile.TemporaryDirectory() as tmp:
        dataset = open_dataset(f"folder:{write_folder(Path(tmp) / 'data', count)}")
        stream = train_batches(
            dataset.train,
            batch_size=1,
            seed=0,
            mean_rgb=dataset.mean_rgb,
            num_classes=dataset.num_classes,
            workers=workers,
        )
        for _ in range(max(1, 4 * workers)):  # start-up (worker processes) is not throughput
            next(stream)
        start = time.perf_counter()
        for _ in range(batches):
            next(stream)
        return batches / (time.perf_counter() - start)
