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
    with pytest.raises(SystemExit, match="unknown dataset 'coco'; known: synthetic, folder:PATH"):
        cli.main(["data", "prepare", "coco", "--manual-dir", str(tmp_path), *data])


def fake_sbd(root, ids_train, ids_val, bad_mat=None):
    """The official SBD layout: dataset/img/*.jpg, dataset/cls/*.mat (GTcls), split files."""
    from scipy.io import savemat

    dataset = root / "benchmark_RELEASE" / "dataset"
    (dataset / "img").mkdir(parents=True)
    (dataset / "cls").mkdir()
    truth = {}
    for k, example_id in enumerate([*ids_train, *ids_val]):
        size = (9 + k, 11)
        Image.fromarray(RNG.integers(0, 256, (*size, 3), dtype=np.uint8)).save(
            dataset / "img" / f"{example_id}.jpg"
        )
        labels = RNG.integers(0, 21, size, dtype=np.uint8)
        gt = {"Segmentation": labels, "Boundaries": np.zeros(1), "CategoriesPresent": [1]}
        if example_id == bad_mat:
            gt = {"Boundaries": np.zeros(1)}
        savemat(dataset / "cls" / f"{example_id}.mat", {"GTcls": gt})
        truth[example_id] = labels
    (dataset / "train.txt").write_text("\n".join(ids_train) + "\n")
    (dataset / "val.txt").write_text("\n".join(ids_val) + "\n")
    return truth


def test_sbd_from_mat_files(tmp_path):
    truth = fake_sbd(tmp_path / "manual", ["2008_000002", "2008_000003"], ["2008_000007"])
    data_dir = str(tmp_path / "data")
    cli.main(["data", "prepare", "sbd", "--manual-dir", str(tmp_path / "manual"),
              "--data-dir", data_dir])  # fmt: skip
    dataset = open_dataset("sbd", data_dir=data_dir)
    assert (len(dataset.train), len(dataset.val)) == (2, 1)
    np.testing.assert_array_equal(dataset.train[1]["label"], truth["2008_000003"])


def test_voc_sbd_validates_on_voc2011_val_minus_sbd_train(tmp_path):
    manual = tmp_path / "manual"
    # VOC 2011 val has three images; one of them is also in SBD train, so seg11valid keeps two.
    fake_voc(manual, year=2011, ids=("2007_000032", "2007_000039", "2008_000002", "2008_000005"))
    (manual / "VOCdevkit/VOC2011/ImageSets/Segmentation/val.txt").write_text(
        "2007_000039\n2008_000002\n2008_000005\n"
    )
    fake_sbd(manual, ["2008_000002", "2008_000010"], ["2008_000011"])
    data_dir = str(tmp_path / "data")
    cli.main(["data", "prepare", "voc_sbd", "--manual-dir", str(manual), "--data-dir", data_dir])
    dataset = open_dataset("voc_sbd", data_dir=data_dir)
    assert sorted(dataset.train[i]["id"] for i in range(2)) == ["2008_000002", "2008_000010"]
    assert sorted(dataset.val[i]["id"] for i in range(2)) == ["2007_000039", "2008_000005"]


def test_a_mat_file_without_a_segmentation_is_named(tmp_path):
    fake_sbd(tmp_path / "manual", ["a1", "a2"], ["a3"], bad_mat="a2")
    with pytest.raises(SystemExit, match=r"a2\.mat: not an SBD GTcls"):
        cli.main(["data", "prepare", "sbd", "--manual-dir", str(tmp_path / "manual"),
                  "--data-dir", str(tmp_path / "data")])  # fmt: skip


