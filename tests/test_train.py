"""End to end: train a tiny net on synthetic data, evaluate, checkpoint, resume, predict."""

import json
import re
import shutil

import jax
import numpy as np
import pytest
from PIL import Image
from tensorboard.backend.event_processing.event_accumulator import IMAGES, EventAccumulator
from tiny_run import tiny_config

from fcn_jax import cli
from fcn_jax.data.datasets import open_dataset
from fcn_jax.data.stream import train_batches
from fcn_jax.models import build
from fcn_jax.train.checkpoint import CheckpointMismatch, Checkpoints, restore_params
from fcn_jax.train.init_from import read_source
from fcn_jax.train.loop import train_and_evaluate
from fcn_jax.train.optim import make_optimizer
from fcn_jax.train.step import init_state, make_train_step
from fcn_jax.weights.surgery import transplant


def numpy_mean_iu(labels: list[np.ndarray], predictions: list[np.ndarray], classes: int):
    """Mean IU as the paper defines it (Long et al., Section 5), counted with numpy over the
    non-void pixels of all images: per class, |true & predicted| / |true | predicted|, averaged
    over the classes that appear in either (and the per-class values, None where absent)."""
    truth, guess = (
        np.concatenate([t.ravel() for t in labels]),
        np.concatenate([p.ravel() for p in predictions]),
    )
    guess = guess[truth != 255]
    truth = truth[truth != 255]
    per_class = []
    for c in range(classes):
        union = np.sum((truth == c) | (guess == c))
        per_class.append(np.sum((truth == c) & (guess == c)) / union if union else None)
    return np.mean([v for v in per_class if v is not None]), per_class


def test_the_final_scores_are_those_of_the_saved_net_on_the_val_images(trained, tmp_path):
    # The run's mean IU against one counted here from the saved net's predictions (fcn-jax
    # predict, as a user gets them) and the val labels, with no code of the metrics module.
    from fcn_jax.train.loop import dataset_from

    workdir, result = trained
    val = dataset_from(tiny_config()).val
    assert len(val) == 3
    paths = []
    for k, example in enumerate(val):
        Image.fromarray(example["image"]).save(path := tmp_path / f"val{k}.png")
        paths.append(str(path))
    out = tmp_path / "predicted"
    predict = ["predict", "--workdir", str(workdir), "--checkpoint", "latest", *paths]
    assert cli.main([*predict, "--out", str(out)]) == 0  # latest: the scores are the last step's
    predictions = [np.asarray(Image.open(out / f"val{k}.png")) for k in range(3)]
    labels = [np.asarray(example["label"]) for example in val]
    mean_iu, per_class = numpy_mean_iu(labels, predictions, 6)
    assert result["mean_iu"] == pytest.approx(mean_iu, abs=1e-6)
    assert result["per_class_iu"] == [None if v is None else pytest.approx(v) for v in per_class]


def test_a_run_writes_everything_a_user_looks_at(trained):
    workdir, result = trained
    assert len(result["per_class_iu"]) == 6
    records = [json.loads(line) for line in (workdir / "metrics.jsonl").open()]
    assert [r["step"] for r in records if r["split"] == "val"] == [2, 4]
    train = [r for r in records if r["split"] == "train"]
    assert len(train) == 4 and all(r["compilations"] >= 1 for r in train)
    assert list((workdir / "tensorboard").glob("events.out.tfevents.*"))
    for png in ("learning_curve.png", "samples_000002.png", "samples_000004.png"):
        with Image.open(workdir / png) as image:
            assert image.format == "PNG"
    events = EventAccumulator(str(workdir / "tensorboard"), size_guidance={IMAGES: 0})
    events.Reload()
    samples = events.Images("val/samples")  # the tiles of samples_STEP.png, as they are
    assert [(i.step, i.encoded_image_string) for i in samples] == [
        (s, (workdir / f"samples_{s:06d}.png").read_bytes()) for s in (2, 4)
    ]
    names = ("background", "blob", "disc", "line", "stripes", "triangle")  # synthetic's classes
    class_ius = {
        n: iu for n, iu in zip(names, result["per_class_iu"], strict=True) if iu is not None
    }
    for name, iu in class_ius.items():
        assert events.Scalars(f"val/iu/{name}")[-1].value == pytest.approx(iu)
    assert Checkpoints(workdir / "checkpoints", read_only=True).steps() == [2, 4]


