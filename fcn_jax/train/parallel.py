"""Data parallelism: a ('data',) mesh over every device of every process.

Two ways to run the same step on it: ``'sharding'`` (``jax.jit`` with the batch split by a
``NamedSharding`` and the state replicated; XLA inserts the all-reduce) and ``'pmap'`` (the step
under ``jax.pmap``, gradients and loss sums added with ``psum``). Across hosts, JAX's own
runtime (``jax.distributed``) joins the processes; each process feeds its own part of the global
batch and the mesh spans every process's devices.

The canonical form of a train state is replicated on the mesh (``NamedSharding(mesh, P())``):
that is what checkpoints hold, so a state saved on 8 devices restores on 1 and back.

The choice between the two is made here only: :func:`compile_step` compiles a step function
either way, :func:`collective_axis` tells the step which axis to sum over, and
:class:`DataParallel` places states and batches in the step's form.
"""

from __future__ import annotations

import os
from collections.abc import Callable
from dataclasses import dataclass

import jax
import numpy as np
from jax.experimental import multihost_utils
from jax.sharding import Mesh, NamedSharding
from jax.sharding import PartitionSpec as P

from fcn_jax.data.batching import pad_to

MODES = ("sharding", "pmap")
AXIS = "data"


def start_distributed(
    coordinator: str | None = None, num_processes: int | None = None, process_id: int | None = None
) -> None:
    """Join a multi-process run through ``jax.distributed.initialize``: with no arguments it
    reads the environment (``JAX_COORDINATOR_ADDRESS``, ``JAX_NUM_PROCESSES``,
    ``JAX_PROCESS_ID``, or a cluster such as SLURM). CPU collectives go through gloo."""
    jax.config.update("jax_cpu_collectives_implementation", "gloo")
    jax.distributed.initialize(
        coordinator_address=coordinator, num_processes=num_processes, process_id=process_id
    )


def wants_distributed(coordinator, num_processes, process_id) -> bool:
    """Whether the command line or the environment asks for a multi-process run."""
    given = (coordinator, num_processes, process_id)
    return any(v is not None for v in given) or "JAX_COORDINATOR_ADDRESS" in os.environ


@dataclass(frozen=True)
class DataParallel:
    """How a train step is spread over ``mesh``: ``mode`` is 'sharding' or 'pmap'."""

    mode: str
    mesh: Mesh

    @property
    def replicated(self) -> NamedSharding:
        return NamedSharding(self.mesh, P())

    @property
    def local_devices(self) -> list:
        return [d for d in self.mesh.devices.flat if d.process_index == jax.process_index()]

    def place_state(self, state):
        """The step's form of a state: replicated on the mesh, or stacked over the local
        devices for pmap (one copy each)."""
        if self.mode == "sharding":
            return jax.device_put(state, self.replicated)
        n = len(self.local_devices)
        return jax.tree.map(lambda x: np.stack([_host_copy(x)] * n), state)

    def canonical(self, state):
        """A state in the step's form, replicated on the mesh (what checkpoints hold)."""
        if self.mode == "sharding":
            return state

        def unstack(x):
            copies = [s.data.reshape(x.shape[1:]) for s in x.addressable_shards]
            return jax.make_array_from_single_device_arrays(x.shape[1:], self.replicated, copies)

        return jax.tree.map(unstack, state)

    def place_batch(self, local: dict) -> dict:
        """This process's part of the global batch, placed for the step: split along the
        'data' axis (process p holds the p-th block of rows), or reshaped to
        (local devices, rows per device, ...) for pmap."""
        if self.mode == "sharding":
            split = NamedSharding(self.mesh, P(AXIS))
            return {
                k: jax.make_array_from_process_local_data(split, np.asarray(v))
                for k, v in local.items()
            }
        n = len(self.local_devices)
        return {k: np.asarray(v).reshape(n, -1, *np.shape(v)[1:]) for k, v in local.items()}


