"""The synthetic scenes and the batching pipeline."""

import numpy as np
import pytest

from fcn_jax.data.batching import bucket, pad_batch
from fcn_jax.data.datasets import DatasetNotReady, open_dataset
from fcn_jax.data.stream import read_options, train_batches
from fcn_jax.data.synthetic import CLASS_NAMES, MEAN_RGB, SyntheticScenes
from fcn_jax.data.transforms import model_input, preprocess
from fcn_jax.viz import label_png, palette


def test_scenes_are_deterministic_varied_and_cover_every_class():
    a, b = SyntheticScenes("train", 50, seed=3), SyntheticScenes("train", 50, seed=3)
    np.testing.assert_array_equal(a[7]["image"], b[7]["image"])
    assert not np.array_equal(a[7]["image"], SyntheticScenes("val", 50, seed=3)[7]["image"])
    shapes = {a[i]["image"].shape[:2] for i in range(50)}
    assert len(shapes) > 3
    counts = np.bincount(np.concatenate([a[i]["label"].ravel() for i in range(50)]), minlength=6)
    assert len(counts) == len(CLASS_NAMES) and counts.min() > 0
    # small and thin classes really are small: under 3% of pixels each
    assert counts[CLASS_NAMES.index("line")] / counts.sum() < 0.03
    with pytest.raises(IndexError):
        a[50]


def test_stored_mean_is_the_measured_mean():
    scenes = SyntheticScenes("train", 200)
    mean = np.mean([scenes[i]["image"].reshape(-1, 3).mean(0) for i in range(200)], axis=0)
    np.testing.assert_allclose(mean, MEAN_RGB, atol=3)


def test_preprocess_is_bgr_minus_the_mean():
    rgb = np.array([[[10, 20, 30]]], np.uint8)
    np.testing.assert_array_equal(preprocess(rgb, (1, 2, 3)), [[[27, 18, 9]]])
    with pytest.raises(ValueError, match="RGB"):
        preprocess(np.zeros((4, 4)), (0, 0, 0))


def test_buckets_pad_images_with_the_mean_and_labels_with_void():
    assert [bucket(n, 32) for n in (1, 32, 33, 96, 97)] == [32, 32, 64, 96, 128]
    images = [np.ones((40, 50, 3), np.float32), np.ones((70, 20, 3), np.float32)]
    labels = [np.ones((40, 50), np.uint8), np.full((70, 20), 2, np.uint8)]
    batch = pad_batch(images, labels, 32)
    assert batch["image"].shape == (2, 96, 64, 3) and batch["label"].shape == (2, 96, 64)
    assert batch["image"][0, 40:].sum() == 0 and (batch["label"][0, 40:] == 255).all()
    assert (batch["label"][1, :70, :20] == 2).all() and (batch["label"][1, :, 20:] == 255).all()
    with pytest.raises(ValueError, match="sizes differ"):
        pad_batch([images[0]], [labels[1]], 32)


def test_batches_depend_only_on_seed_and_step():
    scenes = SyntheticScenes("train", 20)
    kwargs = dict(batch_size=3, seed=5, mean_rgb=MEAN_RGB, num_classes=6)
    run = train_batches(scenes, **kwargs)
    batches = [next(run) for _ in range(4)]
    resumed = next(train_batches(scenes, start_step=2, **kwargs))
    np.testing.assert_array_equal(resumed["image"], batches[2]["image"])
    assert not np.array_equal(batches[0]["image"], batches[1]["image"])


def test_the_stream_reads_only_a_few_batches_ahead():
    # Prefetched batches live in the training process: grain's default read-ahead (500
    # batches) held gigabytes of PASCAL-sized images. grain asks for a batch only when the
    # loop takes one (it keeps `ahead` batches asked for beyond those taken), so after `taken`
    # calls of next() the source has been asked for (taken + ahead) batches' examples, no more,
    # and every one of them in the end: wait for that count, checking each read against it.
    import threading

    ahead = read_options(0).prefetch_buffer_size
    assert 1 <= ahead <= 8  # a few batches: up to 4 threads, 2 batches each
    batch_size, taken = 2, 3

    class Counting:
        def __init__(self):
            self.reads, self.over, self.calls = 0, [], 0
            self.changed = threading.Condition()

        def __len__(self):
            return 8

        def __getitem__(self, i):
            with self.changed:
                self.reads += 1
                if self.reads > (self.calls + ahead) * batch_size:
                    self.over.append((self.reads, self.calls))
                self.changed.notify_all()
            return {"image": np.zeros((8, 8, 3), np.uint8), "label": np.zeros((8, 8), np.uint8)}

    source = Counting()
    run = train_batches(source, batch_size=batch_size, seed=0, mean_rgb=MEAN_RGB, num_classes=6)
    for _ in range(taken):
        with source.changed:
            source.calls += 1  # before the call: within it grain may ask for one batch more
        next(run)
    expected = (taken + ahead) * batch_size
    with source.changed:  # the timeout only bounds a failure; a pass never waits for it
        assert source.changed.wait_for(lambda: source.reads >= expected, timeout=60), source.reads
        assert source.reads == expected and not source.over, (source.reads, source.over)
    run.close()


