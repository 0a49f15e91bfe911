"""The FCN head: score the trunk, fuse skips, upsample, crop. One implementation for all nets.

The forward pass carries a :class:`~fcn_jax.geometry.Trace` beside every tensor, built from
the layers' own declarations, and every crop asks it for its offset. ``record`` (optional)
receives ``(name, layer, trace, shape)`` for each layer as it runs; ``fcn-jax geometry`` uses it.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from functools import partial
from typing import NamedTuple

import jax
from flax import linen as nn

from fcn_jax.geometry import CoordMap, Trace, crop_offset
from fcn_jax.kernels.choice import checked
from fcn_jax.models import margin
from fcn_jax.models.googlenet import Branches
from fcn_jax.models.layers import Concat, Conv, Crop, Deconv, Scale, Sum, call


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
Scored = dict[str, tuple[jax.Array, Trace]]  # score layer name (score_fr, score_pool4) -> map


def too_small(x: jax.Array, err: ValueError) -> ValueError:
    return ValueError(f"input of {x.shape[1]}x{x.shape[2]} pixels is too small for this net: {err}")


class Runner(NamedTuple):
    """Runs layers beside their geometry, the convolutions under the ``kernels`` policy,
    reporting each to ``record`` (may be None)."""

    train: bool
    record: Record | None
    kernels: str = "auto"

    def report(self, name, layer, trace, shape):
        if self.record is not None:
            self.record(name, layer, trace, shape)

    def __call__(self, layer, h, trace):
        h = call(layer, h, self.train, self.kernels)
        if layer.op is not None:
            trace = trace.through(layer.op, h.shape[1:3], layer.name)
        self.report(layer.name, layer, trace, h.shape)
        return h, trace

    def branches(self, item, h, trace):  # parallel chains, concatenated (inception)
        outs = []
        for chain in item.branches:
            b, b_trace = h, trace
            for layer in chain:
                b, b_trace = self(layer, b, b_trace)
            outs.append((b, b_trace))
        concat = Concat(name=item.name)
        h, trace = concat(*(b for b, _ in outs)), outs[0][1]
        for _, b_trace in outs[1:]:  # receptive field: the widest branch's
            trace = trace.merged(b_trace, item.name)
        self.report(item.name, concat, trace, h.shape)
        return h, trace

    def crop(self, h, trace, like_shape, like_map, bottom, like, name, x):
        offset = crop_offset(trace.map, like_map, bottom, like)
        layer = Crop(offset, bottom=bottom, like=like, name=name)
        try:
            h = layer(h, like_shape)
        except ValueError as err:
            raise too_small(x, err) from err
        trace = trace.through(layer.op, h.shape[1:3], name)
        self.report(name, layer, trace, h.shape)
        return h, trace

    def fuse(self, parts, name, coeffs=()):
        fuse = Sum(coeffs, name=name)
        h, trace = fuse(*(p for p, _ in parts)), parts[0][1]
        for _, other in parts[1:]:
            trace = trace.merged(other, name)
        self.report(name, fuse, trace, h.shape)
        return h, trace


def run_trunk(net: Layout, x: jax.Array, run: Runner) -> dict[str, tuple[jax.Array, Trace]]:
    """Every trunk layer's output by name, the last also as ``'top'``. Under the "auto"
    kernels the layers a zero margin keeps constant run framed (:mod:`fcn_jax.models.margin`);
    of those, only the skips' taps and the last are kept whole."""
    h, trace = x, Trace.input(*x.shape[1:3])
    taps = {}
    items = tuple(net.trunk())
    plan = margin.planned(items, *x.shape[1:3], run.train) if run.kernels == "auto" else None
    if plan is not None:
        h, trace, taps = run_framed(plan, x, run, {skip.tap for skip in net.skips})
        items = items[len(plan.layers) :]
    for item in items:
        try:
            h, trace = (run.branches if isinstance(item, Branches) else run)(item, h, trace)
        except ValueError as err:  # a window larger than what is left of the image
            raise too_small(x, err) from err
        taps[item.name] = h, trace
    taps["top"] = h, trace
    return taps


def run_framed(plan: margin.Plan, x: jax.Array, run: Runner, keep: set[str]):
    """The planned layers framed: the last output whole with its trace, and the taps in
    ``keep``."""
    trace, taps = Trace.input(*x.shape[1:3]), {}
    for layer, framed in margin.run(plan, x, run.train, run.kernels):
        size = (framed.rows.size, framed.cols.size)
        if layer.op is not None:
            trace = trace.through(layer.op, size, layer.name)
        run.report(layer.name, layer, trace, (x.shape[0], *size, framed.window.shape[-1]))
        if layer.name in keep:
            taps[layer.name] = framed.whole(), trace
    return framed.whole(), trace, taps


