"""JAX and PyTorch share one accelerator in these runs, so JAX is told not to take 75% of its
memory up front (no effect on a CPU); set ``XLA_PYTHON_CLIENT_PREALLOCATE`` yourself to
override."""

from __future__ import annotations

import os

VARIABLE = "XLA_PYTHON_CLIENT_PREALLOCATE"


def share_the_accelerator() -> None:
    """Turn JAX's preallocation off unless the caller set it. JAX reads the variable when its
    GPU backend starts (the first computation or device query, not ``import jax``), so each
    entry point calls this first thing in ``main`` and in its worker processes; spawned
    workers and subprocesses inherit it."""
    os.environ.setdefault(VARIABLE, "false")
