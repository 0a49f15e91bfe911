"""Placing weights held in Caffe/torch layout into our params, checked against the net.

Every importer reduces its file to ``{layer: (weight, bias?)}`` with the reference layer names
and the source's layout, and :func:`assign` does the rest: it asks the net (by an abstract
``init``) for each layer's expected shapes and kind, converts the layout, convolutionalizes fully
connected weights on the kernel the net expects, and names the layer and both shapes when
anything does not fit. A layer the net has and the source lacks is an error unless it is
``fresh`` (kept at its initialisation: the new score layers of a classifier made an FCN).
"""

from __future__ import annotations

from collections.abc import Collection, Mapping, Sequence
from typing import NamedTuple

import jax
import jax.numpy as jnp
import numpy as np

from fcn_jax.models import input_channels, layer_types
from fcn_jax.models.layers import Deconv
from fcn_jax.weights.bundle import unflatten
from fcn_jax.weights.surgery import convolutionalize


class Assigned(NamedTuple):
    """Imported params (and batch statistics) and what happened to each layer."""

    params: dict
    copied: list[str]  # layers taken from the source
    fresh: list[str]  # layers left at their initialisation
    unused: list[str]  # source layers the net has no place for
    batch_stats: dict  # running mean and variance of batch-norm layers ({} if none)


def abstract_variables(module) -> dict:
    """The shapes of ``module``'s variables, without computing anything."""
    x = jax.ShapeDtypeStruct((1, 256, 256, input_channels(module)), jnp.float32)  # fits every net
    return jax.eval_shape(module.init, jax.random.key(0), x)


def abstract_params(module) -> dict:
    """The shapes of ``module``'s params, without computing anything."""
    return abstract_variables(module)["params"]


def batch_norm(blobs: list[np.ndarray], want: dict, where: str):
    """A batch norm's (weight, bias, running mean, running variance): params and statistics."""
    if len(blobs) != 4:
        raise KeyError(f"{where}: a batch norm needs weight, bias, running mean and variance; "
                       f"got {len(blobs)} blob(s)")  # fmt: skip
    values = [b.reshape(-1) for b in blobs]
    for value, name in zip(values, ("weight", "bias", "running_mean", "running_var"), strict=True):
        if value.shape != want["scale"].shape:
            raise ValueError(f"{where} {name} of shape {value.shape} does not fit: the net "
                             f"expects {want['scale'].shape}")  # fmt: skip
    scale, bias, mean, var = values
    return {"scale": scale, "bias": bias}, {"mean": mean, "var": var}


def outputs_of(weight) -> int:
    """The output channels of a layer's weight: (out, ...) in Caffe and torch layouts; a legacy
    Caffe InnerProduct blob is (1, 1, out, in)."""
    shape = np.shape(weight)
    return int(shape[2] if len(shape) == 4 and shape[:2] == (1, 1) and shape[2] > 1 else shape[0])


def to_numpy(value) -> np.ndarray:
    """A float32 array from a numpy array or a torch tensor."""
    if hasattr(value, "detach"):
        value = value.detach().cpu().float().numpy()
    return np.asarray(value, dtype=np.float32)


def kernel_from(weight: np.ndarray, deconv: bool, want: tuple[int, ...], where: str):
    """A (kh, kw, in, out) kernel from a source weight: (out, in, kh, kw) for a conv, (in, out,
    kh, kw) for a deconv, (out, in*kh*kw) for a fully connected layer (Caffe's legacy blobs
    carry it as (1, 1, out, in))."""
    kh, kw, cin, out = want
    if weight.ndim == 4 and weight.shape == (1, 1, out, cin * kh * kw):
        weight = weight[0, 0]  # a legacy InnerProduct blob (for a 1x1 layer with one input and
        # output channel, or a 1 x k one, both readings give the same kernel)
    if weight.ndim == 2:
        if weight.shape[1] != cin * kh * kw:
            raise ValueError(
                f"{where}: a fully connected weight of shape {weight.shape} does not fit the "
                f"expected {kh}x{kw} conv on {cin} channels (kernel {want})"
            )
        return convolutionalize(weight, (cin, kh, kw))
    if weight.ndim != 4:
        raise ValueError(f"{where}: expected a 2-d or 4-d weight, got shape {weight.shape}")
    return weight.transpose((2, 3, 0, 1) if deconv else (2, 3, 1, 0))


