"""Other implementations' parameter names, as the reference Caffe layer names.

Returns ``{caffe layer: (weight, bias)}`` in the source's own layout, for
:func:`fcn_jax.weights.assign.assign`. Unknown keys are errors naming them.
"""

from __future__ import annotations

from collections.abc import Mapping

import numpy as np

from fcn_jax.models.vgg import BLOCKS


def _vgg16_features() -> dict[int, str]:
    """torchvision/timm ``features`` indices of VGG16's convolutions (a ReLU after each conv,
    a pool after each block)."""
    names, index = {}, 0
    for block, (convs, _) in enumerate(BLOCKS, start=1):
        for i in range(1, convs + 1):
            names[index] = f"conv{block}_{i}"
            index += 2
        index += 1
    return names


VGG16_FEATURES = _vgg16_features()
TORCHVISION_VGG16_HEAD = {"classifier.0": "fc6", "classifier.3": "fc7", "classifier.6": "fc8"}
TIMM_VGG16_HEAD = {"pre_logits.fc1": "fc6", "pre_logits.fc2": "fc7", "head.fc": "fc8"}


def by_layer(state: Mapping[str, np.ndarray], rename, origin: str) -> dict[str, tuple]:
    """Group ``<module>.weight``/``<module>.bias`` keys by layer, renamed by ``rename``
    (module -> caffe name or None for an unknown module)."""
    grouped: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        layer = rename(module) if leaf in ("weight", "bias") else None
        if layer is None:
            raise KeyError(f"{origin}: key {key!r} is not a parameter of this format")
        grouped.setdefault(layer, {})[leaf] = value
    result = {}
    for layer, leaves in grouped.items():
        if "weight" not in leaves:
            raise KeyError(f"{origin}: layer {layer!r} has a bias but no weight")
        result[layer] = tuple(leaves[k] for k in ("weight", "bias") if k in leaves)
    return result


def torchfcn_layers(state: Mapping[str, np.ndarray], origin: str) -> dict[str, tuple]:
    """torchfcn (and our ``.npz`` exports) already use the Caffe names."""
    return by_layer(state, lambda module: module or None, origin)


def vgg16_layers(state: Mapping[str, np.ndarray], origin: str) -> dict[str, tuple]:
    """torchvision ``vgg16`` (``features.N``, ``classifier.N``) or timm ``vgg16``
    (``features.N``, ``pre_logits.fc1/fc2``, ``head.fc``) keys as Caffe names."""
    if any(k.endswith("running_mean") for k in state):
        raise KeyError(f"{origin}: a batch-norm VGG (vgg16_bn) has no reference FCN counterpart")
    head = {**TORCHVISION_VGG16_HEAD, **TIMM_VGG16_HEAD}

    def rename(module: str) -> str | None:
        prefix, _, index = module.partition(".")
        if prefix == "features" and index.isdigit():
            return VGG16_FEATURES.get(int(index))
        return head.get(module)

    return by_layer(state, rename, origin)
