"""f_ks layers: Flax Linen modules that declare their geometry once.

Each spatial layer exposes ``op``, its primitive from :mod:`fcn_jax.geometry`, built from the
same attributes its ``__call__`` uses; pointwise layers have ``op = None``. All layers take
NHWC arrays and a ``train`` flag, so a net is a plain loop over them; the convolutions (``Conv``,
``Deconv``) also the net's ``kernels`` policy (:mod:`fcn_jax.kernels.choice`), which
:func:`call` passes them.
"""

from __future__ import annotations

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn

from fcn_jax.geometry import Resize as GeometryResize
from fcn_jax.geometry import Shift, Upsample, Window
from fcn_jax.kernels.conv import conv2d
from fcn_jax.kernels.deconv import transposed_conv


def bilinear_kernel(size: int, in_channels: int, out_channels: int) -> np.ndarray:
    """(size, size, in, out) kernel that upsamples channel c to channel c bilinearly.

    The factor is ``ceil(size / 2)``; off-diagonal channel pairs are zero, as in the reference
    ``interp`` surgery. Used as a deconvolution kernel of stride ``factor``.
    """
    factor = (size + 1) // 2
    centre = factor - 1 if size % 2 == 1 else factor - 0.5
    taps = 1 - np.abs(np.arange(size) - centre) / factor
    kernel = np.zeros((size, size, in_channels, out_channels), np.float32)
    channels = np.arange(min(in_channels, out_channels))
    kernel[:, :, channels, channels] = np.outer(taps, taps)[:, :, None]
    return kernel