def test_eval_and_predict_commands(trained, capsys, tmp_path):
    workdir, result = trained
    assert cli.main(["eval", "--workdir", str(workdir), "--checkpoint", "latest", "--json"]) == 0
    printed = json.loads(capsys.readouterr().out)
    assert {"pixel_accuracy", "mean_accuracy", "mean_iu", "fw_iu", "per_class_iu"} <= set(printed)
    assert printed["mean_iu"] == pytest.approx(result["mean_iu"])
    image = open_dataset("synthetic", num_val=3).val[0]["image"]
    Image.fromarray(image).save(tmp_path / "scene.png")
    out = tmp_path / "out"
    assert (
        cli.main(
            ["predict", "--workdir", str(workdir), str(tmp_path / "scene.png"), "--out", str(out)]
        )
        == 0
    )
    with Image.open(out / "scene.png") as label:
        assert label.mode == "P" and label.size == (image.shape[1], image.shape[0])
    assert (out / "scene_overlay.png").exists()


@pytest.mark.slow
def test_a_run_resumed_after_a_crash_ends_in_the_same_state(trained, tmp_path):
    workdir, _ = trained
    final = restore_params(workdir)
    # Crash after step 2: the step-4 checkpoint never got written. Resuming must replay steps
    # 3 and 4 with the same data, rng and optimizer state.
    crashed = tmp_path / "crashed"
    shutil.copytree(workdir, crashed)
    shutil.rmtree(crashed / "checkpoints" / "4")
    train_and_evaluate(tiny_config(), crashed)
    jax.tree.map(np.testing.assert_array_equal, restore_params(crashed), final)


def test_loss_goes_down_on_a_fixed_batch():
    dataset = open_dataset("synthetic", num_train=4)
    model = build("fcn8s", dataset.num_classes, align="same", width=1 / 32)
    shapes = jax.eval_shape(model.init, jax.random.key(0), np.zeros((1, 64, 64, 3), np.float32))
    tx = make_optimizer(shapes["params"], name="adam", learning_rate=1e-3, weight_decay=0.0)
    state = init_state(model, tx, (1, 64, 64, 3), 0)
    step = make_train_step(model, tx, normalize="mean")
    batch = next(
        train_batches(
            dataset.train,
            batch_size=2,
            seed=0,
            mean_rgb=dataset.mean_rgb,
            num_classes=dataset.num_classes,
        )
    )
    losses = []
    for _ in range(15):
        state, metrics = step(state, batch)
        losses.append(float(metrics["loss"]))
    assert losses[-1] < 0.7 * losses[0], losses


@pytest.mark.slow
def test_init_from_a_trained_stage(trained, tmp_path, capsys):
    workdir, _ = trained
    train_and_evaluate(tiny_config(arch="fcn16s", total_steps=1, init_from=str(workdir)), tmp_path)
    # 13 convs, fc6, fc7, score_fr, upscore2, score_pool4 are shared by FCN-8s and FCN-16s
    assert "initialised 18 layers from" in capsys.readouterr().out


def test_staged_training_copies_the_previous_stage(trained):
    workdir, _ = trained  # an FCN-8s; initialise an FCN-8s-at-once-like net and an FCN-32s
    source = read_source(workdir)["params"]
    target = jax.eval_shape(
        build("fcn32s", 6, align="same", width=1 / 32).init,
        jax.random.key(0),
        np.zeros((1, 64, 64, 3), np.float32),
    )["params"]
    target = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), target)
    params, copied = transplant(target, source)
    assert "fc7" in copied and "score_fr" in copied and "upscore" not in copied
    np.testing.assert_array_equal(params["fc7"]["kernel"], source["fc7"]["kernel"])
    wrong = {**source, "fc7": {"kernel": np.zeros((1, 1, 2, 2)), "bias": np.zeros(2)}}
    with pytest.raises(ValueError, match="fc7"):
        transplant(target, wrong)


def test_a_workdir_of_another_net_is_refused_by_name(trained, tmp_path):
    workdir, _ = trained
    other = tmp_path / "other"
    shutil.copytree(workdir, other)
    with pytest.raises(CheckpointMismatch, match=r"arch 'fcn8s' \(saved\) vs 'fcn32s'.*init_from"):
        train_and_evaluate(tiny_config(arch="fcn32s", total_steps=6), other)


@pytest.mark.slow
def test_a_non_finite_loss_stops_without_touching_the_checkpoints(trained, tmp_path):
    workdir, _ = trained
    run = tmp_path / "run"
    shutil.copytree(workdir, run)
    before = restore_params(run)
    poisoned = tiny_config(total_steps=6)
    poisoned.loss.class_weights = (float("nan"),) * 6
    with pytest.raises(FloatingPointError, match="step 5: loss nan"):
        train_and_evaluate(poisoned, run)
    assert Checkpoints(run / "checkpoints", read_only=True).steps() == [2, 4]
    jax.tree.map(np.testing.assert_array_equal, restore_params(run), before)
    jax.tree.map(np.testing.assert_array_equal, restore_params(run, "best"), restore_params(run, 4))


