"""The FCN head: score the trunk, fuse skips, upsample, crop. One implementation for all nets.

The forward pass carries a :class:`~fcn_jax.geometry.Trace` beside every tensor, built from
the layers' own declarations, and every crop asks it for its offset. ``record`` (optional)
receives ``(name, layer, trace, shape)`` for each layer as it runs; ``fcn-jax geometry`` uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import NamedTuple

import jax
from flax import linen as nn

from fcn_jax.geometry import CoordMap, Trace, crop_offset
from fcn_jax.layers import Concat, Conv, Crop, Deconv, Scale, Sum
from fcn_jax.models.googlenet import Branches


class Skip(NamedTuple):
    """A skip layer: upsample the running score by 2 with ``upscore`` (a ``kernel`` x ``kernel``
    deconvolution: 4 in the reference VGG nets, 3 where an odd kernel keeps the two paths on
    whole units, as in GoogLeNet) and add the scored ``tap`` (a trunk layer, e.g. 'pool4'),
    first scaled by ``scale`` if given (at-once nets)."""

    tap: str
    upscore: str
    scale: float | None = None
    kernel: int = 4


class Upscore(NamedTuple):
    """The final deconvolution back to input resolution."""

    name: str
    kernel: int
    stride: int


Record = Callable[[str, nn.Module, Trace, tuple[int, ...]], None]


class FCN(nn.Module):
    """Fully convolutional net: ``trunk()`` layers, ``score_fr``, skips, ``upscore``, crop.

    ``__call__(x, train=False)`` maps NHWC float32 images (BGR, mean subtracted) of any size the
    geometry accepts to logits of shape (N, H, W, num_classes). Dropout is active only when
    ``train`` is true (then pass a 'dropout' rng). With ``heads`` (e.g. SIFT Flow's
    ``(('sem', 33), ('geo', 3))``) the trunk is shared and each head's layers carry its suffix
    (``score_fr_sem``, ``upscore_geo``, ...); the result is a dict of logits by head.
    """

    num_classes: int
    trunk: Callable[[], Sequence[nn.Module]]
    upscore: Upscore
    skips: tuple[Skip, ...] = ()
    learnable_upsampling: bool = False
    heads: tuple[tuple[str, int], ...] = ()

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, record: Record | None = None):
        if x.ndim != 4:
            raise ValueError(f"expected NHWC images, got an array of shape {x.shape}")
        if min(x.shape[1:3]) < 1:
            raise ValueError(f"input must be at least 1x1 pixels, got {x.shape[1]}x{x.shape[2]}")

        def run(layer, h, trace):
            h = layer(h, train)
            if layer.op is not None:
                trace = trace.through(layer.op, h.shape[1:3], layer.name)
            report(layer.name, layer, trace, h.shape)
            return h, trace

        def report(name, layer, trace, shape):
            if record is not None:
                record(name, layer, trace, shape)

        def crop(h, trace, like_shape, like_map, bottom, like, suffix=""):
            offset = crop_offset(trace.map, like_map, bottom, like)
            name = f"score{suffix}" if like == "data" else f"{bottom}c"
            layer = Crop(offset, bottom=bottom, name=name)
            try:
                h = layer(h, like_shape)
            except ValueError as err:
                size = f"{x.shape[1]}x{x.shape[2]}"
                raise ValueError(
                    f"input of {size} pixels is too small for this net: {err}"
                ) from err
            trace = trace.through(layer.op, h.shape[1:3], name)
            report(name, layer, trace, h.shape)
            return h, trace

        def branches(item, h, trace):  # parallel chains, concatenated (inception)
            outs = []
            for chain in item.branches:
                b, b_trace = h, trace
                for layer in chain:
                    b, b_trace = run(layer, b, b_trace)
                outs.append((b, b_trace))
            concat = Concat(name=item.name)
            h, trace = concat(*(b for b, _ in outs)), outs[0][1]
            for _, b_trace in outs[1:]:  # receptive field: the widest branch's
                trace = trace.merged(b_trace, item.name)
            report(item.name, concat, trace, h.shape)
            return h, trace

        learnable = self.learnable_upsampling
        h, trace = x, Trace.input(*x.shape[1:3])
        taps = {}
        for item in self.trunk():
            try:
                if isinstance(item, Branches):
                    h, trace = branches(item, h, trace)
                else:
                    h, trace = run(item, h, trace)
            except ValueError as err:  # a window larger than what is left of the image
                size = f"{x.shape[1]}x{x.shape[2]}"
                raise ValueError(
                    f"input of {size} pixels is too small for this net: {err}"
                ) from err
            taps[item.name] = h, trace

        def head(h, trace, classes, sfx):
            h, trace = run(Conv(classes, 1, zero_init=True, name=f"score_fr{sfx}"), h, trace)
            for skip in self.skips:
                up_name, score = f"{skip.upscore}{sfx}", f"score_{skip.tap}{sfx}"
                up, up_trace = run(
                    Deconv(classes, skip.kernel, 2, learnable=learnable, name=up_name), h, trace
                )
                s, s_trace = taps[skip.tap]
                if skip.scale is not None:
                    scale = Scale(skip.scale, name=f"scale_{skip.tap}{sfx}")
                    s, s_trace = run(scale, s, s_trace)
                s, s_trace = run(Conv(classes, 1, zero_init=True, name=score), s, s_trace)
                # Crop whichever path starts earlier in the image (if both start together,
                # the longer one) to the other one.
                s_first, up_first = s_trace.map.shift, up_trace.map.shift
                longer = all(a >= b for a, b in zip(s.shape[1:3], up.shape[1:3], strict=True))
                if s_first < up_first or (s_first == up_first and longer):
                    s, s_trace = crop(s, s_trace, up.shape[1:3], up_trace.map, score, up_name)
                else:
                    up, up_trace = crop(up, up_trace, s.shape[1:3], s_trace.map, up_name, score)
                fuse = Sum(name=f"fuse_{skip.tap}{sfx}")
                h, trace = fuse(up, s), up_trace.merged(s_trace, fuse.name)
                report(fuse.name, fuse, trace, h.shape)
            name, kernel, stride = self.upscore
            deconv = Deconv(classes, kernel, stride, learnable=learnable, name=f"{name}{sfx}")
            h, trace = run(deconv, h, trace)
            return crop(h, trace, x.shape[1:3], CoordMap(), deconv.name, "data", sfx)[0]

        if not self.heads:
            return head(h, trace, self.num_classes, "")
        return {name: head(h, trace, classes, f"_{name}") for name, classes in self.heads}


class Traced(NamedTuple):
    """One layer as the forward pass ran it."""

    name: str
    layer: nn.Module
    trace: Trace
    shape: tuple[int, ...]


def trace_layers(module: nn.Module, height: int, width: int, channels: int = 3) -> list[Traced]:
    """Every layer of ``module`` in execution order with its geometry at an input size, from
    one abstract forward pass (``jax.eval_shape``: nothing is computed)."""
    found: list[Traced] = []
    x = jax.ShapeDtypeStruct((1, height, width, channels), jax.numpy.float32)
    jax.eval_shape(
        lambda x: module.init(
            jax.random.key(0), x, record=lambda *args: found.append(Traced(*args))
        ),
        x,
    )
    return found


def layer_types(module: nn.Module) -> dict[str, type]:
    """Every layer of ``module`` by name, with its class."""
    return {t.name: type(t.layer) for t in trace_layers(module, 256, 256)}  # fits every net
