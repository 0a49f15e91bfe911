"""The f_ks algebra against hand derivations, the paper's figures and the reference nets."""

from fractions import Fraction

import numpy as np
import pytest
from reference_offsets import OFFSETS

from fcn_jax.geometry import (
    CoordMap,
    Field,
    GeometryError,
    Shift,
    Trace,
    Upsample,
    Window,
    crop_offset,
)
from fcn_jax.models import ALIGNMENTS, ARCHS, build
from fcn_jax.models.report import geometry_table


def test_composition_rule_is_the_papers():
    # f_ks o g_k's' = (f o g)_{k' + (k-1)s', ss'}: g = 3x3 stride 2, f = 5x5 stride 3.
    g, f = Field(Fraction(3), Fraction(2)), Field(Fraction(5), Fraction(3))
    assert g.then(f) == Field(Fraction(3 + 4 * 2), Fraction(6))


def test_conv_coord_map_centres_the_window():
    # A 3x3 stride-2 pad-1 conv: output unit y reads 2y-1 .. 2y+1, centred at 2y.
    m = Window(3, 2, 1).coord_map()
    assert (m(0), m(5)) == (0, 10)
    # A deconv is its inverse: k=4, s=2 maps output y back to (y - 1.5) / 2.
    up = Upsample(4, 2).coord_map()
    assert up(Fraction(3)) == Fraction(3, 4)


@pytest.mark.parametrize("align", ALIGNMENTS)
def test_table1_receptive_fields_and_strides(align):
    # Paper, Table 1: FCN-AlexNet rf 355, FCN-VGG16 rf 404; max stride 32 for both.
    vgg = geometry_table(build("fcn8s", 21, align=align), 500, 500)
    alex = geometry_table(build("fcn-alexnet", 21, align=align), 500, 500)
    assert (vgg["receptive_field"], vgg["max_stride"]) == (404, 32)
    assert (alex["receptive_field"], alex["max_stride"]) == (355, 32)


def test_vgg_pool_fields_by_hand():
    # Two 3x3 convs (rf 5), pool 2/2 -> 6 jump 2; +2 convs*2*2 -> 14, pool -> 16 jump 4; ...
    rows = {r["name"]: r for r in geometry_table(build("fcn32s", 21), 224, 224)["layers"]}
    fields = [(rows[f"pool{i}"]["receptive_field"], rows[f"pool{i}"]["jump"]) for i in range(1, 6)]
    assert fields == [(6, 2), (16, 4), (44, 8), (100, 16), (212, 32)]


@pytest.mark.parametrize("arch", OFFSETS)
def test_caffe_crops_are_the_reference_offsets(arch):
    assert geometry_table(build(arch, 21), 321, 480)["crops"] == OFFSETS[arch]


@pytest.mark.parametrize("size", [(31, 31), (321, 480), (500, 500)])
def test_googlenet_crops_by_hand(size):
    # unit 0 of stride 32 sits at pixel 30 (pools move it 2 + 4 + 8 + 16); the 63/32
    # deconvolution moves it back 31: the output starts at pixel -1, crop 1.
    table = geometry_table(build("fcn32s-googlenet", 21), *size)
    assert table["crops"] == {"score": 1}
    rows = {r["name"]: r for r in table["layers"]}
    assert [rows[f"pool{i}_3x3_s2"]["offset"] for i in (1, 2, 3, 4)] == [2, 6, 14, 30]


@pytest.mark.parametrize("arch", [a for a in ARCHS if "resnet" not in a])  # see test_resnet
@pytest.mark.parametrize("align", ALIGNMENTS)
def test_output_pixel_i_is_centred_on_input_pixel_i(arch, align):
    last = geometry_table(build(arch, 21, align=align), 97, 131)["layers"][-1]
    assert (last["name"], last["offset"], last["jump"]) == ("score", 0, 1)
    assert last["size"] == [97, 131]


def test_same_mode_drops_the_pad_100_margin():
    rows = geometry_table(build("fcn8s", 21, align="same"), 64, 64)["layers"]
    assert rows[0]["name"] == "conv1_1" and rows[0]["pad"] == 1


def test_crop_offset_rejects_fractional_and_negative_offsets():
    a, b = CoordMap(Fraction(8), Fraction(3)), CoordMap(Fraction(8), Fraction(7))
    with pytest.raises(GeometryError, match=r"score_x.*upscore_y.*fractional"):
        crop_offset(a, b, "score_x", "upscore_y")
    with pytest.raises(GeometryError, match=r"score_x.*upscore_y.*negative"):
        crop_offset(CoordMap(Fraction(1), Fraction(5)), CoordMap(), "score_x", "upscore_y")
    with pytest.raises(GeometryError, match="strides differ"):
        crop_offset(CoordMap(Fraction(2)), CoordMap(), "score_x", "upscore_y")
    assert (
        crop_offset(
            CoordMap(Fraction(8), Fraction(-1)), CoordMap(Fraction(8), Fraction(39)), "a", "b"
        )
        == 5
    )