def data_parallel(
    mode: str = "sharding", num_devices: int = 0, batch_size: int = 0
) -> DataParallel:
    """A ``DataParallel`` for a global batch of ``batch_size``: over the first ``num_devices``
    devices (one process only), or with ``num_devices`` 0 over as many as divide the batch
    (every device of every process when there are several processes)."""
    if mode not in MODES:
        raise ValueError(f"config.parallel={mode!r}: use one of {', '.join(MODES)}")
    devices = jax.devices()
    if jax.process_count() > 1:
        if num_devices:
            raise ValueError("config.num_devices must be 0 (all devices) with several processes")
        num_devices = len(devices)
    elif not num_devices:
        num_devices = max(n for n in range(1, len(devices) + 1) if batch_size % n == 0)
    if not 0 < num_devices <= len(devices):
        raise ValueError(f"config.num_devices={num_devices}: {len(devices)} devices here")
    if batch_size % num_devices:
        raise ValueError(
            f"config.batch_size={batch_size} does not split over {num_devices} devices "
            f"({jax.process_count()} processes); use a multiple of {num_devices}"
        )
    return DataParallel(mode, Mesh(np.array(devices[:num_devices]), (AXIS,)))


def collective_axis(parallel: DataParallel | None) -> str | None:
    """The axis a step sums its gradients and counts over: ``AXIS`` under pmap; None under
    jit, where the batch is one array and XLA inserts the all-reduce."""
    return AXIS if parallel is not None and parallel.mode == "pmap" else None


def compile_step(
    step: Callable, parallel: DataParallel | None = None, compiler_options: dict | None = None
) -> CompiledStep:
    """``step(state, batch) -> (state, metrics)`` compiled, donating the state: jitted (with
    ``parallel`` in 'sharding' mode, its output replicated on the mesh), or in 'pmap' mode
    mapped over this process's devices with axis ``AXIS``."""
    if parallel is not None and parallel.mode == "pmap":
        mapped = jax.pmap(step, axis_name=AXIS, donate_argnums=0, devices=parallel.local_devices)
        return CompiledStep(mapped, pmapped=True)
    shardings = {} if parallel is None else {"out_shardings": parallel.replicated}
    jitted = jax.jit(step, donate_argnums=0, compiler_options=compiler_options, **shardings)
    return CompiledStep(jitted, pmapped=False)


class CompiledStep:
    """A compiled train step (``.step``) and how many times it compiled (one per batch shape);
    a pmapped step's metrics come back as one copy."""

    def __init__(self, step, pmapped: bool):
        self.step, self.pmapped, self.shapes = step, pmapped, set()

    def __call__(self, state, batch):
        if self.pmapped:  # jit counts its own compilations
            self.shapes.add(tuple(np.shape(v) for v in jax.tree.leaves(batch)))
        state, metrics = self.step(state, batch)
        return state, (jax.tree.map(lambda m: m[0], metrics) if self.pmapped else metrics)

    def compilations(self) -> int:
        return len(self.shapes) if self.pmapped else self.step._cache_size()


def pad_to_largest(local: dict) -> dict:
    """This process's part of the batch padded to the largest part's height and width, as
    every process must feed the same shape (itself with one process)."""
    if jax.process_count() == 1:
        return local
    return pad_to(local, *max_over_processes(local["image"].shape[1:3]))


def local_copy(tree):
    """A replicated pytree as arrays on this process's first device (for evaluation)."""
    return jax.tree.map(lambda x: x.addressable_data(0) if isinstance(x, jax.Array) else x, tree)


def _host_copy(x) -> np.ndarray:
    return np.asarray(x.addressable_data(0) if isinstance(x, jax.Array) else x)


def sum_over_processes(values: list[np.ndarray]) -> list[np.ndarray]:
    """Each array summed over every process (identity with one process)."""
    if jax.process_count() == 1:
        return values
    return [np.asarray(multihost_utils.process_allgather(v)).sum(axis=0) for v in values]


def max_over_processes(values: np.ndarray) -> np.ndarray:
    """Elementwise maximum over every process (identity with one process)."""
    if jax.process_count() == 1:
        return np.asarray(values)
    return np.asarray(multihost_utils.process_allgather(np.asarray(values))).max(axis=0)
