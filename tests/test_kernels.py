"""``fcn_jax.kernels``: every form a convolution or deconvolution can take is XLA's own in value
and in both gradients; the choice gives each layer shape the form written out by hand here, per
backend and policy; a net under ``kernels="xla"`` runs only XLA's convolutions and computes what
the same net under ``"auto"`` does."""

import re

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fcn_jax.kernels.choice import KERNELS, Form, conv_form, deconv_form
from fcn_jax.kernels.conv import convolve
from fcn_jax.kernels.deconv import deconvolve
from fcn_jax.models import build, build_from, layer_types
from fcn_jax.models.layers import Conv, Deconv

NHWC = ("NHWC", "HWIO", "NHWC")


def library(x, kernel, stride=1, pad=0, groups=1, dilation=1):
    return jax.lax.conv_general_dilated(
        x, kernel, (stride, stride), ((pad, pad), (pad, pad)), dimension_numbers=NHWC,
        feature_group_count=groups, rhs_dilation=(dilation, dilation),
    )  # fmt: skip


def library_deconv(x, kernel, stride, pad):
    """Caffe's deconvolution as JAX's transposed convolution: the gradient of a stride-``stride``
    convolution with ``kernel`` read as (k, k, out, in), cropped by ``pad``."""
    k = kernel.shape[0]
    full = jax.lax.conv_transpose(
        x, kernel.transpose(0, 1, 3, 2), (stride, stride), "VALID", dimension_numbers=NHWC,
        transpose_kernel=True,
    )  # fmt: skip
    height, width = (stride * (n - 1) + k - 2 * pad for n in x.shape[1:3])
    return full[:, pad : pad + height, pad : pad + width]


def assert_same_values_and_gradients(ours, ref, x, kernel, tolerance, seed=0):
    """``ours(x, kernel)`` and ``ref(x, kernel)`` agree, and so do their input and kernel
    gradients for a random output gradient."""
    out, ours_vjp = jax.vjp(ours, x, kernel)
    expected, ref_vjp = jax.vjp(ref, x, kernel)
    assert out.shape == expected.shape
    scale = float(jnp.abs(expected).max())
    np.testing.assert_allclose(out, expected, rtol=tolerance, atol=tolerance * scale)
    g = jnp.asarray(np.random.default_rng(seed).standard_normal(expected.shape), jnp.float32)
    for a, b in zip(jax.jit(ours_vjp)(g), ref_vjp(g), strict=True):
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance * float(jnp.abs(b).max()))


def random(shape, seed):
    return jnp.asarray(np.random.default_rng(seed).standard_normal(shape), jnp.float32)


FORM_CASES = [  # (form, (batch, height, width, in, out, k, stride, pad), tolerance)
    (Form.POINTWISE, (1, 6, 7, 8, 5, 1, 1, 0), 1e-5),
    (Form.POINTWISE, (2, 9, 8, 4, 6, 1, 2, 1), 1e-5),  # strided, padded: a ResNet shortcut
    (Form.IM2COL, (1, 11, 9, 3, 8, 3, 1, 2), 1e-5),  # conv1_1 on an accelerator
    (Form.IM2COL, (2, 9, 11, 8, 16, 7, 1, 0), 1e-5),  # fc6
    (Form.BANDED, (2, 13, 10, 4, 6, 3, 1, 1), 1e-5),
    (Form.BANDED, (1, 5, 4, 6, 10, 2, 1, 1), 1e-5),  # a deconvolution's phase convolution
    (Form.WINOGRAD_F4, (1, 10, 9, 4, 5, 3, 1, 1), 5e-5),
    (Form.WINOGRAD_F2, (2, 7, 8, 4, 3, 3, 1, 2), 1e-5),
]


@pytest.mark.parametrize("form, case, tolerance", FORM_CASES)
def test_every_convolution_form_is_xlas_convolution(form, case, tolerance):
    n, h, w, cin, cout, k, stride, pad = case
    x, kernel = random((n, h, w, cin), h * w), random((k, k, cin, cout), k + cout)
    assert_same_values_and_gradients(
        lambda x, kernel: convolve(form, x, kernel, stride, pad),
        lambda x, kernel: library(x, kernel, stride, pad),
        x, kernel, tolerance,
    )  # fmt: skip