def score_of(run: Runner, taps: dict, skip: Skip | None, classes: int, sfx: str):
    """``score_fr`` (``skip`` None) or a skip's scored tap (scaled first, at-once nets), with
    its trace; the layers are created in the calling module's scope."""
    if skip is None:
        return run(Conv(classes, 1, zero_init=True, name=f"score_fr{sfx}"), *taps["top"])
    s, s_trace = taps[skip.tap]
    if skip.scale is not None:
        s, s_trace = run(Scale(skip.scale, name=f"scale_{skip.tap}{sfx}"), s, s_trace)
    return run(Conv(classes, 1, zero_init=True, name=f"score_{skip.tap}{sfx}"), s, s_trace)


def score_stream(net: Layout, x: jax.Array, run: Runner) -> dict[str, Scored]:
    """The trunk on ``x`` and every score layer of each head: ``{suffix: {'score_fr': ...,
    'score_pool4': ...}}``."""
    taps = run_trunk(net, x, run)
    result = {}
    for sfx, classes in net.suffixes:
        scored = {"score_fr": score_of(run, taps, None, classes, sfx)}
        for skip in net.skips:
            scored[f"score_{skip.tap}"] = score_of(run, taps, skip, classes, sfx)
        result[sfx] = scored
    return result


class Layout(NamedTuple):
    """What :func:`score_stream` needs of an FCN."""

    trunk: Callable[[], Sequence[nn.Module]]
    skips: tuple[Skip, ...]
    suffixes: tuple[tuple[str, int], ...]  # (layer suffix, classes) per head


class Stream(nn.Module):
    """One input stream of a late-fusion net: its trunk and score layers, under its name."""

    net: Layout
    kernels: str = "auto"

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, record: Record | None = None):
        return score_stream(self.net, x, Runner(train, record, self.kernels))


