"""PASCAL VOC 2011 and 2012 segmentation (SegmentationClass palette PNGs) as TFDS builders.

Prepared from a manual directory holding the official archive (``VOCtrainval_*.tar``) or its
extracted ``VOCdevkit/VOC20xx`` folder; nothing is downloaded.
"""

from __future__ import annotations

from pathlib import Path

import tensorflow_datasets as tfds

from fcn_jax.data.encoded import BadExample, checked_example, features
from fcn_jax.data.official_files import find_or_extract

CLASS_NAMES = (
    "background", "aeroplane", "bicycle", "bird", "boat", "bottle", "bus", "car", "cat",
    "chair", "cow", "diningtable", "dog", "horse", "motorbike", "person", "pottedplant",
    "sheep", "sofa", "train", "tvmonitor",
)  # fmt: skip
# The reference FCNs' ILSVRC mean, subtracted from VOC, SBD and PASCAL-Context images (RGB).
MEAN_RGB = (122.67891434, 116.66876762, 104.00698793)
ARCHIVES = {
    2010: ("VOCtrainval_03-May-2010.tar",
           "http://host.robots.ox.ac.uk/pascal/VOC/voc2010/VOCtrainval_03-May-2010.tar"),
    2011: ("VOCtrainval_25-May-2011.tar",
           "http://host.robots.ox.ac.uk/pascal/VOC/voc2011/VOCtrainval_25-May-2011.tar"),
    2012: ("VOCtrainval_11-May-2012.tar",
           "http://host.robots.ox.ac.uk/pascal/VOC/voc2012/VOCtrainval_11-May-2012.tar"),
}  # fmt: skip


def find_devkit(manual_dir: Path, year: int, task: str = "Segmentation") -> Path:
    """The ``VOC{year}`` folder under ``manual_dir`` (with ``ImageSets/{task}`` lists),
    extracting the official tar if needed."""
    manual_dir = Path(manual_dir)

    def search():
        marker = f"ImageSets/{task}/train.txt"
        return sorted(p.parents[2] for p in manual_dir.rglob(f"VOC{year}/{marker}"))

    found = find_or_extract(manual_dir, search, ARCHIVES[year][0])
    if not found:
        name, url = ARCHIVES[year]
        raise FileNotFoundError(
            f"{manual_dir}: neither VOC{year}/ImageSets/{task} nor {name} found; "
            f"download {url} into it"
        )
    return found[0]


def segmentation_pairs(devkit: Path, split: str) -> list[tuple[str, Path, Path]]:
    """(id, JPEG path, SegmentationClass PNG path) for each id of an official split file."""
    listing = devkit / "ImageSets" / "Segmentation" / f"{split}.txt"
    pairs = []
    for number, line in enumerate(listing.read_text().splitlines(), start=1):
        example_id = line.strip()
        if not example_id:
            continue
        image = devkit / "JPEGImages" / f"{example_id}.jpg"
        label = devkit / "SegmentationClass" / f"{example_id}.png"
        for path in (image, label):
            if not path.exists():
                raise BadExample(f"{listing}, line {number}: id {example_id!r}: {path} missing")
        pairs.append((example_id, image, label))
    return pairs


def checked(pairs) -> list[dict]:
    """Every pair decoded and checked, before anything is written."""
    return [
        checked_example(i, image, label.read_bytes(), str(label), len(CLASS_NAMES))
        for i, image, label in pairs
    ]


class _VocBuilder(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")
    YEAR = 2012

    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        "Place the official VOCtrainval tar of the year (see fcn_jax.data.voc.ARCHIVES) or "
        "its extracted VOCdevkit folder in the manual directory."
    )

    def _info(self):
        return self.dataset_info_from_configs(
            features=features(),
            metadata=tfds.core.MetadataDict(class_names=CLASS_NAMES, mean_rgb=MEAN_RGB),
            homepage="http://host.robots.ox.ac.uk/pascal/VOC/",
        )

    def _split_generators(self, dl_manager):
        devkit = find_devkit(Path(dl_manager.manual_dir), self.YEAR)
        examples = {s: checked(segmentation_pairs(devkit, s)) for s in ("train", "val")}
        return {s: self._generate_examples(e) for s, e in examples.items()}

    def _generate_examples(self, examples):
        for example in examples:
            yield example["id"], example


class Voc2012(_VocBuilder):
    """PASCAL VOC 2012 segmentation: train 1,464, val 1,449 images, 21 classes."""

    YEAR = 2012


class Voc2011(_VocBuilder):
    """PASCAL VOC 2011 segmentation: train 1,112, val 1,111 images, 21 classes."""

    YEAR = 2011
