"""The f_ks algebra read off a jaxpr (fcn_jax.geometry.analyze) against our nets' declared
geometry, hand derivations and autodiff, on nets written here in plain lax, Flax NNX and
Equinox."""

from fractions import Fraction

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from jax import lax

from fcn_jax.geometry import analyze
from fcn_jax.geometry.jaxpr_report import analysis_table, format_analysis, verify_analysis
from fcn_jax.models import ALIGNMENTS, ARCHS, build, trace_layers

NHWC = ("NHWC", "HWIO", "NHWC")


def conv(x, k, s=1, pad=0, d=1, lhs=1, out=4):
    kernel = jnp.ones((k, k, x.shape[-1], out)) / (k * k * x.shape[-1])
    pads = pad if not isinstance(pad, int) else ((pad, pad), (pad, pad))
    return lax.conv_general_dilated(x, kernel, (s, s), pads, (lhs, lhs), (d, d),
                                    dimension_numbers=NHWC)  # fmt: skip


def pool(x, k, s, pads=((0, 0), (0, 0))):
    return lax.reduce_window(x, -jnp.inf, lax.max, (1, k, k, 1), (1, s, s, 1),
                             ((0, 0), *pads, (0, 0)))  # fmt: skip


def summary(fn, size, channels=3):
    a = analyze(fn, jax.ShapeDtypeStruct((1, size, size, channels), jnp.float32))
    return a, analysis_table(a)


def checked(a):
    checks = verify_analysis(a, [None])
    assert checks and all(c.same_extent for c in checks), [c for c in checks if not c.same_extent]
    return checks


def layer_parts(name):
    return [part.split(".")[0] for part in name.split("/")]


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("align", ALIGNMENTS)
def test_our_nets_jaxpr_equals_their_declarations(arch, align):
    # Two derivations of the same numbers: the layers' declared ops (trace_layers) and the
    # primitives XLA runs. kernels="xla": the "auto" policy's Winograd/banded forms are
    # custom_vjp bodies of tiles and scans, whose geometry is the same convolution's.
    # The ResNets' Resize declares the rows' map for both axes: a square input for them.
    size = (67, 67) if "resnet" in arch else (67, 75)
    net = build(arch, 2, width=1 / 64, align=align, kernels="xla")
    x = jax.ShapeDtypeStruct((1, *size, 3), jnp.float32)
    params = jax.eval_shape(net.init, jax.random.key(0), x)
    a = analyze(lambda p, x: net.apply(p, x), params, x, argnum=1)
    assert not a.unmapped and not a.ended and all(m.aligned for m in a.meetings)
    last = {}
    for value in a.values:
        for part in layer_parts(value.name):
            last[part] = value
    compared = 0
    for t in trace_layers(net, *size):
        if t.name not in last:  # dropout at inference runs no equation
            assert "drop" in t.name
            continue
        rows, cols = last[t.name].axes
        for axis, support in ((rows, t.trace.rows), (cols, t.trace.cols)):
            assert (axis.map, axis.field) == (t.trace.map, t.trace.field), t.name
            assert np.array_equal(axis.lo, support[0]) and np.array_equal(axis.hi, support[1])
        compared += 1
    assert compared > 20


def test_strided_dilated_convs_and_pools_by_hand():
    def net(x):
        y = conv(x, 3, s=2, pad=1)  # rf 3, stride 2, unit 0 at 0
        y = conv(y, 3, pad=2, d=2)  # extent 5: rf 3 + 4*2 = 11, unit 0 at 0
        y = pool(y, 2, 2)  # floor: rf 11 + 1*2 = 13, stride 4, unit 0 at 0 + 0.5*2 = 1
        # ceil (padded right): rf 13 + 2*4 = 21, stride 8, unit 0 at 1 + 1*4
        return pool(y, 3, 2, ((0, 1), (0, 1)))

    a, table = summary(net, 37)
    assert (table["receptive_field"], table["max_stride"]) == (21, 8)
    last = a.rows()[-1]
    assert [ax.map for ax in last.axes] == [CoordMap8(5)] * 2
    # 37 -> 19 -> 19 -> 9 -> (9 + 1 - 3) // 2 + 1 = 4
    assert table["layers"][-1]["size"] == [4, 4]
    checked(a)


def CoordMap8(shift):
    from fcn_jax.geometry import CoordMap

    return CoordMap(Fraction(8), Fraction(shift))