def test_caffe_ceil_pooling_sizes():
    # Hand-counted window starts: a 2/2 window on 5 pixels starts at 0, 2, 4 -> 3 outputs.
    assert Window(2, 2, ceil=True).out_size(5) == 3
    assert Window(2, 2, ceil=False).out_size(5) == 2
    # With padding 1, 3/2 on 4 pixels: starts -1, 1, 3; the start at 3 is inside, so 3 outputs.
    assert Window(3, 2, 1, ceil=True).out_size(4) == 3
    # ... but 2/2 pad 1 on 2 pixels: starts -1, 1, and 3 would start in the right padding.
    assert Window(2, 2, 1, ceil=True).out_size(2) == 2


def _transposed_conv_reference(n_in, k, s, p):
    """Brute force: which inputs of a 1-D deconv reach each output."""
    n_out = (n_in - 1) * s + k - 2 * p
    reach = [set() for _ in range(n_out)]
    for i in range(n_in):
        for a in range(k):
            o = s * i - p + a
            if 0 <= o < n_out:
                reach[o].add(i)
    return reach


@pytest.mark.parametrize(
    ("k", "s", "p"), [(4, 2, 0), (4, 2, 1), (16, 8, 0), (63, 32, 0), (3, 2, 0)]
)
def test_upsample_support_matches_brute_force(k, s, p):
    n_in = 5
    n_out = Upsample(k, s, p).out_size(n_in)
    trace = Trace.input(n_in, n_in).through(Upsample(k, s, p), (n_out, n_out))
    lo, hi = trace.rows
    for o, inputs in enumerate(_transposed_conv_reference(n_in, k, s, p)):
        if inputs:
            assert (lo[o], hi[o]) == (min(inputs), max(inputs))
        else:
            assert lo[o] > hi[o]


def test_trace_rejects_a_layer_that_disagrees_with_its_geometry():
    with pytest.raises(GeometryError, match="pool9"):
        Trace.input(10, 10).through(Window(2, 2), (6, 5), "pool9")
    with pytest.raises(GeometryError, match="crop7"):
        Trace.input(10, 10).through(Shift(3), (8, 8), "crop7")


def test_units_that_see_only_padding_have_no_box():
    trace = Trace.input(4, 4).through(Window(3, 1, 100), (202, 202))
    # Unit y of a 3x3 pad-100 conv reads y-100 .. y-98: unit 97 sees only padding.
    assert trace.box(97, 0) is None
    assert trace.box(98, 99) == ((0, 0), (0, 1))
    assert trace.box(100, 103) == ((0, 2), (3, 3))
    assert np.all(trace.rows[1][100:103] == [2, 3, 3])


def test_a_dilated_window_is_the_composition_rule_with_its_effective_kernel():
    # d(k - 1) + 1 by hand: 3x3 dilated 2 spans 5 units, dilated 3 spans 7
    assert Window(3, 1, 2, d=2).field().k == 5 and Window(3, 1, 3, d=3).field().k == 7
    assert Window(3, 1, 2, d=2).out_size(10) == 10  # 'same' padding for a dilated 3x3
    # after a stride-8 trunk of field 40, a 3x3 conv dilated by 2 adds (5 - 1) * 8 = 32
    trunk = Field(Fraction(40), Fraction(8))
    assert trunk.then(Window(3, 1, 2, d=2).field()) == Field(Fraction(72), Fraction(8))


def test_dilated_convolutions_see_what_the_algebra_predicts():
    from functools import partial

    from fcn_jax.models import Classifier
    from fcn_jax.models.layers import Conv, MaxPool
    from fcn_jax.models.report import geometry_table, verify

    def trunk():
        return (
            Conv(1, 3, pad=1, name="c1"),
            MaxPool(2, 2, name="pool1"),
            Conv(1, 3, pad=2, dilation=2, name="c2"),
            Conv(1, 3, pad=3, dilation=3, name="c3"),
        )

    net = Classifier(1, partial(trunk))
    checks = verify(net, 37, 30)
    assert checks and all(c.ok for c in checks), [c for c in checks if not c.ok]
    # c1 3, pool 3 + 1 = 4 (stride 2), c2 4 + 4 * 2 = 12, c3 12 + 6 * 2 = 24, fc8 (1x1) 24
    assert geometry_table(net, 37, 30)["receptive_field"] == 24
