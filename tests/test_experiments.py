"""The identities behind experiments/: each checked at tiny sizes against an independent value
(hand-derived numbers, a numpy reference, or the definition computed another way)."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from experiments.patchwise_vs_whole import classifier, compare, patch_size, patch_starts
from experiments.shift_and_stitch import init, output_stride, run, shift_and_stitch
from experiments.skips_on_synthetic import band_counts, boundary_band
from experiments.table1 import conv_depth_and_count, deconv_paths, parameter_counts
from experiments.whole_is_patchwise import (
    field,
    patch_gradients,
    relative_difference,
    small_net,
    whole_gradient,
)
from fcn_jax.models import build


def test_unpadded_alexnet_patchwise_equals_whole_and_padding_does_not():
    # Unpadded CaffeNet: receptive field by hand 11 -> 19 -> 51 -> 67 -> 163 -> 195 -> 355.
    net = classifier("alexnet", 5, 1 / 16, padding=False)
    assert patch_size(net, False, "alexnet") == 355
    image = jax.random.normal(jax.random.key(0), (355 + 64 + 7, 355 + 64 + 7, 3))
    params = jax.jit(net.init)(jax.random.key(1), image[None, :355, :355])["params"]
    exact = compare(net, params, image, 355, chunk=9)
    assert exact["cells"] == 3 and exact["support_is_patch"]
    assert exact["max_rel"] < 1e-5
    padded = classifier("alexnet", 5, 1 / 16, padding=True)
    params = jax.jit(padded.init)(jax.random.key(1), image[None, :227, :227])["params"]
    border = compare(padded, params, image[:291, :291], 227, chunk=9)
    assert border["cells"] == 3 and not border["support_is_patch"]
    assert border["max_rel"] > 1e-2  # zero padding inside each patch changes the scores


def test_patches_sit_at_the_output_stride():
    # Reference CaffeNet on 500x500: cell i's 227-pixel patch starts at 32 i; 9 fit (by hand:
    # 32 * 8 + 227 = 483 <= 500 < 515). Unpadded VGG16: one cell from exactly 404 pixels.
    alexnet = build("alexnet", 3, width=1 / 16)
    cells, starts = patch_starts(alexnet, 500, 227)
    np.testing.assert_array_equal(cells, np.arange(9))
    np.testing.assert_array_equal(starts, 32 * np.arange(9))
    # the whole map is 10x10 (by hand: conv1 123, pool1 61, pool2 30, pool5 15, fc6 10)
    cells, starts = patch_starts(alexnet, 500, 227, inside=False)
    np.testing.assert_array_equal(starts, 32 * np.arange(10))
    vgg = classifier("vgg16", 3, 1 / 32, padding=False)
    assert patch_size(vgg, False, "vgg16") == 404
    x = jax.ShapeDtypeStruct((1, 404, 404, 3), jnp.float32)
    shapes = jax.eval_shape(vgg.init, jax.random.key(0), x)
    assert jax.eval_shape(vgg.apply, shapes, x).shape == (1, 1, 1, 3)


def test_whole_image_gradient_is_the_sum_of_patch_gradients():
    net = small_net(num_classes=3, features=3)
    assert field(net) == (18, 4)  # by hand: 3 -> 4 -> 8 -> 10 -> 18, strides 1, 2, 2
    cells = 5
    size = 18 + 4 * (cells - 1)  # 5x5 output cells
    k1, k2, k3 = jax.random.split(jax.random.key(0), 3)
    image = jax.random.normal(k1, (size + cells, size + cells, 3))  # room for misaligned patches
    labels = jax.random.randint(k2, (cells, cells), 0, 3)
    params = jax.jit(net.init)(k3, image[None])["params"]
    whole = jax.jit(whole_gradient, static_argnums=0)(net, params, image[:size, :size], labels)
    patchwise = jax.jit(patch_gradients, static_argnums=(0, 4, 5))
    assert relative_difference(patchwise(net, params, image, labels, 18, 4), whole) < 1e-5
    shifted = patchwise(net, params, image, labels, 18, 5)
    assert relative_difference(shifted, whole) > 1e-2


def numpy_net(params, spec, x):
    """The coarse net in plain numpy loops: valid 'correlation', ReLU, floor-mode max pool."""
    x = np.asarray(x[0], np.float64)
    params = list(params)
    last = max(i for i, (kind, _, _) in enumerate(spec) if kind == "conv")
    for i, (kind, k, _) in enumerate(spec):
        h, w = x.shape[:2]
        if kind == "conv":
            kernel, bias = (np.asarray(a, np.float64) for a in params.pop(0))
            out = np.zeros((h - k + 1, w - k + 1, kernel.shape[-1]))
            for a in range(k):
                for b in range(k):
                    out += x[a : a + h - k + 1, b : b + w - k + 1] @ kernel[a, b]
            x = out + bias if i == last else np.maximum(out + bias, 0)
        else:
            x = x[: h // k * k, : w // k * k].reshape(h // k, k, w // k, k, -1).max(axis=(1, 3))
    return x


@pytest.mark.parametrize("pools", [(2,), (3,), (2, 2)])
def test_shift_and_stitch_equals_filter_rarefaction(pools):
    spec = [("conv", 3, 3)]
    for f in pools:
        spec += [("pool", f, None), ("conv", 3, 4)]
    spec += [("conv", 1, 2)]
    params = init(spec, 2, jax.random.key(len(spec)))
    x = jax.random.normal(jax.random.key(7), (1, 29, 31, 2))
    f = output_stride(spec)
    assert f == int(np.prod(pools))
    coarse = run(params, spec, x)
    np.testing.assert_allclose(coarse[0], numpy_net(params, spec, x), rtol=1e-4, atol=1e-4)
    stitched, rarefied = shift_and_stitch(params, spec, x), run(params, spec, x, rarefied=True)
    assert stitched.shape[1] == f * min(run(params, spec, x[:, a:]).shape[1] for a in range(f))
    h, w = stitched.shape[1:3]
    np.testing.assert_allclose(stitched, rarefied[:, :h, :w], rtol=1e-5, atol=1e-5)
    # the definition: dense output u is the coarse net's first cell on the input from u on
    for u, v in [(0, 0), (1, 2), (h - 1, w - 1)]:
        first = run(params, spec, x[:, u:, v:])[0, 0, 0]
        np.testing.assert_allclose(rarefied[0, u, v], first, rtol=1e-5, atol=1e-5)


def test_boundary_band_by_hand():
    label = np.zeros((6, 10), np.uint8)
    label[:, 5:] = 1  # boundary between columns 4 and 5
    band = boundary_band(label, 2)
    np.testing.assert_array_equal(band.any(axis=0), [c in (3, 4, 5, 6) for c in range(10)])
    assert band.all(axis=0).sum() == 4
    dot = np.zeros((9, 9), np.uint8)
    dot[4, 4] = 2
    assert boundary_band(dot, 1).sum() == 9  # the 3x3 square around the odd pixel
    predicted = label.copy()
    predicted[0, 0] = predicted[0, 4] = 1  # one error off the band, one in it
    np.testing.assert_array_equal(band_counts(label, predicted, 2), [23, 24, 35, 36])


def test_table1_counts_conv_layers_and_parameters_by_hand():
    # AlexNet: 5 convs + fc6 + fc7 + score_fr; VGG16: 13 + fc6 + fc7 + score_fr.
    assert conv_depth_and_count(build("fcn-alexnet", 21, width=1 / 16)) == (8, 8)
    assert conv_depth_and_count(build("fcn32s", 21, width=1 / 32)) == (16, 16)
    net = build("fcn-alexnet", 21)
    shapes = jax.eval_shape(net.init, jax.random.key(0), jnp.zeros((1, 64, 64, 3)))["params"]
    # conv1 34,944 + conv2 307,456 + conv3 885,120 + conv4 663,936 + conv5 442,624
    # + fc6 37,752,832 + fc7 16,781,312 + score_fr 86,037; upscore 63 * 63 * 21 * 21
    assert parameter_counts(shapes, deconv_paths(net)) == (56_954_261, 1_750_329)