def test_transposed_conv_is_an_upsampling():
    # lhs_dilation 2, kernel 4, padding 2 on each side: input unit i writes outputs
    # 2i - 1 .. 2i + 2 (torch ConvTranspose2d(k=4, s=2, p=1)); unit 0 centred at -1/4... of a
    # stride-8 input: 8 * ((1 - 1.5) / 2) + 0 = -2... by hand below.
    def net(x):
        y = conv(x, 8, s=8)  # rf 8, stride 8, unit 0 centred at 3.5
        return conv(y, 4, pad=2, lhs=2)  # Upsample(4, 2, 1): map y -> (y + 1 - 1.5) / 2

    a, table = summary(net, 32)
    (rows, _) = a.rows()[-1].axes
    assert rows.map.scale == 4 and rows.map.shift == Fraction(7, 2) + 8 * Fraction(-1, 4)
    assert table["layers"][-1]["size"] == [8, 8]  # (4 - 1) * 2 + 4 - 2
    checked(a)


def residual(x):
    main = jax.nn.relu(conv(x, 3, s=2, pad=1))
    main = conv(main, 3, pad=1)
    return jax.nn.relu(main + conv(x, 1, s=2))  # a 1x1 stride-2 shortcut: aligned at 2j


def test_residual_block_with_strided_shortcut_is_aligned():
    a, table = summary(residual, 16)
    (meet,) = a.meetings
    assert meet.aligned and meet.offsets() == [(0, 0)]
    # rf: 3, then 3 + 2*2 = 7 on the main path (the shortcut's 1 inside it), stride 2
    assert (table["receptive_field"], table["max_stride"]) == (7, 2)
    checked(a)


def unet(misaligned=False, fix=0):
    def net(x):
        skip = conv(x, 3, pad=1)  # unit j centred at pixel j
        down = conv(pool(skip, 2, 2), 3, pad=1)  # stride 2, unit j at 2j + 1/2
        # Upsample(2, 2, 0): unit j at (j - 1/2) / 2 of down, pixel j. Padded (0, 2) instead
        # of (1, 1) (a common slip), it is Upsample(2, 2, 1): unit j at pixel j + 1.
        pads = ((0, 2), (0, 2)) if misaligned else 1
        up = conv(down, 2, pad=pads, lhs=2)[:, :16, :16]
        if fix:  # read skip unit j + fix
            skip = jnp.pad(skip[:, fix:, fix:], ((0, 0), (0, fix), (0, fix), (0, 0)))
        return jnp.concatenate([up, skip], axis=-1)

    return net


def test_unet_skip_misaligned_by_one_pixel_and_its_fix():
    a, _ = summary(unet(), 16)
    assert [m.aligned for m in a.meetings] == [True]
    a, table = summary(unet(misaligned=True), 16)
    (meet,) = a.meetings
    assert not meet.aligned and meet.offsets() == [(1, 1)]  # the skip is one pixel behind
    text = format_analysis(table)
    assert "misaligned: " in text and "read unit j + (1, 1)" in text
    a, _ = summary(unet(misaligned=True, fix=1), 16)
    assert [m.aligned for m in a.meetings] == [True]
    checked(a)


def test_a_flatten_ends_the_analysis_and_unmapped_primitives_are_listed():
    def net(x):
        y = conv(x, 3, s=2)
        flipped = lax.rev(y, (1,))  # a negative stride: no window of the algebra
        dense = y.reshape(1, -1) @ jnp.ones((y[0].size, 10))
        return flipped, dense

    a, table = summary(net, 16)
    assert [s.primitive for s in a.unmapped] == ["rev"]
    assert a.unmapped[0].source.startswith("tests/test_jaxpr_geometry.py:")
    assert any("flatten" in s.reason for s in a.ended)
    text = format_analysis(table)
    assert "unmapped: rev" in text and "analysis ends:" in text


def test_flax_nnx_net():
    from flax import nnx

    class Net(nnx.Module):
        def __init__(self, rngs):
            self.a = nnx.Conv(3, 4, (3, 3), strides=2, padding=((1, 1), (1, 1)), rngs=rngs)
            self.b = nnx.Conv(4, 4, (3, 3), kernel_dilation=2, padding="VALID", rngs=rngs)
            self.up = nnx.ConvTranspose(4, 4, (2, 2), strides=2, padding="VALID", rngs=rngs)

        def __call__(self, x):
            y = nnx.relu(self.a(x))  # rf 3, stride 2, unit 0 at 0
            y = nnx.max_pool(self.b(y), (2, 2), (2, 2))  # rf 3 + 4*2 + 1*2 = 13, stride 4
            return self.up(y)  # Upsample(2, 2): rf ceil(2/2) = 1 more unit, stride 2

    net = Net(nnx.Rngs(0))
    a, table = summary(net, 33)
    assert (table["receptive_field"], table["max_stride"]) == (13, 2)
    checked(a)


