"""Test set-up: 8 simulated CPU devices, set before jax is imported anywhere."""

import os

flag = "--xla_force_host_platform_device_count=8"
if flag not in os.environ.get("XLA_FLAGS", ""):
    os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
os.environ.setdefault("JAX_PLATFORMS", "cpu")


import pytest  # noqa: E402


@pytest.fixture(scope="session")
def trained(tmp_path_factory):
    """(workdir, final scores) of the tiny run, trained once for every test that reads it."""
    from tiny_run import tiny_config

    from fcn_jax.train import train_and_evaluate

    workdir = tmp_path_factory.mktemp("run")
    return workdir, train_and_evaluate(tiny_config(), workdir)
