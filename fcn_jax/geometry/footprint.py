"""The autodiff check of the geometry: measure which input pixels one output unit depends on.

The net is made linear and positive for the measurement: every kernel is set to 1 / its fan-in
(positive, and a pull-back keeps its size through 100 layers), every other parameter to 1;
ReLU, LRN, batch norm and dropout become the identity, max pooling sum pooling over the same
windows, as each layer class declares in its ``linear_stand_in`` (through
:func:`flax.linen.intercept_methods`, so the model code is the one users run). A
cotangent of ones on all channels of a unit, pulled back with :func:`jax.vjp`, is then strictly
positive on every input pixel the unit can see and exactly zero elsewhere: its support.
"""

from __future__ import annotations

from dataclasses import dataclass

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from fcn_jax.geometry import Trace


def _linearize(next_fun, args, kwargs, context):
    """A layer's linear stand-in, as its class declares it (``linear_stand_in``): "identity"
    (ReLU, LRN, batch norm, dropout), or "sum_pool" (max pooling: the same windows summed,
    through the layer's own ``reduce``); any other module runs as it is."""
    stand_in = getattr(type(context.module), "linear_stand_in", None)
    if context.method_name == "__call__" and stand_in == "identity":
        return args[0]
    if context.method_name == "__call__" and stand_in == "sum_pool":
        return context.module.reduce(args[0], 0.0, jax.lax.add)
    return next_fun(*args, **kwargs)


Probe = tuple[str, tuple[int, int]]  # (layer name or 'output', unit (i, j))


def measure_supports(
    module: nn.Module, height: int, width: int, probes: list[Probe], channels: int = 3
) -> np.ndarray:
    """Boolean (len(probes), height, width) masks of the input pixels each probed unit sees.

    A probe is ``(layer, (i, j))``: unit (i, j) of the layer so named, or of the module's
    result for ``'output'``. All probes are measured by one compiled program. A module with a
    ``kernels`` policy is measured on its plain XLA path: under ``"auto"`` the zero-margin
    framing calls a leading layer several times (window, margin), so its first captured call
    is not its whole canvas; the function, and so every support, is the same.
    """
    if getattr(module, "kernels", "xla") != "xla":
        module = module.clone(kernels="xla")
    x = jnp.zeros((1, height, width, channels), jnp.float32)
    variables = jax.eval_shape(module.init, jax.random.key(0), x)

    def positive(path, p):
        fan_in = int(np.prod(p.shape[:-1])) if path[-1].key == "kernel" else 1
        return jnp.full(p.shape, 1 / fan_in, p.dtype)

    ones = jax.tree_util.tree_map_with_path(positive, variables)
    names = sorted({layer for layer, _ in probes})

    def forward(x):
        with nn.intercept_methods(_linearize):
            out, state = module.apply(
                ones,
                x,
                capture_intermediates=lambda mdl, method: mdl.name in names,
                mutable=["intermediates"],
            )
        found = {"output": out, **state.get("intermediates", {})}
        return [found[n] if n == "output" else found[n]["__call__"][0] for n in names]

    @jax.jit
    def pull_back(which, rows, cols):
        outs, pull = jax.vjp(forward, x)

        def one(w, i, j):
            hot = [
                # every channel of the unit: a concatenation's channels (an inception
                # module's branches) see different extents; the unit sees their union
                jnp.zeros_like(o).at[0, i, j, :].set(jnp.where(w == n, 1.0, 0.0))
                for n, o in enumerate(outs)
            ]
            return pull(hot)[0][0]

        return jax.vmap(one)(which, rows, cols)

    which = jnp.array([names.index(layer) for layer, _ in probes], jnp.int32)
    rows = jnp.array([unit[0] for _, unit in probes], jnp.int32)
    cols = jnp.array([unit[1] for _, unit in probes], jnp.int32)
    grads = np.asarray(pull_back(which, rows, cols))
    if not np.all(np.isfinite(grads)):
        raise FloatingPointError("support measurement overflowed; use a narrower net")
    return np.any(grads != 0, axis=-1)


@dataclass(frozen=True)
class Check:
    """One unit's predicted box against its measured support."""

    layer: str
    unit: tuple[int, int]
    predicted: tuple[tuple[int, int], tuple[int, int]] | None
    measured: tuple[tuple[int, int], tuple[int, int]] | None
    is_box: bool  # the measured support fills its bounding box

    @property
    def same_extent(self) -> bool:
        """The measured support's bounding box is the predicted box."""
        return self.predicted == self.measured

    @property
    def ok(self) -> bool:
        """Same extent, and no holes inside it (holes appear only where a kernel is smaller
        than its stride, which no FCN layer is)."""
        return self.is_box and self.same_extent


def bounding_box(mask: np.ndarray) -> tuple[tuple[int, int], tuple[int, int]] | None:
    rows, cols = np.flatnonzero(mask.any(axis=1)), np.flatnonzero(mask.any(axis=0))
    if rows.size == 0:
        return None
    return (int(rows[0]), int(rows[-1])), (int(cols[0]), int(cols[-1]))


def check_units(
    module: nn.Module, found: dict[str, Trace], height: int, width: int, probes: list[Probe]
) -> list[Check]:
    """Compare each probed unit's box in ``found`` (traces by layer name; the output's under
    ``'output'``) with the autodiff measurement."""
    checks = []
    masks = measure_supports(module, height, width, probes)
    for (layer, unit), mask in zip(probes, masks, strict=True):
        box = bounding_box(mask)
        filled = box is None or bool(
            mask[box[0][0] : box[0][1] + 1, box[1][0] : box[1][1] + 1].all()
        )
        checks.append(Check(layer, unit, found[layer].box(*unit), box, filled))
    return checks


def probe_units(trace: Trace) -> list[tuple[int, int]]:
    """Units worth checking: the four corners and the centre."""
    h, w = trace.size
    return sorted({(0, 0), (0, w - 1), (h - 1, 0), (h - 1, w - 1), (h // 2, w // 2)})