def test_equinox_net_on_chw():
    eqx = pytest.importorskip("equinox")
    key = jax.random.key(0)
    conv1 = eqx.nn.Conv2d(3, 4, 5, stride=2, padding=2, key=key)
    pool = eqx.nn.MaxPool2d(3, 2)

    def net(x):  # CHW, unbatched, as Equinox's layers take it
        return pool(jax.nn.relu(conv1(x)))  # rf 5 + 2*2 = 9, stride 4

    x = jax.ShapeDtypeStruct((3, 29, 29), jnp.float32)
    a = analyze(net, x, spatial_axes=(1, 2))
    table = analysis_table(a)
    assert (table["receptive_field"], table["max_stride"]) == (9, 4)
    checked(a)


@pytest.mark.slow  # about 10 s: the autodiff check of 53 convolutions
def test_torchvision_resnet50_geometry_from_a_flax_reimplementation():
    from flax import linen as nn

    class Bottleneck(nn.Module):  # torchvision v1.5: the stride on the 3x3 conv
        planes: int
        stride: int

        @nn.compact
        def __call__(self, x):
            bn = lambda: nn.BatchNorm(use_running_average=True)  # noqa: E731
            y = nn.relu(bn()(nn.Conv(self.planes, (1, 1), use_bias=False)(x)))
            y = nn.Conv(self.planes, (3, 3), self.stride, padding=1, use_bias=False)(y)
            y = nn.relu(bn()(y))
            y = bn()(nn.Conv(4 * self.planes, (1, 1), use_bias=False)(y))
            if self.stride != 1 or x.shape[-1] != 4 * self.planes:
                x = bn()(nn.Conv(4 * self.planes, (1, 1), self.stride, use_bias=False)(x))
            return nn.relu(y + x)

    class ResNet50(nn.Module):
        @nn.compact
        def __call__(self, x):
            x = nn.Conv(4, (7, 7), 2, padding=3, use_bias=False)(x)
            x = nn.relu(nn.BatchNorm(use_running_average=True)(x))
            x = nn.max_pool(x, (3, 3), (2, 2), padding=((1, 1), (1, 1)))
            for stage, (blocks, planes) in enumerate(zip((3, 4, 6, 3), (1, 2, 4, 8), strict=True)):
                for b in range(blocks):
                    x = Bottleneck(planes, 2 if stage and b == 0 else 1)(x)
            return x  # layer4: the features before the global pooling

    # By hand: (kernel, stride) along the main path, rf = 1 + sum (k - 1) * jump before it.
    layers = [(7, 2), (3, 2)]
    for stage, blocks in enumerate((3, 4, 6, 3)):
        for b in range(blocks):
            layers += [(1, 1), (3, 2 if stage and b == 0 else 1), (1, 1)]
    k, s = np.array(layers).T
    jumps = np.concatenate([[1], np.cumprod(s)[:-1]])
    rf, stride = 1 + int(np.sum((k - 1) * jumps)), int(np.prod(s))
    assert (rf, stride) == (427, 32)

    net = ResNet50()
    x = jnp.zeros((1, 96, 96, 3))
    params = net.init(jax.random.key(0), x)
    a = analyze(lambda x: net.apply(params, x), x)
    table = analysis_table(a)
    assert (table["receptive_field"], table["max_stride"]) == (rf, stride)
    assert len(a.meetings) == 16 and all(m.aligned for m in a.meetings)
    checked(a)


@pytest.mark.slow  # a subprocess
def test_cli_geometry_of_a_function_with_verify(tmp_path):
    import os
    import subprocess
    import sys

    (tmp_path / "usernet.py").write_text(
        "import jax\nfrom jax import lax\nimport jax.numpy as jnp\n"
        "K = jnp.ones((3, 3, 3, 4)) / 27\n"
        "def forward(x):\n"
        "    y = lax.conv_general_dilated(x, K, (2, 2), ((1, 1), (1, 1)),\n"
        "                                 dimension_numbers=('NHWC', 'HWIO', 'NHWC'))\n"
        "    return lax.reduce_window(jax.nn.relu(y), -jnp.inf, lax.max, (1, 3, 3, 1),\n"
        "                             (1, 2, 2, 1), 'VALID')\n"
    )
    root = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
    env = {**os.environ, "PYTHONPATH": root}
    done = subprocess.run(
        [sys.executable, "-m", "fcn_jax.cli", "geometry", "--fn", "usernet:forward",
         "--input", "1x32x32x3", "--verify"],
        cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == 0, done.stderr
    # conv 3/2 pad 1 (rf 3, stride 2, unit 0 at 0), pool 3/2 (rf 3 + 2*2 = 7, at 0 + 1*2 = 2)
    assert "receptive field 7, max stride 4" in done.stdout
    assert "autodiff check: 10 units measured, all agree" in done.stdout