def assign(
    found: Mapping[str, Sequence],
    module,
    origin: str,
    *,
    fresh: Collection[str] = (),
    init: dict | None = None,
    init_stats: dict | None = None,
) -> Assigned:
    """Params for ``module`` from ``found`` (layer -> (weight, bias) in source layout).

    ``origin`` names the source in errors. Layers in ``fresh`` that ``found`` lacks take their
    value from ``init`` (``module.init`` params). Raises KeyError for a missing layer, ValueError
    for a shape that does not fit; both name the layer and the shapes.
    """
    variables = abstract_variables(module)
    expected, stats_expected = by_layer(variables["params"]), variables.get("batch_stats", {})
    init = by_layer(init) if init is not None else None
    kinds = layer_types(module)
    params, copied, kept, stats = {}, [], [], {}
    for layer, leaves in expected.items():
        if layer not in found:
            if layer in fresh and init is not None:
                params[layer] = {k: np.asarray(v) for k, v in init[layer].items()}
                kept.append(layer)
                continue
            have = ", ".join(list(found)[:30]) or "none"
            raise KeyError(f"{origin} has no layer {layer!r}, which the net needs (it has {have})")
        blobs = [to_numpy(b) for b in found[layer]]
        if layer in stats_expected:
            where = f"{origin}: layer {layer!r}"
            params[layer], stats[layer] = batch_norm(blobs, expected[layer], where)
            copied.append(layer)
            continue
        names = ["kernel", "bias"][: len(blobs)]
        if sorted(names) != sorted(leaves):
            lacking = "bias" if len(blobs) < len(leaves) else "no bias"
            raise KeyError(
                f"{origin}: layer {layer!r} has {len(blobs)} blob(s) of shapes "
                f"{[b.shape for b in blobs]}; the net's {layer} takes {lacking} "
                f"({' and '.join(sorted(leaves))})"
            )
        params[layer] = {}
        for leaf, blob in zip(names, blobs, strict=True):
            want = tuple(expected[layer][leaf].shape)
            where = f"{origin}: layer {layer!r} {'weight' if leaf == 'kernel' else 'bias'}"
            if leaf == "kernel":
                deconv = kinds.get(layer.split("/")[-1]) is Deconv
                value = kernel_from(blob, deconv, want, where)
            else:
                value = blob.reshape(-1) if blob.size == np.prod(want) else blob
            if value.shape != want:
                raise ValueError(
                    f"{where} of shape {blob.shape} does not fit: converted to {value.shape}, "
                    f"the net expects {want}"
                )
            params[layer][leaf] = np.ascontiguousarray(value)
        copied.append(layer)
    unused = [name for name in found if name not in expected]
    for layer in stats_expected:
        if layer in kept:
            stats[layer] = {k: np.asarray(v) for k, v in init_stats[layer].items()}
    return Assigned(nested(params), copied, kept, unused, stats)


def by_layer(tree: dict, prefix: str = "") -> dict[str, dict]:
    """``{path: {leaf: value}}`` of a params tree: a late-fusion stream's layers as
    ``color/conv1_1``."""
    layers = {}
    for name, value in tree.items():
        if all(isinstance(v, Mapping) for v in value.values()):
            layers.update(by_layer(value, f"{prefix}{name}/"))
        else:
            layers[f"{prefix}{name}"] = value
    return layers


def nested(layers: dict[str, dict]) -> dict:
    """The params tree of ``{path: {leaf: value}}``."""
    return unflatten({f"{path}/{leaf}": v for path, leaves in layers.items()
                      for leaf, v in leaves.items()})  # fmt: skip