def test_pascal_context_maps_the_full_labels_to_59_classes(tmp_path):
    from scipy.io import savemat

    from fcn_jax.data.pascal_context import CLASS_NAMES, CLASSES_59

    manual = tmp_path / "manual"
    devkit = manual / "VOCdevkit" / "VOC2010"
    (devkit / "JPEGImages").mkdir(parents=True)
    (devkit / "ImageSets" / "Main").mkdir(parents=True)
    (devkit / "ImageSets" / "Segmentation").mkdir(parents=True)
    (manual / "trainval").mkdir()
    # labels.txt: the full label set, here the 59 classes shuffled among extra labels
    names = ["accordion", *reversed(CLASSES_59), "zebra crossing"]
    (manual / "labels.txt").write_text("".join(f"{k}: {n}\n" for k, n in enumerate(names, 1)))
    full_id = {n.replace(" ", ""): k for k, n in enumerate(names, 1)}
    ids = ["2008_000002", "2008_000003", "2008_000007"]
    for example_id in ids:
        Image.fromarray(RNG.integers(0, 256, (6, 8, 3), dtype=np.uint8)).save(
            devkit / "JPEGImages" / f"{example_id}.jpg"
        )
        label_map = np.full((6, 8), full_id["accordion"], np.uint16)
        label_map[:3] = full_id["person"]
        label_map[3:, :2] = full_id["sky"]
        savemat(manual / "trainval" / f"{example_id}.mat", {"LabelMap": label_map})
    (devkit / "ImageSets" / "Main" / "train.txt").write_text("\n".join(ids[:2]))
    (devkit / "ImageSets" / "Main" / "val.txt").write_text(ids[2])
    (devkit / "ImageSets" / "Segmentation" / "train.txt").write_text("")
    data_dir = str(tmp_path / "data")
    cli.main(["data", "prepare", "pascal_context", "--manual-dir", str(manual),
              "--data-dir", data_dir])  # fmt: skip
    dataset = open_dataset("pascal_context", data_dir=data_dir)
    assert dataset.num_classes == 60 and (len(dataset.train), len(dataset.val)) == (2, 1)
    label = dataset.val[0]["label"]
    assert (label[:3] == CLASS_NAMES.index("person")).all()
    assert (label[3:, :2] == CLASS_NAMES.index("sky")).all()
    assert (label[3:, 2:] == 0).all()  # labels outside the 59 become background


def test_siftflow_semantic_and_geometric_labels(tmp_path):
    from scipy.io import savemat

    root = tmp_path / "manual" / "SiftFlowDataset"
    sub = "spatial_envelope_256x256_static_8outdoorcategories"
    for folder in ("Images", "SemanticLabels", "GeoLabels"):
        (root / folder / sub).mkdir(parents=True)
    names = ["coast_arnat59", "forest_for42", "street_a232"]
    means = []
    for k, name in enumerate(names):
        image = RNG.integers(0, 256, (8, 8, 3), dtype=np.uint8)
        Image.fromarray(image).save(root / "Images" / sub / f"{name}.jpg", quality=100)
        semantic = np.full((8, 8), 28, np.int32)  # 'sky' is label 28 (1-based)
        semantic[4:] = 0  # unlabelled
        savemat(root / "SemanticLabels" / sub / f"{name}.mat", {"S": semantic})
        savemat(root / "GeoLabels" / sub / f"{name}.mat", {"S": np.full((8, 8), 1 + k % 3)})
        if name != "forest_for42":
            with Image.open(root / "Images" / sub / f"{name}.jpg") as decoded:
                means.append(np.asarray(decoded).reshape(-1, 3).mean(0))
    (root / "TestSet1.txt").write_text("forest\\forest_for42.jpg\n")
    data_dir = str(tmp_path / "data")
    cli.main(["data", "prepare", "siftflow", "--manual-dir", str(tmp_path / "manual"),
              "--data-dir", data_dir])  # fmt: skip
    dataset = open_dataset("siftflow", data_dir=data_dir)
    assert (len(dataset.train), len(dataset.val)) == (2, 1) and dataset.num_classes == 33
    example = dataset.val[0]
    assert example["id"] == "forest_for42"
    assert (example["label"][:4] == dataset.class_names.index("sky")).all()
    assert (example["label"][4:] == 255).all()
    assert (example["geo_label"] == 1).all()  # geometric label 2 (1-based) -> 1
    np.testing.assert_allclose(dataset.mean_rgb, np.mean(means, axis=0), rtol=1e-6)