class Conv(nn.Module):
    """Convolution ``f_ks`` with Caffe's symmetric zero padding and optional groups.

    Params: ``kernel`` (k, k, in/groups, out) and ``bias`` (out; none with ``use_bias=False``, as
    ResNet's convs before batch norm). ``zero_init`` starts both at zero, as the reference does
    for its score layers. ``dilation`` spaces the taps (à trous, DeepLab/dilated ResNet).
    """

    features: int
    kernel: int
    stride: int = 1
    pad: int = 0
    groups: int = 1
    zero_init: bool = False
    dilation: int = 1
    use_bias: bool = True

    @property
    def op(self) -> Window:
        return Window(self.kernel, self.stride, self.pad, d=self.dilation)

    @nn.compact
    def __call__(
        self, x: jax.Array, train: bool = False, kernels: str = "auto", pad: int | None = None
    ) -> jax.Array:
        """``pad`` (default: the layer's own) lets a caller that padded ``x`` itself run the
        same weights unpadded (:mod:`fcn_jax.models.margin`)."""
        del train
        if x.shape[-1] % self.groups:
            raise ValueError(f"{self.name}: {x.shape[-1]} channels not divisible by groups")
        init = nn.initializers.zeros if self.zero_init else nn.initializers.he_normal()
        shape = (self.kernel, self.kernel, x.shape[-1] // self.groups, self.features)
        kernel = self.param("kernel", init, shape, jnp.float32)
        kernel = kernel.astype(x.dtype)
        pad = self.pad if pad is None else pad
        y = conv2d(x, kernel, self.stride, pad, self.groups, self.dilation, kernels)
        if not self.use_bias:
            return y
        bias = self.param("bias", nn.initializers.zeros, (self.features,), jnp.float32)
        return y + bias.astype(x.dtype)


class MaxPool(nn.Module):
    """Max pooling with Caffe's rounding: the output size is rounded up (``ceil=True``)."""

    linear_stand_in = "sum_pool"  # in the footprint measurement (geometry.footprint)

    kernel: int
    stride: int
    pad: int = 0
    ceil: bool = True

    @property
    def op(self) -> Window:
        return Window(self.kernel, self.stride, self.pad, self.ceil)

    def reduce(self, x: jax.Array, init: float, combine) -> jax.Array:
        """Reduce every window of ``x`` with ``combine``; cells outside the image hold ``init``."""
        pads = [(0, 0)]
        for n in x.shape[1:3]:
            n_out = self.op.out_size(n)
            if n_out < 1:
                raise ValueError(f"{self.name}: input size {n} is smaller than the window")
            pads.append((self.pad, (n_out - 1) * self.stride + self.kernel - n - self.pad))
        pads.append((0, 0))
        k, s = self.kernel, self.stride
        return jax.lax.reduce_window(
            x, np.array(init, x.dtype), combine, (1, k, k, 1), (1, s, s, 1), pads
        )

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        del train
        if self.kernel == self.stride and self.pad == 0:
            return self.tiled_max(x)
        return self.reduce(x, -jnp.inf, jax.lax.max)

    def tiled_max(self, x: jax.Array) -> jax.Array:
        """Max over non-overlapping windows (VGG's 2x2/2) by reshaping, with Caffe's gradient:
        all of it to the first maximum of each window (ties are common after a ReLU). Same
        values and gradient as ``reduce``; XLA's CPU gradient of ``reduce_window`` (a
        select-and-scatter) is 3-5x slower than PyTorch's, this one is elementwise."""
        n, height, width, c = x.shape
        s = self.stride
        rows, cols = (self.op.out_size(size) for size in (height, width))
        if min(rows, cols) < 1:
            return self.reduce(x, -jnp.inf, jax.lax.max)  # raises, naming the layer
        x = x[:, : rows * s, : cols * s]  # floor mode drops the last partial window
        x = jnp.pad(
            x, ((0, 0), (0, rows * s - x.shape[1]), (0, cols * s - x.shape[2]), (0, 0)),
            constant_values=-jnp.inf,
        )  # fmt: skip
        windows = x.reshape(n, rows, s, cols, s, c).transpose(0, 1, 3, 2, 4, 5)
        windows = windows.reshape(n, rows, cols, s * s, c)
        first = jax.nn.one_hot(jnp.argmax(windows, axis=3), s * s, axis=3, dtype=bool)
        return jnp.where(first, windows, 0).sum(axis=3)


class AvgPool(MaxPool):
    """Average pooling as Caffe's (GoogLeNet's pool5/7x7_s1): output size rounded up; each
    window divided by its cells inside the padded image (``pad`` counts, the rounding's
    overhang does not)."""

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        del train
        total = self.reduce(x, 0.0, jax.lax.add)
        sizes = []
        for n, n_out in zip(x.shape[1:3], total.shape[1:3], strict=True):
            start = self.stride * np.arange(n_out) - self.pad
            sizes.append(np.minimum(start + self.kernel, n + self.pad) - start)
        return total / np.outer(*sizes)[None, :, :, None].astype(x.dtype)


class Deconv(nn.Module):
    """Deconvolution (backwards strided convolution) without bias, torch/Caffe semantics.

    Input unit ``i`` writes ``kernel[a] * x[i]`` to output ``stride*i - pad + a``. Param
    ``kernel`` is (k, k, in, out), initialised to the bilinear interpolation kernel. It is fixed
    (no gradient flows to it) unless ``learnable``.
    """

    features: int
    kernel: int
    stride: int
    pad: int = 0
    learnable: bool = False

    @property
    def op(self) -> Upsample:
        return Upsample(self.kernel, self.stride, self.pad)

    @nn.compact
    def __call__(self, x: jax.Array, train: bool = False, kernels: str = "auto") -> jax.Array:
        del train
        k, s = self.kernel, self.stride

        def init(key, shape, dtype):
            del key
            return jnp.asarray(bilinear_kernel(k, shape[2], shape[3]), dtype)

        kernel = self.param("kernel", init, (k, k, x.shape[-1], self.features), jnp.float32)
        if not self.learnable:
            kernel = jax.lax.stop_gradient(kernel)
        return transposed_conv(x, kernel.astype(x.dtype), s, self.pad, kernels)


def call(layer: nn.Module, x: jax.Array, train: bool, kernels: str) -> jax.Array:
    """``layer(x, train)``, a convolution (``Conv``, ``Deconv``) under the ``kernels`` policy."""
    if isinstance(layer, Conv | Deconv):
        return layer(x, train, kernels)
    return layer(x, train)


class Crop(nn.Module):
    """Crop to a target size starting at ``offset`` (the reference's Crop layer, axis 2)."""

    offset: int
    bottom: str = "?"
    like: str = "?"  # the layer whose shape and position the crop takes

    @property
    def op(self) -> Shift:
        return Shift(self.offset)

    def __call__(self, x: jax.Array, size: tuple[int, int]) -> jax.Array:
        c = self.offset
        for axis, (have, want) in enumerate(zip(x.shape[1:3], size, strict=True)):
            if have < c + want:
                raise ValueError(
                    f"crop {self.name}: {self.bottom} has {have} {('rows', 'columns')[axis]} but "
                    f"offset {c} + target {want} needs {c + want}"
                )
        return x[:, c : c + size[0], c : c + size[1], :]


class BatchNorm(nn.BatchNorm):
    """Flax's batch normalisation (``scale``/``bias`` params, running ``mean``/``var`` in the
    ``batch_stats`` collection) called like every layer here, ``(x, train)``. Batch statistics
    are used, and the running ones updated (momentum 0.9, torch's 0.1), only when ``train`` and
    ``trainable``; otherwise the running statistics, as at test time (frozen batch norm, usual
    when fine-tuning with small batches)."""

    linear_stand_in = "identity"  # in the footprint measurement (geometry.footprint)

    trainable: bool = False
    momentum: float = 0.9
    op = None

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        return super().__call__(x, use_running_average=not (train and self.trainable))


class Resize(nn.Module):
    """Bilinear resize to a given size with half-pixel centres (torch's ``F.interpolate(...,
    mode='bilinear', align_corners=False)``): the dilated FCNs' final upsampling."""

    op = None  # the geometry depends on the sizes: see ``resize_op``

    def __call__(self, x: jax.Array, size: tuple[int, int]) -> jax.Array:
        shape = (x.shape[0], *size, x.shape[-1])
        return jax.image.resize(x, shape, "bilinear", antialias=False)


def resize_op(n_in: int, n_out: int) -> GeometryResize:
    return GeometryResize(Fraction(n_in, n_out))


class Concat(nn.Module):
    """Channel concatenation of aligned branches (an inception module's output)."""

    op = None

    def __call__(self, *xs: jax.Array) -> jax.Array:
        if len({x.shape[:3] for x in xs}) != 1:
            raise ValueError(f"{self.name}: branches of shapes {[x.shape for x in xs]} differ")
        return jnp.concatenate(xs, axis=-1)


class Sum(nn.Module):
    """Weighted elementwise sum of aligned maps (the reference's Eltwise SUM layers: the skip
    'fuse' layers with coefficients 1, late fusion's 'score_fused' with 0.5 each). ``coeffs``
    (one per input) defaults to all ones."""

    coeffs: tuple[float, ...] = ()
    op = None

    def __call__(self, *xs: jax.Array) -> jax.Array:
        if len({x.shape for x in xs}) != 1:
            raise ValueError(
                f"{self.name}: cannot sum shapes {', '.join(str(x.shape) for x in xs)}"
            )
        if self.coeffs and len(self.coeffs) != len(xs):
            raise ValueError(f"{self.name}: {len(self.coeffs)} coefficients for {len(xs)} inputs")
        total = None
        for k, x in enumerate(xs):
            term = x * np.asarray(self.coeffs[k], x.dtype) if self.coeffs else x
            total = term if total is None else total + term
        return total


class ReLU(nn.Module):
    linear_stand_in = "identity"  # in the footprint measurement (geometry.footprint)
    op = None

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        del train
        return nn.relu(x)


class Dropout(nn.Module):
    """Caffe-style inverted dropout; active only when ``train`` (needs the 'dropout' rng)."""

    linear_stand_in = "identity"  # in the footprint measurement (geometry.footprint)

    rate: float = 0.5
    op = None

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        if not train or self.rate == 0:
            return x
        keep = jax.random.bernoulli(self.make_rng("dropout"), 1 - self.rate, x.shape)
        return jnp.where(keep, x / (1 - self.rate), 0).astype(x.dtype)


class LRN(nn.Module):
    """Caffe's local response normalisation across channels: x / (k + a/n sum x^2)^b."""

    linear_stand_in = "identity"  # in the footprint measurement (geometry.footprint)

    size: int = 5
    alpha: float = 1e-4
    beta: float = 0.75
    k: float = 1.0
    op = None

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        del train
        lo = self.size // 2
        sq = jax.lax.reduce_window(
            x * x,
            np.array(0, x.dtype),
            jax.lax.add,
            (1, 1, 1, self.size),
            (1, 1, 1, 1),
            ((0, 0), (0, 0), (0, 0), (lo, self.size - 1 - lo)),
        )
        return x / (self.k + self.alpha / self.size * sq) ** self.beta


class Scale(nn.Module):
    """Fixed scaling, e.g. the at-once net's pool4 x 0.01 and pool3 x 0.0001."""

    factor: float
    op = None

    def __call__(self, x: jax.Array, train: bool = False) -> jax.Array:
        del train
        return x * np.asarray(self.factor, x.dtype)
