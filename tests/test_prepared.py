"""TFDS builders from the official on-disk layouts, read back without TensorFlow."""

import json
import tarfile

import numpy as np
import pytest
from PIL import Image

from fcn_jax import cli
from fcn_jax.data.datasets import open_dataset
from fcn_jax.data.prepared import DatasetNotReady
from fcn_jax.viz import label_png

RNG = np.random.default_rng(0)


def fake_voc(root, year=2012, ids=("2007_000032", "2007_000039", "2008_000002"), bad=None):
    """The official VOCdevkit layout with tiny JPEGs and palette PNGs."""
    devkit = root / "VOCdevkit" / f"VOC{year}"
    for folder in ("JPEGImages", "SegmentationClass", "ImageSets/Segmentation"):
        (devkit / folder).mkdir(parents=True, exist_ok=True)
    truth = {}
    for k, example_id in enumerate(ids):
        size = (10 + k, 14)
        Image.fromarray(RNG.integers(0, 256, (*size, 3), dtype=np.uint8)).save(
            devkit / "JPEGImages" / f"{example_id}.jpg", quality=90
        )
        labels = RNG.integers(0, 21, size, dtype=np.uint8)
        labels[0] = 255  # the void border of VOC masks
        if bad == "label" and k == 1:
            labels[3, 3] = 40
        label_png(labels).save(devkit / "SegmentationClass" / f"{example_id}.png")
        truth[example_id] = labels
    listing = devkit / "ImageSets" / "Segmentation"
    (listing / "train.txt").write_text("\n".join(ids[:2]) + "\n")
    extra = "\n2009_999999" if bad == "missing" else ""
    (listing / "val.txt").write_text(ids[2] + extra + "\n")
    return devkit, truth


def test_prepare_info_and_read_back_exact_pixels(tmp_path, capsys):
    devkit, truth = fake_voc(tmp_path / "manual")
    data_dir = tmp_path / "data"
    args = ["data", "prepare", "voc2012", "--manual-dir", str(tmp_path / "manual")]
    assert cli.main([*args, "--data-dir", str(data_dir)]) == 0
    assert "train 2, val 1" in capsys.readouterr().out
    assert cli.main(["data", "info", "voc2012", "--data-dir", str(data_dir), "--json"]) == 0
    shown = json.loads(capsys.readouterr().out)
    assert shown["splits"] == {"train": 2, "val": 1} and shown["class_names"][15] == "person"
    dataset = open_dataset("voc2012", data_dir=str(data_dir))
    assert dataset.num_classes == 21 and len(dataset.train) == 2
    example = dataset.val[0]
    np.testing.assert_array_equal(example["label"], truth["2008_000002"])
    with Image.open(devkit / "JPEGImages" / "2008_000002.jpg") as original:
        np.testing.assert_array_equal(example["image"], np.asarray(original))


def test_prepare_from_the_official_tar(tmp_path):
    fake_voc(tmp_path / "staging", year=2011)
    manual = tmp_path / "manual"
    manual.mkdir()
    with tarfile.open(manual / "VOCtrainval_25-May-2011.tar", "w") as tar:
        tar.add(tmp_path / "staging" / "VOCdevkit", arcname="TrainVal/VOCdevkit")
    cli.main(["data", "prepare", "voc2011", "--manual-dir", str(manual),
              "--data-dir", str(tmp_path / "data")])  # fmt: skip
    assert len(open_dataset("voc2011", data_dir=str(tmp_path / "data")).val) == 1


@pytest.mark.parametrize(
    ("bad", "match"),
    [("label", r"2007_000039\.png: label values \[40\]"), ("missing", r"line 2.*2009_999999")],
)
def test_bad_examples_are_named_and_nothing_is_written(tmp_path, bad, match):
    fake_voc(tmp_path / "manual", bad=bad)
    data_dir = tmp_path / "data"
    with pytest.raises(SystemExit, match=match):
        cli.main(["data", "prepare", "voc2012", "--manual-dir", str(tmp_path / "manual"),
                  "--data-dir", str(data_dir)])  # fmt: skip
    with pytest.raises(DatasetNotReady, match="not prepared"):
        open_dataset("voc2012", data_dir=str(data_dir))


def test_missing_files_and_unwritten_builders_are_explained(tmp_path):
    data = ["--data-dir", str(tmp_path / "data")]
    with pytest.raises(SystemExit, match="missing or empty"):
        cli.main(["data", "prepare", "voc2012", "--manual-dir", str(tmp_path / "none"), *data])
    (tmp_path / "other").mkdir()
    (tmp_path / "other" / "readme.txt").write_text("not VOC")
    with pytest.raises(SystemExit, match=r"VOCtrainval_11-May-2012\.tar"):
        cli.main(["data", "prepare", "voc2012", "--manual-dir", str(tmp_path / "other"), *data])
    with pytest.raises(SystemExit, match="not written"):
        cli.main(["data", "prepare", "nyud", "--manual-dir", str(tmp_path), *data])