def fake_nyud(tmp_path):
    """The 40-class NYUD layout, prepared; returns (root, data_dir)."""
    from scipy.io import savemat

    root = tmp_path / "manual" / "nyud"
    for folder in ("data/images", "data/depth", "data/hha", "segmentation"):
        (root / folder).mkdir(parents=True)
    for k, idx in enumerate((5001, 5002, 5003)):
        Image.fromarray(RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8)).save(
            root / "data" / "images" / f"img_{idx}.png"
        )
        depth = RNG.integers(0, 10000, (6, 7)).astype(np.uint16)
        Image.fromarray(depth).save(root / "data" / "depth" / f"img_{idx}.png")
        Image.fromarray(RNG.integers(0, 256, (6, 7, 3), dtype=np.uint8)).save(
            root / "data" / "hha" / f"img_{idx}.png"
        )
        segmentation = np.full((6, 7), 40 - k, np.uint8)
        segmentation[0] = 0  # void
        savemat(root / "segmentation" / f"img_{idx}.mat", {"segmentation": segmentation})
    (root / "train.txt").write_text("5001\n")
    (root / "val.txt").write_text("5002\n")
    (root / "test.txt").write_text("5003\n")
    data_dir = str(tmp_path / "data")
    cli.main(["data", "prepare", "nyud", "--manual-dir", str(tmp_path / "manual"),
              "--data-dir", data_dir])  # fmt: skip
    return root, data_dir


def test_nyud_colour_depth_hha_and_40_classes(tmp_path):
    root, data_dir = fake_nyud(tmp_path)
    dataset = open_dataset("nyud", data_dir=data_dir)
    assert dataset.num_classes == 40 and (len(dataset.train), len(dataset.val)) == (2, 1)
    test = dataset.val[0]
    assert (test["label"][0] == 255).all() and (test["label"][1:] == 37).all()  # 38 -> 37
    with Image.open(root / "data" / "depth" / "img_5003.png") as depth:
        np.testing.assert_array_equal(test["depth"], np.asarray(depth))
    assert test["hha"].shape == (6, 7, 3)


@pytest.mark.slow
def test_early_fusion_trains_on_four_channels(tmp_path, capsys):
    import jax

    from fcn_jax.train.checkpoint import Checkpoints

    _, data_dir = fake_nyud(tmp_path)
    workdir = tmp_path / "run"
    overrides = ["--config.dataset=nyud", f"--config.data_dir={data_dir}",
                 "--config.input=color+depth", "--config.width=0.03125", "--config.total_steps=1",
                 "--config.batch_size=1"]  # fmt: skip
    assert cli.main(["train", "--workdir", str(workdir), *overrides]) == 0
    checkpoints = Checkpoints(workdir / "checkpoints", read_only=True)
    params = checkpoints.restore_params(checkpoints.resolve("latest"))
    assert jax.tree.map(np.shape, params)["conv1_1"]["kernel"][2] == 4
    assert cli.main(["eval", "--workdir", str(workdir), "--json"]) == 0


@pytest.mark.slow
def test_late_fusion_trains_one_stream_per_input(tmp_path):
    import jax

    from fcn_jax.train.checkpoint import Checkpoints

    _, data_dir = fake_nyud(tmp_path)
    common = ["--config.dataset=nyud", f"--config.data_dir={data_dir}", "--config.width=0.03125",
              "--config.total_steps=1", "--config.batch_size=1"]  # fmt: skip
    for stream in ("color", "hha"):
        workdir = str(tmp_path / stream)
        assert cli.main(["train", "--workdir", workdir, f"--config.input={stream}", *common]) == 0
    fused = tmp_path / "fused"
    init = f"--config.init_from={tmp_path / 'color'}|{tmp_path / 'hha'}"
    args = ["train", "--workdir", str(fused), "--config.input=color|hha", init, *common]
    assert cli.main(args) == 0
    checkpoints = Checkpoints(fused / "checkpoints", read_only=True)
    params = checkpoints.restore_params(checkpoints.resolve("latest"))
    # one trunk and score layers per stream; the upsampling layers shared, as the reference's
    assert set(params) == {"color", "hha", "upscore2", "upscore_pool4", "upscore8"}  # FCN-8s
    assert {"conv1_1", "score_fr", "score_pool4", "score_pool3"} <= set(params["hha"])
    assert jax.tree.map(np.shape, params)["hha"]["conv1_1"]["kernel"][2] == 3