def test_bad_labels_stop_the_pipeline_with_the_example_named():
    class Broken:
        def __len__(self):
            return 1

        def __getitem__(self, i):
            return {"image": np.zeros((8, 8, 3), np.uint8), "label": np.full((8, 8), 9, np.uint8)}

    run = train_batches(Broken(), batch_size=1, seed=0, mean_rgb=MEAN_RGB, num_classes=6)
    with pytest.raises(ValueError, match=r"training example 0.*\[9\]"):
        next(run)


def test_unprepared_datasets_say_what_to_do():
    with pytest.raises(DatasetNotReady, match="fcn-jax data prepare voc_sbd"):
        open_dataset("voc_sbd")
    with pytest.raises(ValueError, match="unknown dataset"):
        open_dataset("imagenet")


def test_voc_palette_and_label_png(tmp_path):
    colours = palette()
    # The VOC colour map: background black, aeroplane (128,0,0), bicycle (0,128,0), person
    # (192,128,128) as class 15.
    assert colours[0].tolist() == [0, 0, 0] and colours[1].tolist() == [128, 0, 0]
    assert colours[2].tolist() == [0, 128, 0] and colours[15].tolist() == [192, 128, 128]
    label_png(np.array([[0, 1], [15, 255]])).save(tmp_path / "m.png")
    from PIL import Image

    with Image.open(tmp_path / "m.png") as image:
        assert image.mode == "P"
        np.testing.assert_array_equal(np.asarray(image), [[0, 1], [15, 255]])


def batches(n, **options):
    scenes = SyntheticScenes("train", 12)
    defaults = dict(batch_size=4, seed=1, mean_rgb=MEAN_RGB, num_classes=6)
    run = train_batches(scenes, **{**defaults, **options})
    return [next(run) for _ in range(n)]


def test_worker_processes_give_the_same_batches():
    for a, b in zip(batches(3), batches(3, workers=2), strict=True):
        np.testing.assert_array_equal(a["image"], b["image"])
        np.testing.assert_array_equal(a["label"], b["label"])


def test_processes_split_the_global_batch():
    whole = batches(2, flip=False)
    parts = [batches(2, flip=False, process_index=p, process_count=2) for p in (0, 1)]
    for step in range(2):
        assert parts[0][step]["image"].shape[0] == 2
        # process p holds examples 2p, 2p+1 of the global batch: the parts end to end are it
        for p in (0, 1):
            for j in range(2):
                got = parts[p][step]["image"][j]
                want = whole[step]["image"][2 * p + j]
                h, w = min(got.shape[0], want.shape[0]), min(got.shape[1], want.shape[1])
                np.testing.assert_array_equal(got[:h, :w], want[:h, :w])
    with pytest.raises(ValueError, match="divisible"):
        batches(1, process_count=3)


def test_epoch_sampling_visits_every_image_once_per_epoch():
    scenes = [preprocess(s["image"], MEAN_RGB) for s in SyntheticScenes("train", 12)]
    seen = []
    for batch in batches(3, sampling="epochs", flip=False, batch_size=4):
        for image in batch["image"]:
            seen += [
                i
                for i, scene in enumerate(scenes)
                if np.array_equal(image[: scene.shape[0], : scene.shape[1]], scene)
            ][:1]
    assert sorted(seen) == list(range(12))


def test_scale_and_crop_augmentation():
    (batch,) = batches(1, scale=(0.5, 0.5), crop=40, multiple=8)
    assert batch["image"].shape == (4, 40, 40, 3)
    labels = batch["label"]
    assert set(np.unique(labels)) <= set(range(6)) | {255}


def test_model_inputs_for_hha_and_early_fusion():
    example = {
        "image": np.full((2, 3, 3), 10, np.uint8),
        "hha": np.full((2, 3, 3), 50, np.uint8),
        "depth": np.array([[1000, 0, 2000], [1000, 1000, 1000]], np.uint16),
    }
    means = {"color": (1, 2, 3), "hha": (5, 5, 5), "log_depth": np.log(1000)}
    assert model_input(example, "color", means).shape == (2, 3, 3)
    np.testing.assert_array_equal(model_input(example, "hha", means), np.full((2, 3, 3), 45))
    fused = model_input(example, "color+depth", means)
    assert fused.shape == (2, 3, 4)
    np.testing.assert_array_equal(fused[..., :3], preprocess(example["image"], (1, 2, 3)))
    np.testing.assert_allclose(fused[0, :, 3], [0, 0, np.log(2)], atol=1e-6)  # missing -> mean
    late = model_input(example, "color|hha", means)
    assert late.shape == (2, 3, 6) and (late[..., 3:] == 45).all()
    with pytest.raises(ValueError, match="inputs must be one of"):
        model_input(example, "depth", means)