@pytest.mark.parametrize("form", [Form.PHASES, Form.DILATED])
@pytest.mark.parametrize("k, stride, pad", [(4, 2, 0), (3, 2, 1), (16, 8, 0), (5, 3, 2)])
def test_every_deconvolution_form_is_jaxs_transposed_convolution(form, k, stride, pad):
    x, kernel = random((2, 4, 5, 3), k * stride), random((k, k, 3, 2), pad)
    assert_same_values_and_gradients(
        lambda x, kernel: deconvolve(form, x, kernel, stride, pad),
        lambda x, kernel: library_deconv(x, kernel, stride, pad),
        x, kernel, 1e-5,
    )  # fmt: skip


def shape(layer):
    """(x shape, kernel shape, stride, pad) of a named layer shape."""
    n, h, w, cin, cout, k, stride, pad = layer
    return (n, h, w, cin), (k, k, cin, cout), stride, pad


VGG_500 = {  # FCN-8s at 500x500 (caffe alignment), and others, as (n, h, w, in, out, k, s, pad)
    "conv1_1": (1, 500, 500, 3, 64, 3, 1, 100),
    "conv1_2": (1, 698, 698, 64, 64, 3, 1, 1),
    "conv5_1": (1, 44, 44, 512, 512, 3, 1, 1),
    "fc6": (1, 22, 22, 512, 4096, 7, 1, 0),
    "fc7": (1, 16, 16, 4096, 4096, 1, 1, 0),
    "upscore2 phases": (1, 16, 16, 21, 84, 2, 1, 1),
    "alexnet conv1": (1, 500, 500, 3, 96, 11, 4, 100),
    "5x5 over 120 pixels": (1, 12, 10, 4, 8, 5, 1, 2),
    "fc6-like, batch 2": (2, 9, 11, 16, 16, 7, 1, 0),  # 15 output pixels per image <= 16
    "fc6-like, fewer outputs": (2, 9, 11, 16, 12, 7, 1, 0),  # 15 > 12
}
EXPECTED = {  # by hand from the rules in choice.conv_form's docstring
    "cpu": {
        "conv1_1": Form.BANDED,  # 3 x 64 channel pairs: too few for Winograd
        "conv1_2": Form.WINOGRAD_F4,  # 698 x 698 output pixels
        "conv5_1": Form.WINOGRAD_F2,  # 44 x 44 < 64 x 64 output pixels
        "fc6": Form.IM2COL,
        "fc7": Form.POINTWISE,
        "upscore2 phases": Form.BANDED,
        "alexnet conv1": Form.NATIVE,  # stride 4
        "5x5 over 120 pixels": Form.IM2COL,
        "fc6-like, batch 2": Form.IM2COL,
        "fc6-like, fewer outputs": Form.IM2COL,
    },
    "gpu": {
        "conv1_1": Form.IM2COL,  # 27 inputs per output
        "conv1_2": Form.NATIVE,
        "conv5_1": Form.NATIVE,
        "fc6": Form.IM2COL,  # 256 output pixels, 4096 outputs
        "fc7": Form.NATIVE,
        "upscore2 phases": Form.NATIVE,  # 17 x 17 output pixels > 84 outputs
        "alexnet conv1": Form.NATIVE,
        "5x5 over 120 pixels": Form.NATIVE,
        "fc6-like, batch 2": Form.IM2COL,
        "fc6-like, fewer outputs": Form.NATIVE,
    },
}
EXPECTED["tpu"] = EXPECTED["gpu"]


@pytest.mark.parametrize("backend", ["cpu", "gpu", "tpu"])
def test_auto_gives_each_layer_the_form_written_out_by_hand(backend):
    got = {name: conv_form("auto", backend, *shape(layer)) for name, layer in VGG_500.items()}
    assert got == EXPECTED[backend]
    assert deconv_form("auto", backend) is Form.PHASES