class FCN(nn.Module):
    """Fully convolutional net: ``trunk()`` layers, ``score_fr``, skips, ``upscore``, crop.

    ``__call__(x, train=False)`` maps NHWC float32 images (BGR, mean subtracted) of any size the
    geometry accepts to logits of shape (N, H, W, num_classes). Dropout is active only when
    ``train`` is true (then pass a 'dropout' rng). With ``heads`` (e.g. SIFT Flow's
    ``(('sem', 33), ('geo', 3))``) the trunk is shared and each head's layers carry its suffix
    (``score_fr_sem``, ``upscore_geo``, ...); the result is a dict of logits by head.

    With ``streams`` (e.g. ``('color', 'hha')``, the reference's late fusion) each stream runs
    its own trunk and score layers on 3 consecutive input channels, params under the stream's
    name (``color/conv1_1``: the reference's ``conv1_1color``); each score layer is averaged over
    the streams (``score_fused``, an Eltwise SUM with coefficients 1/n, as the reference's) and
    the upsampling layers are shared.

    ``kernels`` is the policy every convolution runs under (one of
    :data:`fcn_jax.kernels.choice.KERNELS`).
    """

    num_classes: int
    trunk: Callable[[], Sequence[nn.Module]]
    upscore: Upscore
    skips: tuple[Skip, ...] = ()
    learnable_upsampling: bool = False
    heads: tuple[tuple[str, int], ...] = ()
    streams: tuple[str, ...] = ()
    in_channels: int = 3  # of each stream: 4 for early fusion (colour and depth)
    kernels: str = "auto"

    def head_suffixes(self) -> tuple[tuple[str, int], ...]:
        if not self.heads:
            return (("", self.num_classes),)
        return tuple((f"_{name}", classes) for name, classes in self.heads)

    def input_channels(self) -> int:
        return self.in_channels * max(1, len(self.streams))

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, record: Record | None = None):
        checked(self.kernels)  # before a layer's error could name the image size
        if x.ndim != 4:
            raise ValueError(f"expected NHWC images, got an array of shape {x.shape}")
        if min(x.shape[1:3]) < 1:
            raise ValueError(f"input must be at least 1x1 pixels, got {x.shape[1]}x{x.shape[2]}")
        if x.shape[-1] != self.input_channels():
            what = f"late fusion of {', '.join(self.streams)}" if self.streams else "this net"
            raise ValueError(f"{what} takes {self.input_channels()} input channels, got "
                             f"{x.shape[-1]}")  # fmt: skip
        run = Runner(train, record, self.kernels)
        layout = Layout(self.trunk, self.skips, self.head_suffixes())
        if not self.streams:  # each score layer where the head needs it, in the reference's order
            taps = run_trunk(layout, x, run)
            scorers = {sfx: partial(score_of, run, taps, classes=classes, sfx=sfx)
                       for sfx, classes in self.head_suffixes()}  # fmt: skip
        else:
            c, n = self.in_channels, len(self.streams)
            per_stream = [
                Stream(layout, self.kernels, name=name)(
                    x[..., k * c : (k + 1) * c], train, record if k == 0 else None
                )
                for k, name in enumerate(self.streams)
            ]  # the geometry of every stream is the first's: it alone is recorded
            scored = {}
            for sfx, _ in self.head_suffixes():
                scored[sfx] = {}
                for layer in per_stream[0][sfx]:
                    name = f"score_fused{sfx}" if layer == "score_fr" else f"{layer}_fused{sfx}"
                    parts = [stream[sfx][layer] for stream in per_stream]
                    scored[sfx][layer] = run.fuse(parts, name, (1 / n,) * n)
            scorers = {sfx: partial(fused_score, scored[sfx]) for sfx in scored}
        out = {sfx: self.head(x, scorers[sfx], classes, sfx, run)
               for sfx, classes in self.head_suffixes()}  # fmt: skip
        return out[""] if not self.heads else {sfx[1:]: logits for sfx, logits in out.items()}

    def head(self, x, scorer: Callable, classes: int, sfx: str, run: Runner) -> jax.Array:
        """Skips and the final upsampling from a head's score maps (``scorer(skip)``, ``None``
        for score_fr); logits cropped to ``x``."""
        learnable = self.learnable_upsampling
        h, trace = scorer(None)
        for skip in self.skips:
            up_name, score = f"{skip.upscore}{sfx}", f"score_{skip.tap}{sfx}"
            up, up_trace = run(
                Deconv(classes, skip.kernel, 2, learnable=learnable, name=up_name), h, trace
            )
            s, s_trace = scorer(skip)
            # Crop whichever path starts earlier in the image (if both start together, the
            # longer one) to the other one.
            s_first, up_first = s_trace.map.shift, up_trace.map.shift
            longer = all(a >= b for a, b in zip(s.shape[1:3], up.shape[1:3], strict=True))
            if s_first < up_first or (s_first == up_first and longer):
                s, s_trace = run.crop(s, s_trace, up.shape[1:3], up_trace.map, score, up_name,
                                      f"{score}c", x)  # fmt: skip
            else:
                up, up_trace = run.crop(up, up_trace, s.shape[1:3], s_trace.map, up_name, score,
                                        f"{up_name}c", x)  # fmt: skip
            h, trace = run.fuse([(up, up_trace), (s, s_trace)], f"fuse_{skip.tap}{sfx}")
        name, kernel, stride = self.upscore
        deconv = Deconv(classes, kernel, stride, learnable=learnable, name=f"{name}{sfx}")
        h, trace = run(deconv, h, trace)
        logits, _ = run.crop(h, trace, x.shape[1:3], CoordMap(), deconv.name, "data",
                             f"score{sfx}", x)  # fmt: skip
        return logits


def fused_score(scored: Scored, skip: Skip | None):
    return scored["score_fr" if skip is None else f"score_{skip.tap}"]


class Traced(NamedTuple):
    """One layer as the forward pass ran it."""

    name: str
    layer: nn.Module
    trace: Trace
    shape: tuple[int, ...]


def trace_layers(
    module: nn.Module, height: int, width: int, channels: int | None = None
) -> list[Traced]:
    """Every layer of ``module`` in execution order with its geometry at an input size, from
    one abstract forward pass (``jax.eval_shape``: nothing is computed)."""
    found: list[Traced] = []
    channels = channels or input_channels(module)
    x = jax.ShapeDtypeStruct((1, height, width, channels), jax.numpy.float32)
    jax.eval_shape(
        lambda x: module.init(
            jax.random.key(0), x, record=lambda *args: found.append(Traced(*args))
        ),
        x,
    )
    return found


def input_channels(module: nn.Module) -> int:
    """The input channels ``module`` takes (3 unless it says otherwise)."""
    return module.input_channels() if hasattr(module, "input_channels") else 3


def layer_types(module: nn.Module) -> dict[str, type]:
    """Every layer of ``module`` by name, with its class."""
    return {t.name: type(t.layer) for t in trace_layers(module, 256, 256)}  # fits every net
