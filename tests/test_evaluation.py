"""Evaluation that does not make a user wait: bucketed whole-image scoring (pad to a bucket,
crop back) against confusions counted here with numpy, and the persistent compilation cache
of ``fcn-jax eval`` (where it lives, what it does when it cannot be written, that a second
eval loads what the first compiled)."""

import json
import subprocess

import jax
import numpy as np
import pytest

from fcn_jax.cli.compile_cache import use_compilation_cache, user_cache
from fcn_jax.models import build
from fcn_jax.train.step import evaluate, make_eval_step

CLASSES = 3


@pytest.fixture(scope="module")
def net():
    """(model, params) of a tiny FCN-32s with random weights: predictions that vary."""
    model = build("fcn32s", CLASSES, width=1 / 32, align="same")
    params = jax.jit(model.init)(jax.random.key(0), np.zeros((1, 32, 32, 3), np.float32))
    return model, params["params"]


def examples(sizes, seed=0):
    """Images (float, as after preprocessing) and labels with a void border row."""
    rng = np.random.default_rng(seed)
    found = []
    for height, width in sizes:
        label = rng.integers(0, CLASSES, (height, width)).astype(np.uint8)
        label[0] = 255
        found.append({"image": rng.normal(0, 50, (height, width, 3)).astype(np.float32),
                      "label": label})  # fmt: skip
    return found


def numpy_confusion(labels, predictions):
    """(C, C) counts of (true, predicted) over the non-void pixels, with numpy alone."""
    total = np.zeros((CLASSES, CLASSES), np.int64)
    for truth, guess in zip(labels, predictions, strict=True):
        keep = truth != 255
        total += np.bincount(
            truth[keep].astype(np.int64) * CLASSES + guess[keep], minlength=CLASSES**2
        ).reshape(CLASSES, CLASSES)
    return total


def padded_prediction(model, params, image, multiple):
    """The net's labels on ``image`` padded with zeros to multiples of ``multiple`` (np.pad),
    cropped to the image."""
    height, width = image.shape[:2]
    up = [(-(-s // multiple) * multiple) - s for s in (height, width)]
    padded = np.pad(image, ((0, up[0]), (0, up[1]), (0, 0)))
    logits = np.asarray(jax.jit(model.apply)({"params": params}, padded[None]))[0]
    return logits.argmax(-1)[:height, :width]


def run(model, params, val, bucket, keep=0):
    step = make_eval_step(model, CLASSES)
    confusions, kept = evaluate(step, params, val, lambda e: e["image"],
                                lambda e: e["label"], keep=keep, bucket=bucket)  # fmt: skip
    return confusions[0], kept, step._cache_size()


def test_bucketed_eval_is_native_eval_when_every_side_is_a_bucket_multiple(net):
    model, params = net
    val = examples([(32, 64), (64, 32)])
    native, _, _ = run(model, params, val, bucket=0)
    bucketed, _, _ = run(model, params, val, bucket=32)
    predictions = [
        np.asarray(jax.jit(model.apply)({"params": params}, e["image"][None]))[0].argmax(-1)
        for e in val
    ]
    expected = numpy_confusion([e["label"] for e in val], predictions)
    np.testing.assert_array_equal(native, expected)
    np.testing.assert_array_equal(bucketed, expected)


def test_bucketed_eval_scores_only_the_image_and_compiles_once_per_bucket(net):
    model, params = net
    sizes = [(20, 40), (30, 50), (17, 20)]  # buckets of 32: 32x64 twice, then 32x32
    confusion, kept, compilations = run(model, params, examples(sizes, seed=1), 32, keep=3)
    assert [k.shape for k in kept] == sizes  # cropped to each image
    assert confusion.sum() == sum(h * w - w for h, w in sizes)  # all but the void first rows
    val = examples(sizes, seed=1)
    reference = [padded_prediction(model, params, e["image"], 32) for e in val]
    for mine, theirs in zip(kept, reference, strict=True):
        np.testing.assert_array_equal(mine, theirs)
    np.testing.assert_array_equal(confusion, numpy_confusion([e["label"] for e in val], reference))
    assert compilations == 2  # two buckets; native size would compile three shapes


def test_the_user_cache_follows_xdg_cache_home(tmp_path):
    assert user_cache({"XDG_CACHE_HOME": str(tmp_path)}) == tmp_path / "fcn_jax" / "xla"
    assert user_cache({}).parts[-3:] == (".cache", "fcn_jax", "xla")


def test_an_unwritable_cache_is_one_warning_and_no_cache(tmp_path, capsys):
    (tmp_path / "file").write_text("not a directory")
    before = jax.config.jax_compilation_cache_dir
    where = tmp_path / "file" / "xla_cache"
    assert use_compilation_cache(where, "eval") is None
    err = capsys.readouterr().err
    assert err == (f"fcn-jax eval: warning: cannot write the compilation cache {where} "
                   "(Not a directory); compiling without it\n")  # fmt: skip
    assert jax.config.jax_compilation_cache_dir == before


@pytest.mark.slow
def test_a_second_eval_loads_what_the_first_compiled(trained):
    from tiny_run import fcn_jax

    workdir, _ = trained
    outputs = []
    for _ in range(2):
        ran = fcn_jax("eval", "--workdir", str(workdir), "--json",
                      stdout=subprocess.PIPE, stderr=subprocess.PIPE)  # fmt: skip
        out, err = ran.communicate(timeout=300)
        assert ran.returncode == 0, err
        outputs.append((json.loads(out), err))
    assert list((workdir / "xla_cache").iterdir())
    (first, first_err), (second, second_err) = outputs
    assert first == second
    assert "3 images in" in first_err and f"loaded from {workdir / 'xla_cache'}" in first_err
    assert f"0 compiled, 1 loaded from {workdir / 'xla_cache'}" in second_err, second_err


def test_bucketed_prediction_is_the_padded_images_scores_cropped(net):
    from fcn_jax.predict.segment import scores_of

    model, params = net
    image = examples([(20, 40)], seed=2)[0]["image"]
    forward = jax.jit(model.apply)
    scores = scores_of(forward, {"params": params}, image, bucket=32)
    assert scores.shape == (20, 40, CLASSES)
    padded = np.pad(image, ((0, 12), (0, 24), (0, 0)))  # 32 x 64, by hand
    expected = np.asarray(forward({"params": params}, padded[None]))[0, :20, :40]
    np.testing.assert_allclose(scores, expected, rtol=1e-6)
