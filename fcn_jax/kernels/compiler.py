"""Compiler options a jitted training step is built with, per backend."""

from __future__ import annotations

# XLA's CPU compiler, by default, copies every donated parameter that the backward pass reads
# (the kernels: 537 MB for FCN-8s) before the in-place update, as its default copy insertion
# cannot tell that the update comes after the last read; region analysis can.
CPU_STEP_OPTIONS = {"xla_cpu_copy_insertion_use_region_analysis": True}


def step_options(backend: str) -> dict | None:
    """The ``compiler_options`` of a jitted training step on ``backend`` ("cpu", "gpu", ...)."""
    return dict(CPU_STEP_OPTIONS) if backend == "cpu" else None
