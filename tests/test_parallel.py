"""Data parallelism on 8 simulated CPU devices, and across two processes on 127.0.0.1.

The property users rely on: splitting the global batch over devices or processes changes
nothing but float round-off; the parameters after a few steps equal single-device training on
the same global batch (dropout and loss sampling included).
"""

import shutil
import socket
import subprocess

import jax
import numpy as np
import pytest
from tiny_run import fcn_jax, tiny_config, tiny_flags

from fcn_jax.data.datasets import open_dataset
from fcn_jax.data.stream import train_batches
from fcn_jax.models import build
from fcn_jax.train.checkpoint import Checkpoints, restore_params
from fcn_jax.train.loop import train_and_evaluate
from fcn_jax.train.optim import make_optimizer
from fcn_jax.train.parallel import data_parallel
from fcn_jax.train.step import init_state, make_train_step

SHAPE = (1, 64, 64, 3)


def train_three_steps(mode: str, devices: int, normalize: str) -> dict:
    dataset = open_dataset("synthetic", num_train=16)
    model = build("fcn8s", dataset.num_classes, align="same", width=1 / 32)
    shapes = jax.eval_shape(model.init, jax.random.key(0), np.zeros(SHAPE, np.float32))
    rate = 1e-3 if normalize == "mean" else 1e-3 / 64**2  # a summed loss is 64x64 times larger
    tx = make_optimizer(shapes["params"], name="sgd", learning_rate=rate, momentum=0.9)
    parallel = data_parallel(mode, devices, batch_size=8)
    step = make_train_step(model, tx, normalize=normalize, keep_rate=0.5, parallel=parallel)
    state = parallel.place_state(init_state(model, tx, SHAPE, seed=0))
    batches = train_batches(
        dataset.train,
        batch_size=8,
        seed=0,
        mean_rgb=dataset.mean_rgb,
        num_classes=dataset.num_classes,
    )
    for _ in range(3):
        state, _ = step(state, parallel.place_batch(next(batches)))
    return jax.device_get(parallel.canonical(state).params)


@pytest.mark.slow
@pytest.mark.parametrize("normalize", ["mean", "sum"])
def test_sharding_and_pmap_equal_one_device(normalize):
    one = train_three_steps("sharding", 1, normalize)
    for mode in ("sharding", "pmap"):
        many = train_three_steps(mode, 8, normalize)
        jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), many, one)


def test_the_batch_is_split_across_devices():
    parallel = data_parallel("sharding", 0, batch_size=8)
    placed = parallel.place_batch({"image": np.zeros((8, 4, 4, 3), np.float32)})
    assert len(placed["image"].sharding.device_set) == 8
    assert placed["image"].sharding.shard_shape((8, 4, 4, 3)) == (1, 4, 4, 3)
    assert data_parallel("sharding", 0, batch_size=6).mesh.devices.size == 6
    with pytest.raises(ValueError, match="batch_size=6 does not split over 4 devices"):
        data_parallel("sharding", 4, batch_size=6)
    with pytest.raises(ValueError, match=r"config.parallel='spmd'"):
        data_parallel("spmd")


@pytest.mark.parametrize(("saved_on", "restored_on"), [(8, 1), (1, 8)])
def test_a_checkpoint_moves_between_device_counts(tmp_path, saved_on, restored_on):
    rng = np.random.default_rng(0)
    state = {"w": rng.normal(size=(16, 8)).astype(np.float32), "b": np.arange(3.0)}
    source = data_parallel("sharding", saved_on, batch_size=8)
    checkpoints = Checkpoints(tmp_path)
    checkpoints.save(1, jax.device_put(state, source.replicated), {"arch": "x"})
    checkpoints.close()
    target = data_parallel("sharding", restored_on, batch_size=8)
    abstract = jax.device_put(jax.tree.map(np.zeros_like, state), target.replicated)
    restored = Checkpoints(tmp_path, read_only=True).restore(1, abstract)
    assert restored["w"].sharding.device_set == set(target.mesh.devices.flat)
    jax.tree.map(np.testing.assert_array_equal, jax.device_get(restored), state)


@pytest.mark.slow
def test_a_run_resumes_on_another_number_of_devices(trained, tmp_path):
    workdir, _ = trained  # trained with batch 2 on 2 of the 8 devices; go on with 1
    run = tmp_path / "run"
    shutil.copytree(workdir, run)
    train_and_evaluate(tiny_config(total_steps=5, num_devices=1), run)
    assert Checkpoints(run / "checkpoints", read_only=True).steps()[-1] == 5


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_two_processes_train_like_one(tmp_path):
    # Two processes of one CPU device each share a global batch of 4 whose images have
    # different sizes, so they must agree on one padded shape every step. They keep freed
    # memory (released as the shape changes: fcn_jax/allocator.py), the single process does
    # not, and that changes no number.
    flags = tiny_flags(batch_size=4, total_steps=3, eval_every=3, image_sizes=(64, 96))
    address = f"127.0.0.1:{free_port()}"
    workers = [
        fcn_jax(
            "train",
            "--workdir",
            str(tmp_path / "two"),
            "--coordinator",
            address,
            "--num-processes",
            "2",
            "--process-id",
            str(i),
            *flags,
            "--config.keep_freed_memory=on",
            devices=1,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
        )
        for i in (0, 1)
    ]
    outputs = [w.communicate(timeout=600)[0] for w in workers]
    assert [w.returncode for w in workers] == [0, 0], outputs
    one = fcn_jax("train", "--workdir", str(tmp_path / "one"), *flags, devices=1)
    assert one.wait(timeout=600) == 0
    two, single = restore_params(tmp_path / "two"), restore_params(tmp_path / "one")
    jax.tree.map(lambda a, b: np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-6), two, single)
    assert (tmp_path / "two" / "metrics.jsonl").exists()
