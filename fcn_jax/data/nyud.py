"""NYUDv2 with the 40-class labels of Gupta et al. (CVPR 2013), colour, depth and HHA inputs.

Prepared from the folder layout the reference nets read (the curated release of Gupta et al.):
``data/images/img_<id>.png`` (colour), ``data/depth/img_<id>.png`` (16-bit depth),
``data/hha/img_<id>.png`` (HHA encoding), ``segmentation/img_<id>.mat`` (variable
``segmentation``: 0 void, 1-40 the classes) and the split files ``train.txt``, ``val.txt``,
``test.txt``. As in the paper, ``train`` here is train + val (795 images) and ``val`` is the
test split (654). Labels shift down by one, void becoming 255.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
import tensorflow_datasets as tfds

from fcn_jax.data.encoded import (
    BadExample,
    checked_example,
    decode_any,
    decode_image,
    features,
    png_bytes,
)
from fcn_jax.data.official_files import read_ids

CLASS_NAMES = (
    "wall", "floor", "cabinet", "bed", "chair", "sofa", "table", "door", "window", "bookshelf",
    "picture", "counter", "blinds", "desk", "shelves", "curtain", "dresser", "pillow", "mirror",
    "floor mat", "clothes", "ceiling", "books", "refridgerator", "television", "paper", "towel",
    "shower curtain", "box", "whiteboard", "person", "night stand", "toilet", "sink", "lamp",
    "bathtub", "bag", "otherstructure", "otherfurniture", "otherprop",
)  # fmt: skip
HOMEPAGE = "http://cs.nyu.edu/~silberman/datasets/nyu_depth_v2.html"


def find_root(manual_dir: Path) -> Path:
    found = sorted(p.parent for p in Path(manual_dir).rglob("segmentation") if p.is_dir()
                   and (p.parent / "data" / "images").is_dir())  # fmt: skip
    if not found:
        raise FileNotFoundError(
            f"{manual_dir}: no NYUD folder with data/images/ and segmentation/ (the 40-class "
            f"release of Gupta et al.; see {HOMEPAGE})"
        )
    return found[0]


def training_means(examples: list[dict]) -> dict:
    """Mean colour, mean HHA (per channel) and mean log depth (over measured pixels)."""
    colour = np.mean([decode_image(e["image_bytes"]).reshape(-1, 3).mean(0) for e in examples], 0)
    hha = np.mean([decode_any(e["hha_bytes"], "hha").reshape(-1, 3).mean(0) for e in examples], 0)
    logs = []
    for e in examples:
        depth = decode_any(e["depth_bytes"], "depth").astype(np.float64)
        logs.append(np.log(depth[depth > 0]).mean() if (depth > 0).any() else np.nan)
    return {
        "mean_rgb": tuple(float(c) for c in colour),
        "mean_hha": tuple(float(c) for c in hha),
        "mean_log_depth": float(np.nanmean(logs)),
    }


def read_segmentation(path: Path) -> np.ndarray:
    try:
        labels = np.asarray(scipy.io.loadmat(path)["segmentation"]).astype(np.int64)
    except (OSError, ValueError, KeyError) as err:
        raise BadExample(f"{path}: not a NYUD segmentation .mat ({err})") from err
    if labels.ndim != 2 or labels.min() < 0 or labels.max() > len(CLASS_NAMES):
        raise BadExample(f"{path}: labels outside 0..{len(CLASS_NAMES)}")
    return np.where(labels == 0, 255, labels - 1).astype(np.uint8)


class Nyud(tfds.core.GeneratorBasedBuilder):
    """NYUDv2, 40 classes: train (train+val) 795, val (test) 654; colour, depth, HHA."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"Place the 40-class NYUD folder (see {HOMEPAGE})."

    def _info(self):
        return self.dataset_info_from_configs(
            features=features(("depth", "hha")),
            metadata=tfds.core.MetadataDict(class_names=CLASS_NAMES),
            homepage=HOMEPAGE,
        )

    def _split_generators(self, dl_manager):
        root = find_root(Path(dl_manager.manual_dir))
        lists = {"train": ("train.txt", "val.txt"), "val": ("test.txt",)}
        splits = {}
        for split, files in lists.items():
            examples = []
            for listing in files:
                for example_id in read_ids(root / listing):
                    examples.append(self._example(root, example_id, root / listing))
            splits[split] = examples
        self.info.metadata.update(training_means(splits["train"]))
        return {s: self._generate_examples(e) for s, e in splits.items()}

    @staticmethod
    def _example(root: Path, example_id: str, listing: Path) -> dict:
        stem = f"img_{example_id}"
        image = root / "data" / "images" / f"{stem}.png"
        mat = root / "segmentation" / f"{stem}.mat"
        extra = {k: root / "data" / k / f"{stem}.png" for k in ("depth", "hha")}
        for path in (image, mat, *extra.values()):
            if not path.exists():
                raise BadExample(f"{listing}: id {example_id!r}: {path} missing")
        labels = read_segmentation(mat)
        example = checked_example(stem, image, png_bytes(labels, str(mat)), str(mat), 40)
        for key, path in extra.items():
            data = path.read_bytes()
            if decode_any(data, str(path)).shape[:2] != labels.shape:
                raise BadExample(f"{path}: size differs from its image")
            example[f"{key}_bytes"] = data
        return example

    def _generate_examples(self, examples):
        for example in examples:
            yield example["id"], example
