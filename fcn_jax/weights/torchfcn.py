"""Import a state dict of the community PyTorch port (torchfcn) or any torch FCN with the
reference layer names: ``conv1_1.weight`` ... ``score_fr.bias``, ``upscore*.weight``.

Conv weights arrive as (out, in/groups, kh, kw) and become (kh, kw, in/groups, out);
transposed-conv weights arrive as (in, out, kh, kw) and become (kh, kw, in, out).
"""

from __future__ import annotations

import math
from collections.abc import Mapping

import numpy as np

from fcn_jax.weights.assign import to_numpy
from fcn_jax.weights.importers import import_layers
from fcn_jax.weights.naming import torchfcn_layers
from fcn_jax.weights.surgery import convolutionalize


def from_torchfcn(state: Mapping, arch: str, *, strict: bool = True, **options) -> dict:
    """Params for ``build(arch, ...)`` from a torchfcn-style state dict of arrays or tensors.

    ``num_classes`` and ``width`` are read off the state dict unless given in ``options``
    (as :func:`fcn_jax.weights.importers.import_layers`). Every layer the net needs must be
    present with its shapes; with ``strict`` (default) an unexpected layer is an error too.
    Errors name the layer and the shapes. The params serve either alignment.
    """
    origin = "torchfcn state dict"
    found = torchfcn_layers({k: to_numpy(v) for k, v in state.items()}, origin)
    return import_layers(found, arch, origin, strict=strict, **options).params


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
        value = to_numpy(raw)
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
