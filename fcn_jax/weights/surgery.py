"""Net surgery: convolutionalize fully connected layers, transplant
layers by name (a classifier's trunk into an FCN, fc8 dropped; a stage into the next), resize the
score layers to another class count."""

from __future__ import annotations

import jax
import numpy as np

from fcn_jax.models.layers import bilinear_kernel


def convolutionalize(weight: np.ndarray, in_shape: tuple[int, int, int]) -> np.ndarray:
    """Turn a fully connected weight into a conv kernel that computes it at every position.

    ``weight`` is (out, C*H*W) with inputs flattened in (C, H, W) order, as in Caffe and
    torch; ``in_shape`` is (C, H, W). Returns the (H, W, C, out) kernel of an HxW convolution
    whose single output cell on a CxHxW input equals ``weight @ input.ravel()``.
    """
    weight = np.asarray(weight)
    channels, height, width = in_shape
    if weight.ndim != 2 or weight.shape[1] != channels * height * width:
        raise ValueError(
            f"fully connected weight of shape {weight.shape} does not take a flattened "
            f"{channels}x{height}x{width} input ({channels * height * width} values)"
        )
    return weight.reshape(-1, channels, height, width).transpose(2, 3, 1, 0)


def is_head_layer(name: str) -> bool:
    """A layer whose output channels are the classes: the score and upscore layers."""
    return name.startswith(("score", "upscore")) or name == "aux_score"


def resize_classes(params: dict, num_classes: int, keep: list[int] | None = None) -> dict:
    """``params`` with every score layer (``score_fr``, ``score_pool*``) and upsampling
    deconvolution (``upscore*``) resized to ``num_classes``.

    Target class ``i`` takes source class ``keep[i]`` (default: class ``i``); a target class
    with no source class (index -1, or beyond the source's count) starts as a new score layer
    does: zero filters and bias, and for a deconvolution the bilinear kernel on its diagonal.
    The other layers are untouched, so a net trained on one label set starts another (e.g.
    PASCAL's 21 classes -> a 2-class person/background net with ``keep=[0, 15]``).
    """
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    result = dict(params)
    for name, leaves in params.items():
        if not is_head_layer(name) or "kernel" not in leaves:
            continue
        kernel = np.asarray(leaves["kernel"])
        old = kernel.shape[-1]
        source = list(range(num_classes)) if keep is None else list(keep)
        if len(source) != num_classes:
            raise ValueError(f"keep lists {len(source)} classes, num_classes is {num_classes}")
        repeated = sorted({c for c in source if c >= 0 and source.count(c) > 1})
        if repeated:
            raise ValueError(f"keep names classes {repeated} more than once")
        bad = [c for c in source if c >= old or c < -1]
        if keep is not None and bad:
            raise ValueError(f"keep names classes {bad} that {name} (with {old}) does not have")
        source = [c if c < old else -1 for c in source]
        taken = np.array([max(c, 0) for c in source])
        new = np.array([c == -1 for c in source])
        out = np.where(new, 0, kernel[..., taken])
        if name.startswith("upscore"):  # (k, k, classes, classes): rows are classes too
            out = out[:, :, taken, :]
            fresh = bilinear_kernel(kernel.shape[0], num_classes, num_classes)
            touched = new[:, None] | new[None, :]
            out = np.where(touched, fresh, out)
        resized = {"kernel": out.astype(kernel.dtype)}
        if "bias" in leaves:
            bias = np.asarray(leaves["bias"])
            resized["bias"] = np.where(new, 0, bias[taken]).astype(bias.dtype)
        result[name] = resized
    return result


def transplant(target: dict, source: dict) -> tuple[dict, list[str]]:
    """``target`` params with every layer whose name and shapes match in ``source`` copied over.

    Layers only in the source are left out (a classifier's fc8 when its trunk starts an FCN).
    Layers only in the target (e.g. the new skip's score_pool4, zero-initialised, and its
    bilinear upscore2) keep their initialisation, as in the paper's staged training. A layer
    present in both with different shapes is an error naming it.
    """
    result, copied = dict(target), []
    for name, leaves in target.items():
        if name not in source:
            continue
        got = jax.tree.map(np.shape, source[name])
        want = jax.tree.map(np.shape, leaves)
        if got != want:
            raise ValueError(f"cannot initialise layer {name}: shapes {got} != {want}")
        result[name] = jax.tree.map(lambda s, t: np.asarray(s, t.dtype), source[name], leaves)
        copied.append(name)
    return result, copied
