"""Folder datasets: the real on-disk formats, exact pixels, and every kind of bad input."""

import json

import numpy as np
import pytest
from PIL import Image

from fcn_jax.data.folder import FolderError, open_folder
from fcn_jax.viz import label_png

RNG = np.random.default_rng(0)


def write_pair(root, name, size=(12, 16), image_format="png", labels=None, mode="P"):
    (root / "images").mkdir(parents=True, exist_ok=True)
    (root / "masks").mkdir(parents=True, exist_ok=True)
    image = RNG.integers(0, 256, (*size, 3), dtype=np.uint8)
    if labels is None:
        labels = RNG.integers(0, 3, size, dtype=np.uint8)
        labels[0, 0] = 255
    suffix = {"png": ".png", "jpeg": ".jpg"}[image_format]
    Image.fromarray(image).save(root / "images" / f"{name}{suffix}")
    mask = label_png(labels) if mode == "P" else Image.fromarray(labels, mode="L")
    mask.save(root / "masks" / f"{name}.png")
    return image, labels


@pytest.fixture
def folder(tmp_path):
    pairs = {f"im{i:02d}": write_pair(tmp_path, f"im{i:02d}", mode="PL"[i % 2]) for i in range(12)}
    return tmp_path, pairs


def test_exact_pixels_and_labels_come_back(folder):
    root, pairs = folder
    data = open_folder(root)
    # default split: every 10th sorted id is validation
    assert len(data.val) == 2 and len(data.train) == 10
    assert data.class_names == ("0", "1", "2")
    for split in (data.train, data.val):
        for k in range(len(split)):
            name = split.pairs[k][0].stem
            example = split[k]
            np.testing.assert_array_equal(example["image"], pairs[name][0])
            np.testing.assert_array_equal(example["label"], pairs[name][1])
    train_ids = {p.stem for p, _ in data.train.pairs}
    expected = np.mean([pairs[i][0].reshape(-1, 3).mean(0) for i in train_ids], axis=0)
    np.testing.assert_allclose(data.mean_rgb, expected, rtol=1e-6)  # same-size images


def test_jpeg_images_split_files_and_class_names(tmp_path):
    write_pair(tmp_path, "a", image_format="jpeg")
    write_pair(tmp_path, "b")
    write_pair(tmp_path, "c")
    (tmp_path / "train.txt").write_text("a\nb\n")
    (tmp_path / "val.txt").write_text("c\n")
    (tmp_path / "classes.txt").write_text("background\ncat\ndog\n")
    data = open_folder(tmp_path)
    assert [p.stem for p, _ in data.train.pairs] == ["a", "b"]
    assert data.class_names == ("background", "cat", "dog")
    assert data.train[0]["image"].shape == (12, 16, 3)


def bad(root, kind):
    """Write one bad pair of the given kind into a folder that is otherwise fine."""
    for name in ("good1", "good2"):
        write_pair(root, name)
    images, masks = root / "images", root / "masks"
    if kind == "truncated":
        write_pair(root, "bad", image_format="jpeg")
        data = (images / "bad.jpg").read_bytes()
        (images / "bad.jpg").write_bytes(data[: len(data) // 2])
        return "bad.jpg"
    if kind == "size":
        write_pair(root, "bad")
        label_png(np.zeros((5, 5), np.uint8)).save(masks / "bad.png")
        return "bad.png"
    if kind == "label":
        (root / "classes.txt").write_text("a\nb\nc\n")
        write_pair(root, "bad", labels=np.full((12, 16), 7, np.uint8))
        return r"bad\.png: label values \[7\]"
    if kind in ("L", "RGBA", "CMYK"):
        write_pair(root, "bad")
        (images / "bad.png").unlink()
        fmt = "JPEG" if kind == "CMYK" else "PNG"
        path = images / ("bad.jpg" if kind == "CMYK" else "bad.png")
        Image.new(kind, (16, 12)).save(path, fmt)
        return rf"{path.name}: image mode is {kind}"
    if kind == "rgb_mask":
        write_pair(root, "bad")
        Image.new("RGB", (16, 12)).save(masks / "bad.png")
        return r"bad\.png: mask is a PNG in mode RGB"
    if kind == "no_mask":
        write_pair(root, "bad")
        (masks / "bad.png").unlink()
        return "no mask"
    raise AssertionError(kind)


KINDS = ["truncated", "size", "label", "L", "RGBA", "CMYK", "rgb_mask", "no_mask"]


@pytest.mark.parametrize("kind", KINDS)
def test_bad_pairs_are_named(tmp_path, kind):
    match = bad(tmp_path, kind)
    with pytest.raises(FolderError, match=match):
        open_folder(tmp_path)


@pytest.mark.parametrize("kind", KINDS)
def test_skip_policy_leaves_bad_pairs_out_and_reports_them(tmp_path, kind):
    bad(tmp_path, kind)
    data = open_folder(tmp_path, on_error="skip")
    assert len(data.skipped) == 1 and "bad" in data.skipped[0]
    assert sorted(p.stem for p, _ in data.train.pairs + data.val.pairs) == ["good1", "good2"]


def test_split_files_and_empty_folders(tmp_path):
    with pytest.raises(FolderError, match="images/ and masks/"):
        open_folder(tmp_path)
    (tmp_path / "images").mkdir()
    (tmp_path / "masks").mkdir()
    with pytest.raises(FolderError, match=r"no \.jpg, \.jpeg or \.png images"):
        open_folder(tmp_path)
    write_pair(tmp_path, "a")
    write_pair(tmp_path, "b")
    (tmp_path / "train.txt").write_text("a\n\nzz\n")
    (tmp_path / "val.txt").write_text("b\n")
    with pytest.raises(FolderError, match=r"train\.txt, line 3: id 'zz'"):
        open_folder(tmp_path)
    (tmp_path / "val.txt").unlink()
    with pytest.raises(FolderError, match=r"both train\.txt and val\.txt"):
        open_folder(tmp_path)


@pytest.mark.slow
def test_train_and_eval_on_a_folder_from_the_command_line(tmp_path, capsys):
    from fcn_jax import cli

    data = tmp_path / "data"
    for i in range(4):
        write_pair(data, f"im{i}", size=(40, 48))
    (data / "classes.txt").write_text("background\nthing\nother\n")
    workdir = tmp_path / "run"
    overrides = [
        f"--config.dataset=folder:{data}",
        "--config.width=0.03125",
        "--config.total_steps=2",
        "--config.eval_every=2",
        "--config.batch_size=2",
    ]
    assert cli.main(["train", "--workdir", str(workdir), *overrides]) == 0
    out = capsys.readouterr().out
    assert "mean_iu" in out and "thing" in out
    assert cli.main(["eval", "--workdir", str(workdir), "--json"]) == 0
    assert len(json.loads(capsys.readouterr().out)["per_class_iu"]) == 3
