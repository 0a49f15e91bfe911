"""Model construction: shapes, parameter counts, initialisation, modes and errors."""

import itertools

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fcn_jax.models import ALIGNMENTS, ARCHS, build
from fcn_jax.models.layers import Crop, bilinear_kernel, transposed_conv

SMALL = 1 / 16
# Without the VGG nets' pad 100, GoogLeNet's 7x7/2 conv and four 3x3/2 pools need 31 pixels:
# 31 -> 16 -> 8 -> 4 -> 2 -> 1 (each pool must get at least 2 units; 30 -> 15 -> 7 -> 3 -> 1 -> 0).
GOOGLENET_MIN = 31


def init_shapes(module, shape):
    x = jax.ShapeDtypeStruct(shape, jnp.float32)
    return jax.eval_shape(module.init_with_output, jax.random.key(0), x)


@pytest.mark.parametrize("arch", ARCHS)
@pytest.mark.parametrize("align", ALIGNMENTS)
@pytest.mark.parametrize("size", [(1, 1), (7, 300), (31, 33), (500, 375), (513, 2)])
def test_logits_are_exactly_input_sized(arch, align, size):
    if "googlenet" in arch and min(size) < GOOGLENET_MIN:
        with pytest.raises(ValueError, match=rf"input of {size[0]}x{size[1]} pixels is too small"):
            init_shapes(build(arch, 21, align=align), (2, *size, 3))
        return
    out, _ = init_shapes(build(arch, 21, align=align), (2, *size, 3))
    assert out.shape == (2, *size, 21) and out.dtype == jnp.float32


def reference_param_count(arch, num_classes):
    """Counted from the reference prototxts' layer table, not from our modules."""

    def conv(k, cin, cout, groups=1, bias=True):
        return k * k * cin // groups * cout + (cout if bias else 0)

    n = num_classes
    if "resnet" in arch:  # torchvision's published totals for fcn_resnet50/101 (aux head on)
        return {"fcn-resnet50": 35_322_218, "fcn-resnet101": 54_314_346}[arch]
    if "googlenet" in arch:  # bvlc_googlenet's table (Szegedy et al. 2015, Table 1)
        trunk = conv(7, 3, 64) + conv(1, 64, 64) + conv(3, 64, 192)
        cin = 192
        for c1, r3, c3, r5, c5, pp in [
            (64, 96, 128, 16, 32, 32), (128, 128, 192, 32, 96, 64), (192, 96, 208, 16, 48, 64),
            (160, 112, 224, 24, 64, 64), (128, 128, 256, 24, 64, 64), (112, 144, 288, 32, 64, 64),
            (256, 160, 320, 32, 128, 128), (256, 160, 320, 32, 128, 128),
            (384, 192, 384, 48, 128, 128),
        ]:  # fmt: skip
            trunk += conv(1, cin, c1) + conv(1, cin, r3) + conv(3, r3, c3)
            trunk += conv(1, cin, r5) + conv(5, r5, c5) + conv(1, cin, pp)
            cin = c1 + c3 + c5 + pp
        trunk += conv(1, 1024, n)
        skip16 = conv(3, n, n, bias=False) + conv(1, 832, n)
        skip8 = conv(3, n, n, bias=False) + conv(1, 480, n)
        return (
            trunk
            + {
                "fcn32s-googlenet": conv(63, n, n, bias=False),
                "fcn16s-googlenet": skip16 + conv(31, n, n, bias=False),
                "fcn8s-googlenet": skip16 + skip8 + conv(15, n, n, bias=False),
            }[arch]
        )
    if arch == "fcn-alexnet":
        trunk = (
            conv(11, 3, 96)
            + conv(5, 96, 256, 2)
            + conv(3, 256, 384)
            + conv(3, 384, 384, 2)
            + conv(3, 384, 256, 2)
            + conv(6, 256, 4096)
            + conv(1, 4096, 4096)
        )
        return trunk + conv(1, 4096, n) + conv(63, n, n, bias=False)
    chans = [3, 64, 64, 128, 128, 256, 256, 256, 512, 512, 512, 512, 512, 512]
    trunk = sum(conv(3, a, b) for a, b in itertools.pairwise(chans))
    trunk += conv(7, 512, 4096) + conv(1, 4096, 4096) + conv(1, 4096, n)
    heads = {
        "fcn32s": conv(64, n, n, bias=False),
        "fcn16s": conv(4, n, n, bias=False) + conv(1, 512, n) + conv(32, n, n, bias=False),
        "fcn8s": 2 * conv(4, n, n, bias=False)
        + conv(1, 512, n)
        + conv(1, 256, n)
        + conv(16, n, n, bias=False),
    }
    return trunk + heads[arch.removesuffix("-atonce")]


