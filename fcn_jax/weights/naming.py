"""Other implementations' parameter names, as the reference Caffe layer names.

Returns ``{caffe layer: (weight, bias)}`` in the source's own layout, for
:func:`fcn_jax.weights.assign.assign`. Unknown keys are errors naming them.
"""

from __future__ import annotations

import re
from collections.abc import Mapping

import numpy as np

from fcn_jax.models.resnet import block_names
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


def resnet_layers(state: Mapping[str, np.ndarray], origin: str) -> dict[str, tuple]:
    """torchvision ``fcn_resnet50/101`` (``backbone.layer3.0.conv2``, ``classifier.4``,
    ``aux_classifier.1``) or ImageNet ``resnet50/101`` keys as our (MSRA Caffe) names; a batch
    norm's blobs are (weight, bias, running_mean, running_var), as Caffe's BatchNorm + Scale."""
    state = {k.removeprefix("backbone."): v for k, v in state.items()
             if not k.endswith("num_batches_tracked")}  # fmt: skip
    counts = {}
    for key in state:
        m = re.match(r"layer(\d)\.(\d+)\.", key)
        if m:
            counts[int(m[1])] = max(counts.get(int(m[1]), 0), int(m[2]) + 1)
    head = {"classifier.0": "head_conv", "classifier.1": "head_bn", "classifier.4": "score_fr",
            "aux_classifier.0": "aux_conv", "aux_classifier.1": "aux_bn",
            "aux_classifier.4": "aux_score", "conv1": "conv1", "bn1": "bn_conv1",
            "fc": "fc1000"}  # fmt: skip

    def rename(module: str) -> str | None:
        if module in head:
            return head[module]
        m = re.fullmatch(r"layer(\d)\.(\d+)\.(conv|bn)(\d)", module) or re.fullmatch(
            r"layer(\d)\.(\d+)\.downsample\.([01])()", module
        )
        if not m:
            return None
        layer = int(m[1])  # torchvision's layerN is stage N + 1
        tag = block_names(layer + 1, counts[layer])[int(m[2])].removeprefix("res")
        if m[4] == "":  # downsample.0 conv, downsample.1 batch norm
            return f"res{tag}_branch1" if m[3] == "0" else f"bn{tag}_branch1"
        branch = "2" + "abc"[int(m[4]) - 1]
        return f"res{tag}_branch{branch}" if m[3] == "conv" else f"bn{tag}_branch{branch}"

    grouped: dict[str, dict[str, np.ndarray]] = {}
    for key, value in state.items():
        module, _, leaf = key.rpartition(".")
        layer = rename(module)
        if layer is None or leaf not in ("weight", "bias", "running_mean", "running_var"):
            raise KeyError(f"{origin}: key {key!r} is not a parameter of a torchvision ResNet FCN")
        grouped.setdefault(layer, {})[leaf] = value
    order = ("weight", "bias", "running_mean", "running_var")
    return {
        layer: tuple(leaves[k] for k in order if k in leaves) for layer, leaves in grouped.items()
    }
