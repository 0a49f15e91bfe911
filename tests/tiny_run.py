"""The tiny training run the end-to-end tests share: a width-1/32 FCN-8s, 64x64 synthetic
images, batch 2, four steps; as a config for the library and as flags for the command line."""

import os
import subprocess
import sys

from fcn_jax.default_config import get_config

TINY = {
    "width": 1 / 32,
    "num_train": 16,
    "num_val": 3,
    "image_sizes": (64,),  # one shape: one compilation of each step
    "batch_size": 2,
    "total_steps": 4,
    "eval_every": 2,
    "checkpoint_every": 2,
    "log_every": 1,
    "num_tiles": 2,
}


def tiny_config(**overrides):
    config = get_config()
    config.update({**TINY, **overrides})
    return config


def tiny_flags(**overrides) -> list[str]:
    """``--config.FIELD=VALUE`` flags giving :func:`tiny_config` to ``fcn-jax train``."""
    return [f"--config.{k}={v!r}" for k, v in {**TINY, **overrides}.items()]


def fcn_jax(*args: str, devices: int = 8, **popen) -> subprocess.Popen:
    """``fcn-jax ARGS`` in a new process with ``devices`` simulated CPU devices (and the
    tests' other XLA flags)."""
    count = "--xla_force_host_platform_device_count"
    others = [f for f in os.environ.get("XLA_FLAGS", "").split() if not f.startswith(count)]
    env = {**os.environ, "XLA_FLAGS": " ".join([*others, f"{count}={devices}"])}
    command = [sys.executable, "-m", "fcn_jax.cli", *args]
    return subprocess.Popen(command, env=env, text=True, **popen)