@pytest.mark.parametrize("arch", ARCHS)
def test_parameter_counts_equal_the_reference_nets(arch):
    _, variables = init_shapes(build(arch, 21, aux="resnet" in arch), (1, 64, 64, 3))
    count = sum(p.size for p in jax.tree.leaves(variables["params"]))
    assert count == reference_param_count(arch, 21)


def test_parameter_names_follow_the_caffe_layers():
    _, variables = init_shapes(build("fcn8s", 21), (1, 64, 64, 3))
    names = set(variables["params"])
    assert {"conv1_1", "conv5_3", "fc6", "fc7", "score_fr", "score_pool4", "score_pool3"} <= names
    assert {"upscore2", "upscore_pool4", "upscore8"} <= names
    assert set(variables["params"]["upscore8"]) == {"kernel"}  # deconvs have no bias


def random_params(net, shape, seed=0):
    """Random params of the right shapes, drawn with numpy (compiling jax's init is slow)."""
    rng = np.random.default_rng(seed)
    _, variables = init_shapes(net, shape)
    return jax.tree.map(
        lambda p: (0.3 * rng.standard_normal(p.shape)).astype(np.float32), variables["params"]
    )


@pytest.fixture(scope="module")
def fcn8s_small():
    net = build("fcn8s", 3, width=SMALL)
    x = jax.random.normal(jax.random.key(1), (2, 40, 52, 3))
    return net, random_params(net, x.shape), x


def test_initialisation_is_the_references():
    # Score layers start at zero, so the untrained net outputs zero; deconvolutions start
    # bilinear; convs are He-initialised (std sqrt(2 / fan_in)).
    net = build("fcn16s", 3, width=SMALL)
    x = jax.random.normal(jax.random.key(1), (1, 24, 24, 3))
    params = jax.jit(net.init)(jax.random.key(0), x)["params"]
    assert not np.any(np.asarray(jax.jit(net.apply)({"params": params}, x)))
    assert not np.any(params["score_fr"]["kernel"]) and not np.any(params["score_pool4"]["kernel"])
    np.testing.assert_array_equal(params["upscore16"]["kernel"], bilinear_kernel(32, 3, 3))
    fc6 = np.asarray(params["fc6"]["kernel"])
    fan_in = 7 * 7 * fc6.shape[2]
    assert abs(fc6.std() / np.sqrt(2 / fan_in) - 1) < 0.05


def test_dropout_only_in_training_mode(fcn8s_small):
    net, params, x = fcn8s_small
    apply = jax.jit(net.apply, static_argnames="train")
    a, b = apply({"params": params}, x), apply({"params": params}, x, train=False)
    np.testing.assert_array_equal(a, b)
    c = apply({"params": params}, x, train=True, rngs={"dropout": jax.random.key(3)})
    assert not np.allclose(a, c)
    with pytest.raises(Exception, match="dropout"):
        apply({"params": params}, x, train=True)


def test_bilinear_kernel_taps_by_hand():
    # factor 2 (k=4): 1/4, 3/4, 3/4, 1/4; odd k=3 (factor 2): 1/2, 1, 1/2; off-diagonal zero.
    k4 = bilinear_kernel(4, 2, 2)
    np.testing.assert_allclose(k4[:, 0, 0, 0] / k4[0, 0, 0, 0] * 0.25, [0.25, 0.75, 0.75, 0.25])
    np.testing.assert_allclose(k4[1, :, 1, 1], 0.75 * np.array([0.25, 0.75, 0.75, 0.25]))
    assert not k4[:, :, 0, 1].any()
    np.testing.assert_allclose(bilinear_kernel(3, 1, 1)[1, :, 0, 0], [0.5, 1, 0.5])


@pytest.mark.parametrize(
    ("k", "s", "pad"), [(4, 2, 0), (16, 8, 0), (64, 32, 0), (63, 32, 0), (4, 2, 1), (3, 2, 1)]
)
def test_deconvolution_is_the_scatter_definition(k, s, pad):
    # Caffe/torch: input unit i writes kernel[a] * x[i] to output s*i - pad + a.
    rng = np.random.default_rng(k + s + pad)
    x = rng.standard_normal((1, 3, 2, 2)).astype(np.float32)
    kernel = rng.standard_normal((k, k, 2, 3)).astype(np.float32)
    full = np.zeros((1, 2 * s + k, s + k, 3), np.float32)
    for i, j in itertools.product(range(3), range(2)):
        full[0, s * i : s * i + k, s * j : s * j + k] += np.einsum(
            "c,abcd->abd", x[0, i, j], kernel
        )
    expected = full[:, pad : pad + 2 * s + k - 2 * pad, pad : pad + s + k - 2 * pad]
    got = np.asarray(transposed_conv(jnp.asarray(x), jnp.asarray(kernel), s, pad))
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-5)