@pytest.mark.slow
def test_bfloat16_and_remat_train_the_same_net():
    dataset = open_dataset("synthetic", num_train=4)
    model = build("fcn8s", dataset.num_classes, align="same", width=1 / 32)
    shapes = jax.eval_shape(model.init, jax.random.key(0), np.zeros((1, 64, 64, 3), np.float32))
    tx = make_optimizer(shapes["params"], name="sgd", learning_rate=1e-3, momentum=0.9)
    batch = next(train_batches(dataset.train, batch_size=2, seed=0, mean_rgb=dataset.mean_rgb,
                               num_classes=dataset.num_classes))  # fmt: skip

    def one_step(**options):
        state = init_state(model, tx, (1, 64, 64, 3), 0)
        state, metrics = make_train_step(model, tx, normalize="mean", **options)(state, batch)
        return float(metrics["loss"]), jax.device_get(state.params)

    loss, params = one_step()
    remat_loss, remat_params = one_step(remat=True)
    assert remat_loss == pytest.approx(loss, rel=1e-6)
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-5, atol=1e-7),
                 remat_params, params)  # fmt: skip
    bf16_loss, bf16_params = one_step(dtype="bfloat16")
    assert bf16_loss == pytest.approx(loss, rel=2e-2)  # bfloat16 keeps 8 bits of mantissa
    assert jax.tree.leaves(bf16_params)[0].dtype == np.float32  # master weights stay float32
    with pytest.raises(ValueError, match=r"config.dtype='float16'"):
        make_train_step(model, tx, dtype="float16")


@pytest.mark.slow
def test_a_checkpoint_written_before_model_state_existed_still_resumes(trained, tmp_path):
    from flax import struct

    from fcn_jax.train.loop import optimizer_for
    from fcn_jax.train.spec import model_from
    from fcn_jax.train.step import init_state

    @struct.dataclass
    class EarlierState:  # the train state as checkpoints stored it until batch norm came
        step: object
        params: object
        opt_state: object
        rng: object

    workdir, _ = trained
    old = tmp_path / "old"
    shutil.copytree(workdir, old)
    shutil.rmtree(old / "checkpoints" / "4")
    checkpoints = Checkpoints(old / "checkpoints")
    model, data = checkpoints.model(2), checkpoints.data(2)
    net, shape = model_from(checkpoints.spec(2)), (1, 64, 64, 3)
    tx = optimizer_for(
        tiny_config(),
        net,
        jax.eval_shape(net.init, jax.random.key(0), jax.ShapeDtypeStruct(shape, "float32")),
    )
    template = init_state(net, tx, shape, 0)
    state = checkpoints.restore(2, template)
    checkpoints.close()
    shutil.rmtree(old / "checkpoints" / "2")
    checkpoints = Checkpoints(old / "checkpoints")
    earlier = EarlierState(state.step, state.params, state.opt_state, state.rng)
    checkpoints.save(2, earlier, model, data=data)
    checkpoints.close()
    train_and_evaluate(tiny_config(), old)  # resumes at step 2, replays 3 and 4
    jax.tree.map(np.testing.assert_array_equal, restore_params(old), restore_params(workdir))


@pytest.mark.slow
def test_the_step_updates_donated_weights_where_they_lie():
    """XLA's CPU compiler by default copied every kernel that the backward pass reads before
    updating it in place (537 MB per FCN-8s step, 142 MiB more temporaries at 500x500): the
    compiled step must copy no parameter, and give the values of an undonated step."""
    model = build("fcn8s", 5, width=1 / 8)
    shape = (1, 64, 64, 3)
    shapes = jax.eval_shape(model.init, jax.random.key(0), np.zeros(shape, np.float32))
    tx = make_optimizer(shapes["params"], name="sgd", learning_rate=1e-3, momentum=0.9)
    rng = np.random.default_rng(0)
    batch = {"image": rng.standard_normal(shape, np.float32),
             "label": rng.integers(0, 5, shape[:3]).astype(np.int32)}  # fmt: skip
    step = make_train_step(model, tx)
    state = init_state(model, tx, shape, 0)
    text = step.step.lower(state, batch).compile().as_text()
    kernels = re.findall(r"%(state_params\S*kernel\S*) = \S+ parameter", text)
    assert len(kernels) == sum("kernel" in layer for layer in shapes["params"].values())
    assert not re.findall(r"copy\(%state_params", text)
    expected, _ = jax.jit(step.step.__wrapped__)(state, batch)  # no donation, XLA's defaults
    new, _ = step(state, batch)
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(new.params),
                 jax.device_get(expected.params))  # fmt: skip
