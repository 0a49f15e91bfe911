"""Import a state dict of the community PyTorch port (torchfcn) or any torch FCN with the
reference layer names: ``conv1_1.weight`` ... ``score_fr.bias``, ``upscore*.weight``.

Conv weights arrive as (out, in/groups, kh, kw) and become (kh, kw, in/groups, out);
transposed-conv weights arrive as (in, out, kh, kw) and become (kh, kw, in, out).
"""

from __future__ import annotations

from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from fcn_jax.layers import Deconv
from fcn_jax.models import build


def _to_numpy(value) -> np.ndarray:
    if hasattr(value, "detach"):  # a torch tensor
        value = value.detach().cpu().numpy()
    return np.asarray(value, dtype=np.float32)


def infer_options(state: Mapping, arch: str) -> dict:
    """``num_classes`` and ``width`` of the net a state dict belongs to."""
    if "score_fr.weight" not in state:
        raise KeyError("state dict has no 'score_fr.weight': not an FCN state dict")
    first, base = ("conv1.weight", 96) if arch == "fcn-alexnet" else ("conv1_1.weight", 64)
    if first not in state:
        raise KeyError(f"state dict has no {first!r}: not a {arch} state dict")
    return {
        "num_classes": int(np.shape(state["score_fr.weight"])[0]),
        "width": np.shape(state[first])[0] / base,
    }


def from_torchfcn(state: Mapping, arch: str, *, strict: bool = True, **options) -> dict:
    """Params for ``build(arch, ...)`` from a torchfcn-style state dict of arrays or tensors.

    ``num_classes`` and ``width`` are read off the state dict unless given in ``options``.
    Every expected key must be present with the expected shape; with ``strict`` (default) an
    unexpected key is an error too. Errors name the key. The params serve either alignment.
    """
    options = {**infer_options(state, arch), **options}
    num_classes = options.pop("num_classes")
    module = build(arch, num_classes, **options)
    kinds: dict[str, type] = {}

    def record(name, layer, trace, shape):
        del trace, shape
        kinds[name] = type(layer)

    x = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)
    expected = jax.eval_shape(lambda x: module.init(jax.random.key(0), x, record=record), x)
    expected = expected["params"]

    params: dict[str, dict[str, np.ndarray]] = {}
    used = set()
    for layer, leaves in expected.items():
        params[layer] = {}
        for leaf, spec in leaves.items():
            key = f"{layer}.{'weight' if leaf == 'kernel' else 'bias'}"
            if key not in state:
                raise KeyError(f"state dict is missing {key!r} (needed by {arch})")
            value = _to_numpy(state[key])
            if leaf == "kernel":
                if value.ndim != 4:
                    raise ValueError(f"{key}: expected a 4-d weight, got shape {value.shape}")
                order = (2, 3, 0, 1) if kinds[layer] is Deconv else (2, 3, 1, 0)
                value = value.transpose(order)
            if value.shape != spec.shape:
                raise ValueError(
                    f"{key}: shape {np.shape(state[key])} does not fit {arch} "
                    f"(converted {value.shape}, expected {spec.shape})"
                )
            params[layer][leaf] = np.ascontiguousarray(value)
            used.add(key)
    extra = sorted(set(state) - used)
    if strict and extra:
        raise KeyError(f"state dict has keys {arch} does not use: {', '.join(extra)}")
    return params