def test_fixed_bilinear_upsampling_interpolates_linearly():
    # A linear ramp upsampled by the fixed bilinear deconv stays a ramp away from the borders.
    from fcn_jax.models.layers import Deconv

    ramp = jnp.arange(6.0)[None, :, None, None] * jnp.ones((1, 6, 6, 1))
    layer = Deconv(1, 4, 2)
    up, _ = layer.init_with_output(jax.random.key(0), ramp)
    # Output o sits at input coordinate (o - 1.5) / 2 (the deconv's coordinate map).
    inner = np.asarray(up[0, 3:10, 5, 0])
    np.testing.assert_allclose(inner, (np.arange(3, 10) - 1.5) / 2, atol=1e-6)


def test_upsampling_is_fixed_unless_learnable(fcn8s_small):
    _, params, x = fcn8s_small
    for learnable in (False, True):
        net = build("fcn8s", 3, width=SMALL, learnable_upsampling=learnable)
        grads = jax.jit(jax.grad(lambda p, net=net: net.apply({"params": p}, x).sum()))(params)
        assert bool(np.any(grads["upscore8"]["kernel"])) == learnable
        assert np.any(grads["score_fr"]["kernel"])


def test_at_once_scaling_is_the_skip_weights_scaled(fcn8s_small):
    # Scaling pool4 by 0.01 before score_pool4 equals scaling score_pool4's kernel by 0.01.
    _, params, x = fcn8s_small
    at_once = jax.jit(build("fcn8s-atonce", 3, width=SMALL).apply)({"params": params}, x)
    scaled = jax.tree.map(lambda p: p, params)
    scaled["score_pool4"] = {**params["score_pool4"]}
    scaled["score_pool4"]["kernel"] = params["score_pool4"]["kernel"] * 0.01
    scaled["score_pool3"] = {**params["score_pool3"]}
    scaled["score_pool3"]["kernel"] = params["score_pool3"]["kernel"] * 0.0001
    plain = jax.jit(build("fcn8s", 3, width=SMALL).apply)({"params": scaled}, x)
    np.testing.assert_allclose(at_once, plain, rtol=1e-5, atol=1e-5)


def fcn16s_parameter_shapes(classes: int, width: float) -> dict:
    """voc-fcn16s's layers, typed from its prototxt (VGG16's 3x3 blocks of 64-512 channels,
    fc6 7x7 and fc7 of 4096, the score layers, two bias-free deconvolutions), every channel
    count but the image's and the classes' scaled by ``width``; HWIO kernels."""
    c = [round(n * width) for n in (64, 128, 256, 512, 512)]
    fc, n = round(4096 * width), classes
    shapes, cin = {}, 3
    for block, (count, cout) in enumerate(zip((2, 2, 3, 3, 3), c, strict=True), start=1):
        for i in range(1, count + 1):
            shapes[f"conv{block}_{i}"] = {"kernel": (3, 3, cin, cout), "bias": (cout,)}
            cin = cout
    shapes["fc6"] = {"kernel": (7, 7, c[4], fc), "bias": (fc,)}
    shapes["fc7"] = {"kernel": (1, 1, fc, fc), "bias": (fc,)}
    shapes["score_fr"] = {"kernel": (1, 1, fc, n), "bias": (n,)}
    shapes["score_pool4"] = {"kernel": (1, 1, c[3], n), "bias": (n,)}
    shapes["upscore2"] = {"kernel": (4, 4, n, n)}
    shapes["upscore16"] = {"kernel": (32, 32, n, n)}
    return shapes


@pytest.mark.parametrize("align", ALIGNMENTS)
def test_each_alignment_has_the_reference_layers_and_shapes(align):
    # Alignment moves crops, never parameters: both have the reference net's layer table
    _, variables = init_shapes(build("fcn16s", 5, width=SMALL, align=align), (1, 50, 50, 3))
    shapes = jax.tree.map(lambda p: p.shape, variables["params"])
    assert shapes == fcn16s_parameter_shapes(5, SMALL)


def test_bad_options_and_inputs_are_clear_errors():
    with pytest.raises(ValueError, match="unknown arch 'fcn4s'"):
        build("fcn4s", 21)
    with pytest.raises(ValueError, match="align must be one of"):
        build("fcn8s", 21, align="valid")
    with pytest.raises(ValueError, match="num_classes"):
        build("fcn8s", 0)
    with pytest.raises(ValueError, match="NHWC"):
        init_shapes(build("fcn8s", 21), (64, 64, 3))
    with pytest.raises(ValueError, match=r"at least 1x1.*0x5"):
        init_shapes(build("fcn8s", 21), (1, 0, 5, 3))


def test_a_crop_that_does_not_fit_names_itself_and_the_sizes():
    crop = Crop(31, bottom="upscore8", name="score")
    with pytest.raises(ValueError, match=r"crop score: upscore8 has 40 rows.*31 \+ target 10"):
        crop.apply({}, jnp.zeros((1, 40, 60, 2)), (10, 10))
