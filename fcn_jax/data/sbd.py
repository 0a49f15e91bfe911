"""The Semantic Boundaries Dataset (SBD, Hariharan et al. 2011) and the reference FCN training
set built from it: SBD train for training, validated on seg11valid.

SBD labels are ``cls/<id>.mat`` files holding a ``GTcls`` struct whose ``Segmentation`` field is
the class map (0 background, 1-20 the VOC classes). They are stored as lossless PNGs.

seg11valid is the 736-image split of the paper's footnote: the VOC 2011 segmentation val images
that are not in SBD train. It is derived here from the two official files, not typed in.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
import tensorflow_datasets as tfds

from fcn_jax.data import voc
from fcn_jax.data.encoded import BadExample, checked_example, features, png_bytes
from fcn_jax.data.official_files import find_or_extract, read_ids

ARCHIVE = (
    "benchmark.tgz",
    "http://www.eecs.berkeley.edu/Research/Projects/CS/vision/grouping/semantic_contours/"
    "benchmark.tgz",
)


def find_sbd(manual_dir: Path) -> Path:
    """The SBD ``dataset`` folder (with img/, cls/, train.txt), extracting the tgz if needed."""
    manual_dir = Path(manual_dir)

    def search():
        return sorted(p.parent for p in manual_dir.rglob("cls") if (p.parent / "img").is_dir())

    found = find_or_extract(manual_dir, search, ARCHIVE[0])
    if not found:
        raise FileNotFoundError(
            f"{manual_dir}: no SBD dataset/ folder (img/, cls/) nor {ARCHIVE[0]}; "
            f"download {ARCHIVE[1]} into it"
        )
    return found[0]


def read_cls(path: Path) -> np.ndarray:
    """The class map of an SBD ``cls/*.mat`` file."""
    try:
        mat = scipy.io.loadmat(path, squeeze_me=True, struct_as_record=False)
        labels = np.asarray(mat["GTcls"].Segmentation)
    except (OSError, ValueError, KeyError, AttributeError, TypeError) as err:
        raise BadExample(f"{path}: not an SBD GTcls .mat file ({err})") from err
    if labels.ndim != 2:
        raise BadExample(f"{path}: GTcls.Segmentation has shape {labels.shape}, expected 2-d")
    return labels


def sbd_examples(dataset: Path, split: str, ids: list[str] | None = None) -> list[dict]:
    """Checked examples of SBD ``split`` (train.txt / val.txt), or of the given ids."""
    listing = dataset / f"{split}.txt"
    examples = []
    for example_id in ids if ids is not None else read_ids(listing):
        mat, image = dataset / "cls" / f"{example_id}.mat", dataset / "img" / f"{example_id}.jpg"
        for path in (mat, image):
            if not path.exists():
                raise BadExample(f"{listing}: id {example_id!r}: {path} missing")
        label = png_bytes(read_cls(mat), str(mat))
        examples.append(checked_example(example_id, image, label, str(mat), len(voc.CLASS_NAMES)))
    return examples


def seg11valid(voc2011: Path, sbd_train: list[str]) -> list[str]:
    """VOC 2011 segmentation val ids that are not in SBD train (736 with the real files)."""
    taken = set(sbd_train)
    listing = voc2011 / "ImageSets" / "Segmentation" / "val.txt"
    return [i for i in read_ids(listing) if i not in taken]


class _Builder(tfds.core.GeneratorBasedBuilder):
    VERSION = tfds.core.Version("1.0.0")

    def _info(self):
        return self.dataset_info_from_configs(
            features=features(),
            metadata=tfds.core.MetadataDict(class_names=voc.CLASS_NAMES, mean_rgb=voc.MEAN_RGB),
        )

    def _generate_examples(self, examples):
        for example in examples:
            yield example["id"], example


class Sbd(_Builder):
    """SBD: train 8,498, val 2,857 images with class maps for the 21 VOC classes."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = f"Place {ARCHIVE[0]} ({ARCHIVE[1]}) or its extracted folder."

    def _split_generators(self, dl_manager):
        dataset = find_sbd(Path(dl_manager.manual_dir))
        examples = {s: sbd_examples(dataset, s) for s in ("train", "val")}
        return {s: self._generate_examples(e) for s, e in examples.items()}


class VocSbd(_Builder):
    """The reference FCN training set: SBD train (8,498) and seg11valid (736) for validation."""

    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Place {ARCHIVE[0]} and {voc.ARCHIVES[2011][0]} (or their extracted folders) together."
    )

    def _split_generators(self, dl_manager):
        manual = Path(dl_manager.manual_dir)
        dataset, voc2011 = find_sbd(manual), voc.find_devkit(manual, 2011)
        train = sbd_examples(dataset, "train")
        valid_ids = seg11valid(voc2011, [e["id"] for e in train])
        pairs = [
            (i, voc2011 / "JPEGImages" / f"{i}.jpg", voc2011 / "SegmentationClass" / f"{i}.png")
            for i in valid_ids
        ]
        for _, image, label in pairs:
            for path in (image, label):
                if not path.exists():
                    raise BadExample(f"seg11valid: {path} missing")
        val = voc.checked(pairs)
        return {"train": self._generate_examples(train), "val": self._generate_examples(val)}
