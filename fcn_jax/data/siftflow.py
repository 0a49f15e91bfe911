"""SIFT Flow (Liu et al. 2011): 2,688 outdoor images with 33 semantic and 3 geometric classes.

Prepared from the official ``SiftFlowDataset.zip`` or its extracted folder: ``Images/``,
``SemanticLabels/`` and ``GeoLabels/`` (``.mat`` files whose ``S`` is the label map, 0 for
unlabelled), each with a ``spatial_envelope_256x256_static_8outdoorcategories`` subfolder.
Labels shift down by one, unlabelled becoming void (255). The test split is the official 200
images of ``TestSet1.txt``; the rest is training (2,488).
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import scipy.io
import tensorflow_datasets as tfds

from fcn_jax.data.encoded import BadExample, checked_example, decode_image, features, png_bytes
from fcn_jax.data.official_files import find_or_extract

CLASS_NAMES = (
    "awning", "balcony", "bird", "boat", "bridge", "building", "bus", "car", "cow", "crosswalk",
    "desert", "door", "fence", "field", "grass", "moon", "mountain", "person", "plant", "pole",
    "river", "road", "rock", "sand", "sea", "sidewalk", "sign", "sky", "staircase",
    "streetlight", "sun", "tree", "window",
)  # fmt: skip
GEO_CLASS_NAMES = ("sky", "horizontal", "vertical")
SUBFOLDER = "spatial_envelope_256x256_static_8outdoorcategories"
ARCHIVE = (
    "SiftFlowDataset.zip",
    "http://www.cs.unc.edu/~jtighe/Papers/ECCV10/siftflow/SiftFlowDataset.zip",
)


def find_root(manual_dir: Path) -> Path:
    manual_dir = Path(manual_dir)

    def search():
        return sorted(p.parent for p in manual_dir.rglob("SemanticLabels") if p.is_dir())

    found = find_or_extract(manual_dir, search, ARCHIVE[0])
    if not found:
        raise FileNotFoundError(
            f"{manual_dir}: no SIFT Flow folder (Images/, SemanticLabels/, GeoLabels/) nor "
            f"{ARCHIVE[0]}; download {ARCHIVE[1]} into it"
        )
    return found[0]


def read_s(path: Path, num_classes: int) -> np.ndarray:
    """Labels 1..n of a SIFT Flow ``.mat`` as 0..n-1, unlabelled (0) as void."""
    try:
        labels = np.asarray(scipy.io.loadmat(path)["S"]).astype(np.int64)
    except (OSError, ValueError, KeyError) as err:
        raise BadExample(f"{path}: not a SIFT Flow label .mat (no S) ({err})") from err
    if labels.ndim != 2 or labels.min() < 0 or labels.max() > num_classes:
        raise BadExample(f"{path}: S has values outside 0..{num_classes}")
    return np.where(labels == 0, 255, labels - 1).astype(np.uint8)


def test_ids(root: Path) -> set[str]:
    listing = next(iter(root.rglob("TestSet1.txt")), None)
    if listing is None:
        raise FileNotFoundError(f"{root}: no TestSet1.txt (the official 200-image test split)")
    return {
        Path(line.strip().replace("\\", "/")).stem
        for line in listing.read_text().splitlines()
        if line.strip()
    }


class Siftflow(tfds.core.GeneratorBasedBuilder):
    """SIFT Flow: train 2,488 and test 200 images, semantic and geometric label maps."""

    VERSION = tfds.core.Version("1.0.0")
    MANUAL_DOWNLOAD_INSTRUCTIONS = f"Place {ARCHIVE[0]} ({ARCHIVE[1]}) or its extracted folder."

    def _info(self):
        return self.dataset_info_from_configs(
            features=features(("geo_label",)),
            metadata=tfds.core.MetadataDict(
                class_names=CLASS_NAMES, geo_class_names=GEO_CLASS_NAMES
            ),  # mean_rgb: measured over the training images when prepared
        )

    def _split_generators(self, dl_manager):
        root = find_root(Path(dl_manager.manual_dir))
        test = test_ids(root)
        images = sorted((root / "Images" / SUBFOLDER).glob("*.jpg"))
        if not images:
            raise BadExample(f"{root / 'Images' / SUBFOLDER}: no images")
        splits = {"train": [], "val": []}
        for image in images:
            semantic = root / "SemanticLabels" / SUBFOLDER / f"{image.stem}.mat"
            geometric = root / "GeoLabels" / SUBFOLDER / f"{image.stem}.mat"
            for path in (semantic, geometric):
                if not path.exists():
                    raise BadExample(f"{image}: label file {path} missing")
            example = checked_example(
                image.stem, image, png_bytes(read_s(semantic, 33), str(semantic)),
                str(semantic), len(CLASS_NAMES),
            )  # fmt: skip
            geo = read_s(geometric, 3)
            if geo.shape != read_s(semantic, 33).shape:
                raise BadExample(f"{geometric}: size differs from {semantic}")
            example["geo_label_bytes"] = png_bytes(geo, str(geometric))
            splits["val" if image.stem in test else "train"].append(example)
        colours = np.mean(
            [decode_image(e["image_bytes"]).reshape(-1, 3).mean(0) for e in splits["train"]], 0
        )
        self.info.metadata["mean_rgb"] = tuple(float(c) for c in colours)
        missing = test - {e["id"] for e in splits["val"]}
        if missing:
            raise BadExample(f"TestSet1.txt names images that are missing: {sorted(missing)[:5]}")
        return {s: self._generate_examples(e) for s, e in splits.items()}

    def _generate_examples(self, examples):
        for example in examples:
            yield example["id"], example
