"""Convolutionalization: a classifier's fully connected layers as convolutions."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest
from flax import linen as nn

from fcn_jax.geometry import chain
from fcn_jax.models.layers import Conv
from fcn_jax.models.vgg import vgg16
from fcn_jax.weights.surgery import convolutionalize

WIDTH = 1 / 16  # channels 4, 8, 16, 32, 32; fc 256
FC = 256
CLASSES = 5


def test_convolutionalized_weight_computes_the_dense_layer():
    rng = np.random.default_rng(0)
    weight = rng.standard_normal((6, 3 * 2 * 4)).astype(np.float32)
    feature = rng.standard_normal((3, 2, 4)).astype(np.float32)  # (C, H, W) as torch/Caffe
    kernel = convolutionalize(weight, (3, 2, 4))
    out = jax.lax.conv_general_dilated(
        jnp.asarray(feature.transpose(1, 2, 0))[None],
        jnp.asarray(kernel),
        (1, 1),
        "VALID",
        dimension_numbers=("NHWC", "HWIO", "NHWC"),
    )
    np.testing.assert_allclose(out[0, 0, 0], weight @ feature.ravel(), rtol=1e-5)


def test_a_weight_of_the_wrong_size_is_named():
    with pytest.raises(ValueError, match=r"\(4, 10\).*2x2x2 input \(8 values\)"):
        convolutionalize(np.zeros((4, 10)), (2, 2, 2))


class Classifier(nn.Module):
    """A VGG16 classifier, convolutionalized: trunk up to fc7 plus fc8 as a 1x1 conv."""

    pad: int

    @nn.compact
    def __call__(self, x):
        for layer in vgg16(WIDTH, first_pad=self.pad, conv_pad=self.pad):
            x = layer(x)
        return Conv(CLASSES, 1, name="fc8")(x)


def dense_classifier(pool5, w6, b6, w7, b7, w8, b8):
    """The classifier as the reference runs it: flatten (C, H, W), three dense layers."""
    h = np.maximum(w6 @ pool5.transpose(2, 0, 1).ravel() + b6, 0)
    h = np.maximum(w7 @ h + b7, 0)
    return w8 @ h + b8


@pytest.fixture(scope="module")
def classifier_weights():
    rng = np.random.default_rng(1)
    w6 = rng.standard_normal((FC, 32 * 7 * 7)).astype(np.float32) / 40
    w7 = rng.standard_normal((FC, FC)).astype(np.float32) / 16
    w8 = rng.standard_normal((CLASSES, FC)).astype(np.float32) / 16
    biases = [rng.standard_normal(n).astype(np.float32) / 10 for n in (FC, FC, CLASSES)]
    return w6, w7, w8, biases


def params_for(pad, size, weights, seed=2):
    """Random conv weights; fc6/fc7/fc8 transplanted from the dense classifier."""
    w6, w7, w8, (b6, b7, b8) = weights
    shapes = jax.eval_shape(Classifier(pad).init, jax.random.key(0), jnp.zeros((1, size, size, 3)))
    rng = np.random.default_rng(seed)
    params = jax.tree.map(
        lambda p: (rng.standard_normal(p.shape) * 0.2).astype(np.float32), shapes["params"]
    )
    params["fc6"] = {"kernel": convolutionalize(w6, (32, 7, 7)), "bias": b6}
    params["fc7"] = {"kernel": convolutionalize(w7, (FC, 1, 1)), "bias": b7}
    params["fc8"] = {"kernel": convolutionalize(w8, (FC, 1, 1)), "bias": b8}
    return params


def pool5_of(pad, params, image):
    _, state = Classifier(pad).apply(
        {"params": params},
        jnp.asarray(image)[None],
        capture_intermediates=lambda mdl, _: mdl.name == "pool5",
        mutable=["intermediates"],
    )
    return np.asarray(state["intermediates"]["pool5"]["__call__"][0][0])


@pytest.mark.slow
def test_on_its_own_input_size_the_conv_net_is_the_classifier(classifier_weights):
    w6, w7, w8, (b6, b7, b8) = classifier_weights
    params = params_for(1, 224, classifier_weights)
    image = np.random.default_rng(3).standard_normal((224, 224, 3)).astype(np.float32)
    out = np.asarray(jax.jit(Classifier(1).apply)({"params": params}, image[None]))
    assert out.shape == (1, 1, 1, CLASSES)
    expected = dense_classifier(pool5_of(1, params, image), w6, b6, w7, b7, w8, b8)
    np.testing.assert_allclose(out[0, 0, 0], expected, rtol=1e-4, atol=1e-4)


def patch_outputs(pad, size, params, image):
    """Each output cell next to the classifier run on that cell's receptive-field patch."""
    net = Classifier(pad)
    whole = np.asarray(jax.jit(net.apply)({"params": params}, image[None]))[0]
    layers = vgg16(WIDTH, first_pad=pad, conv_pad=pad)
    fc8 = chain((layer.op for layer in layers if layer.op is not None), size, size)
    patch = int(fc8.field.k) if pad == 0 else 224
    run = jax.jit(net.apply)
    cells = []
    for i in range(whole.shape[0]):
        for j in range(whole.shape[1]):
            # The patch is the unit's receptive field, centred where the geometry says.
            top = int(fc8.map(i) - (patch - 1) / 2)
            left = int(fc8.map(j) - (patch - 1) / 2)
            crop = image[top : top + patch, left : left + patch]
            cells.append((whole[i, j], np.asarray(run({"params": params}, crop[None]))[0, 0, 0]))
    return cells


def test_without_padding_every_cell_is_the_classifier_on_its_patch(classifier_weights):
    # Without zero padding a unit's input is exactly its 404-pixel receptive field.
    size = 404 + 32
    params = params_for(0, size, classifier_weights)
    image = np.random.default_rng(4).standard_normal((size, size, 3)).astype(np.float32)
    cells = patch_outputs(0, size, params, image)
    assert len(cells) == 4
    for whole, patch in cells:
        np.testing.assert_allclose(whole, patch, rtol=1e-4, atol=1e-4)


def test_with_reference_padding_cells_differ_from_224_patches(classifier_weights):
    # A 224 patch is smaller than the 404-pixel field: the patch sees zeros where the whole
    # image has pixels, so cells and patches differ. Measured here, not hidden.
    size = 224 + 32
    params = params_for(1, size, classifier_weights)
    image = np.random.default_rng(5).standard_normal((size, size, 3)).astype(np.float32)
    cells = patch_outputs(1, size, params, image)
    assert len(cells) == 4
    gaps = [np.abs(w - p).max() / np.abs(p).max() for w, p in cells]
    assert min(gaps) > 1e-3, gaps