def test_winograd_and_grouped_or_dilated_layers_by_hand():
    x, kernel, _, _ = shape(VGG_500["conv1_2"])
    assert conv_form("auto", "cpu", x, kernel, pad=1, dtype=jnp.bfloat16) is Form.BANDED
    assert conv_form("auto", "cpu", x, kernel, pad=1, dtype=None) is Form.BANDED  # mixed
    assert conv_form("auto", "cpu", x, kernel, pad=1, dilation=2) is Form.NATIVE
    assert conv_form("auto", "cpu", x, (3, 3, 32, 64), pad=1, groups=2) is Form.NATIVE
    assert conv_form("auto", "cpu", x, (1, 1, 32, 64), groups=2) is Form.NATIVE
    assert conv_form("auto", "cpu", (0, *x[1:]), kernel, pad=1) is Form.BANDED  # empty batch


@pytest.mark.parametrize("backend", ["cpu", "gpu", "tpu"])
def test_xla_gives_xlas_convolution_everywhere(backend):
    forms = {conv_form("xla", backend, *shape(layer)) for layer in VGG_500.values()}
    assert forms == {Form.NATIVE}
    assert deconv_form("xla", backend) is Form.DILATED


def test_an_unknown_policy_is_refused_with_the_choices():
    assert KERNELS == ("auto", "xla")
    with pytest.raises(ValueError, match=r"kernels must be one of auto, xla; got 'fast'"):
        conv_form("fast", "cpu", (1, 8, 8, 3), (3, 3, 3, 4))
    with pytest.raises(ValueError, match=r"one of auto, xla; got 'XLA'"):
        deconv_form("XLA", "cpu")
    with pytest.raises(ValueError, match=r"one of auto, xla; got 'fast'"):
        build("fcn32s", 3, kernels="fast")


def test_the_net_carries_its_policy_and_descriptions_without_one_are_auto():
    assert build("fcn-resnet50", 3, width=1 / 16, kernels="xla").kernels == "xla"
    assert build("vgg16", 3, width=1 / 16, kernels="xla").kernels == "xla"
    assert build_from({"arch": "fcn8s", "num_classes": 3, "kernels": "xla"}).kernels == "xla"
    assert build_from({"arch": "fcn8s", "num_classes": 3}).kernels == "auto"  # older runs


@pytest.mark.slow
def test_a_net_under_xla_runs_only_xlas_convolutions_and_computes_what_auto_does():
    # width 1/8: conv4 and conv5 have 64 x 64 channel pairs, so on the CPU "auto" takes
    # Winograd there, the banded gradient, im2col (fc6), products (1x1) and phase deconvolutions
    nets = {policy: build("fcn8s", 3, width=1 / 8, kernels=policy) for policy in KERNELS}
    x = random((1, 24, 20, 3), 0)
    params = nets["auto"].init(jax.random.key(0), x)
    # the score layers and biases start at zero: random, so every layer's gradient is nonzero
    params = jax.tree.map(lambda p: p if jnp.any(p) else random(p.shape, p.size) * 0.1, params)

    def loss(params, net):
        logits = net.apply(params, x)
        return jnp.sum(logits * random(logits.shape, 1)), logits

    text = str(jax.make_jaxpr(lambda p: loss(p, nets["xla"]))(params))
    convolutions = [n for n, t in layer_types(nets["xla"]).items() if t in (Conv, Deconv)]
    assert len(re.findall(r"\bconv_general_dilated\b", text)) == len(convolutions)
    assert "custom_vjp" not in text and "scan" not in text and "dot_general" not in text

    got = {p: jax.grad(loss, has_aux=True)(params, net) for p, net in nets.items()}
    (grad_auto, logits_auto), (grad_xla, logits_xla) = got["auto"], got["xla"]
    scale = float(jnp.abs(logits_xla).max())
    assert scale > 0
    np.testing.assert_allclose(logits_auto, logits_xla, rtol=1e-4, atol=1e-4 * scale)
    for a, b in zip(jax.tree.leaves(grad_auto), jax.tree.leaves(grad_xla), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-3, atol=1e-4 * float(jnp.abs(b).max()))


def test_an_unknown_kernels_setting_is_one_line_naming_it(tmp_path):
    from fcn_jax import cli

    with pytest.raises(SystemExit) as stopped:  # its message is what the user sees, one line
        cli.main(["train", "--workdir", str(tmp_path), "--config.kernels=fast"])
    said = "fcn-jax train: config.kernels='fast': must be one of 'auto', 'xla'"
    assert str(stopped.value) == said
