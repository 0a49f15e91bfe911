"""Test set-up, before jax is imported anywhere: 8 simulated CPU devices, and XLA's CPU code
generated without LLVM's optimisation passes. The tests check values, not speed, and most of
their time is compilation: on three of the slowest tests (late fusion, bfloat16 + remat,
full-width weights) 89.8 s with the passes against 65.4 s without."""

import os

FLAGS = (
    "--xla_force_host_platform_device_count=8",
    "--xla_backend_optimization_level=0",
    "--xla_llvm_disable_expensive_passes=true",
)
for flag in FLAGS:
    if flag.split("=")[0] not in os.environ.get("XLA_FLAGS", ""):
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """(workdir, final scores) of the tiny run, trained once for every test that reads it."""
    from tiny_run import tiny_config

    from fcn_jax.train.loop import train_and_evaluate

    workdir = tmp_path_factory.mktemp("run")
    return workdir, train_and_evaluate(tiny_config(), workdir)


@pytest.fixture(scope="session")
def weights(tmp_path_factory):
    """A converted-weights directory (``fcn-jax convert``'s DIR) of a tiny FCN-32s with zero
    weights: for what predict does with files, not for its values."""
    import jax
    import numpy as np

    from fcn_jax.data.preprocessing import CAFFE_ILSVRC
    from fcn_jax.models import build
    from fcn_jax.weights import save_bundle

    model = build("fcn32s", 3, width=1 / 32)
    shapes = jax.eval_shape(model.init, jax.random.key(0), np.zeros((1, 64, 64, 3), np.float32))
    params = jax.tree.map(lambda s: np.zeros(s.shape, s.dtype), shapes["params"])
    meta = {"arch": "fcn32s", "num_classes": 3, "width": 1 / 32, "preprocessing": CAFFE_ILSVRC}
    return save_bundle(tmp_path_factory.mktemp("w"), params, meta)
