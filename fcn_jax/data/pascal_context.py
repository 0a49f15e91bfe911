"""PASCAL-Context (Mottaghi et al. 2014) with the 59 most frequent classes, as the paper uses it.

Prepared from the official ``trainval.tar.gz`` (``trainval/<id>.mat`` files holding the
full-label ``LabelMap``, and ``labels.txt`` naming each label ``N: name``) and the VOC 2010
images and ``ImageSets/Main`` train/val lists (4,998 / 5,105 images). The 59 classes are mapped
by name to 1..59; every other label becomes 0 (background).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
import tensorflow_datasets as tfds

from fcn_jax.data import voc
from fcn_jax.data.encoded import BadExample, checked_example, features, png_bytes
from fcn_jax.data.official_files import find_or_extract, read_ids

CLASSES_59 = (
    "aeroplane", "bag", "bed", "bedclothes", "bench", "bicycle", "bird", "boat", "book",
    "bottle", "building", "bus", "cabinet", "car", "cat", "ceiling", "chair", "cloth",
    "computer", "cow", "cup", "curtain", "dog", "door", "fence", "floor", "flower", "food",
    "grass", "ground", "horse", "keyboard", "light", "motorbike", "mountain", "mouse", "person",
    "plate", "platform", "pottedplant", "road", "rock", "sheep", "shelves", "sidewalk", "sign",
    "sky", "snow", "sofa", "table", "track", "train", "tree", "truck", "tvmonitor", "wall",
    "water", "window", "wood",
)  # fmt: skip
CLASS_NAMES = ("background", *CLASSES_59)
ARCHIVE = ("trainval.tar.gz", "https://cs.stanford.edu/~roozbeh/pascal-context/trainval.tar.gz")


def find_labels(manual_dir: Path) -> Path:
    """The folder holding ``<id>.mat`` label maps and ``labels.txt``; extracts the archive."""
    manual_dir = Path(manual_dir)

    def search():
        return sorted(
            p.parent for p in manual_dir.rglob("labels.txt") if any(p.parent.rglob("*.mat"))
        )

    found = find_or_extract(manual_dir, search, ARCHIVE[0])
    if not found:
        raise FileNotFoundError(
            f"{manual_dir}: no PASCAL-Context labels.txt beside its .mat label maps, nor "
            f"{ARCHIVE[0]}; download {ARCHIVE[1]} into it"
        )
    return found[0]


def label_table(labels_txt: Path) -> np.ndarray:
    """A lookup from full-label ids to 0..59 (0 for labels outside the 59 classes)."""
    ids = {}
    for number, line in enumerate(labels_txt.read_text().splitlines(), start=1):
        if not line.strip():
            continue
        key, sep, name = line.partition(":")
        if not sep or not key.strip().isdigit():
            raise BadExample(f"{labels_txt}, line {number}: expected 'N: name', got {line!r}")
        ids[name.strip().replace(" ", "")] = int(key)
    missing = [c for c in CLASSES_59 if c not in ids]
    if missing:
        raise BadExample(f"{labels_txt}: no label for classes {missing}")
    table = np.zeros(max(ids.values()) + 1, np.uint8)
    for k, name in enumerate(CLASSES_59, start=1):
        table[ids[name]] = k
    return table


def read_label_map(path: Path, table: np.ndarray) -> np.ndarray:
    try:
        full = np.asarray(scipy.io.loadmat(path)["LabelMap"])
    except (OSError, ValueError, KeyError) as err:
        raise BadExample(f"{path}: not a PASCAL-Context LabelMap .mat file ({err})") from err
    if full.ndim != 2 or full.min() < 0 or full.max() >= len(table):
        raise BadExample(f"{path}: LabelMap of shape {full.shape} has labels outside labels.txt")
    return table[full]


class PascalContext(tfds.core.GeneratorBasedBuilder):
    """PASCAL-Context, 59 classes plus background: train 4,998, val 5,105 images."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Place {ARCHIVE[0]} ({ARCHIVE[1]}) and {voc.ARCHIVES[2010][0]} (or their extracted "
        "folders) in the manual directory."
    )

    def _info(self):
        return self.dataset_info_from_configs(
            features=features(),
            metadata=tfds.core.MetadataDict(class_names=CLASS_NAMES, mean_rgb=voc.MEAN_RGB),
            homepage="https://cs.stanford.edu/~roozbeh/pascal-context/",
        )

    def _split_generators(self, dl_manager):
        manual = Path(dl_manager.manual_dir)
        labels, devkit = find_labels(manual), voc.find_devkit(manual, 2010, "Main")
        table = label_table(labels / "labels.txt")
        splits = {}
        for split in ("train", "val"):
            listing = devkit / "ImageSets" / "Main" / f"{split}.txt"
            examples = []
            for example_id in read_ids(listing):
                mat = next(iter(labels.rglob(f"{example_id}.mat")), None)
                image = devkit / "JPEGImages" / f"{example_id}.jpg"
                if mat is None or not image.exists():
                    raise BadExample(f"{listing}: id {example_id!r}: image or label map missing")
                label = png_bytes(read_label_map(mat, table), str(mat))
                examples.append(
                    checked_example(example_id, image, label, str(mat), len(CLASS_NAMES))
                )
            splits[split] = examples
        return {s: self._generate_examples(e) for s, e in splits.items()}

    def _generate_examples(self, examples):
        for example in examples:
            yield example["id"], example
