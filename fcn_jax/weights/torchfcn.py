"""Import a state dict of the community PyTorch port (torchfcn) or any torch FCN with the
reference layer names: ``conv1_1.weight`` ... ``score_fr.bias``, ``upscore*.weight``.

Conv weights arrive as (out, in/groups, kh, kw) and become (kh, kw, in/groups, out);
transposed-conv weights arrive as (in, out, kh, kw) and become (kh, kw, in, out).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import jax
import jax.numpy as jnp
import numpy as np

from fcn_jax.layers import Deconv
from fcn_jax.models import build, layer_types
from fcn_jax.surgery import convolutionalize


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
    kinds = layer_types(module)
    x = jax.ShapeDtypeStruct((1, 64, 64, 3), jnp.float32)
    expected = jax.eval_shape(module.init, jax.random.key(0), x)["params"]

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


def state_to_params(state: Mapping) -> dict:
    """Params from any state dict with the reference layer names, without knowing the arch.

    4-d weights are convs (deconvs for ``upscore*``); 2-d weights are a classifier's fully
    connected layers (VGG16/AlexNet ``fc6``, ``fc7``, ...), convolutionalized on the spatial
    size implied by the previous layer's channels (key order must follow the net).
    """
    params: dict[str, dict[str, np.ndarray]] = {}
    channels = None
    for key, raw in state.items():
        layer, _, kind = key.rpartition(".")
        if kind not in ("weight", "bias") or not layer:
            raise KeyError(f"{key!r} is not a '<layer>.weight' or '<layer>.bias' key")
        value = _to_numpy(raw)
        if kind == "bias":
            params.setdefault(layer, {})["bias"] = value
            continue
        if value.ndim == 4:
            deconv = layer.startswith("upscore")
            kernel = value.transpose((2, 3, 0, 1) if deconv else (2, 3, 1, 0))
        elif value.ndim == 2:
            side = math.isqrt(value.shape[1] // channels) if channels else 0
            if not side or channels * side * side != value.shape[1]:
                raise ValueError(
                    f"{key}: cannot tell the spatial size of a {value.shape[1]}-input fully "
                    f"connected layer after a {channels}-channel layer"
                )
            kernel = convolutionalize(value, (channels, side, side))
        else:
            raise ValueError(f"{key}: expected a 2-d or 4-d weight, got shape {value.shape}")
        params.setdefault(layer, {})["kernel"] = np.ascontiguousarray(kernel)
        channels = kernel.shape[-1]
    return params
