"""The CPU convolution paths (banded kernel gradient, im2col) are XLA's convolution: same
values, same gradients, for every layer shape of the FCNs."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fcn_jax.kernels.conv import NHWC, conv2d, kernel_gradient


def library(x, kernel, stride, pad, groups):
    return jax.lax.conv_general_dilated(
        x, kernel, (stride, stride), ((pad, pad), (pad, pad)), dimension_numbers=NHWC,
        feature_group_count=groups,
    )  # fmt: skip


CASES = [  # (batch, height, width, in, out, k, stride, pad, groups)
    (1, 37, 29, 3, 8, 3, 1, 100 % 7, 1),  # conv1_1-like, odd sizes
    (2, 23, 18, 8, 16, 3, 1, 1, 1),  # conv3_x-like, batch 2
    (1, 9, 11, 16, 32, 7, 1, 0, 1),  # fc6: 7x7, im2col path
    (1, 3, 3, 16, 8, 7, 1, 3, 1),  # fc6 of 'same' alignment on a tiny map
    (1, 5, 4, 6, 10, 2, 1, 1, 1),  # a deconvolution's phase convolution
    (1, 19, 19, 3, 6, 11, 4, 5, 1),  # AlexNet conv1: the library path
    (1, 12, 12, 8, 8, 5, 1, 2, 2),  # grouped: the library path
    (1, 6, 7, 32, 21, 1, 1, 0, 1),  # fc7 / score layers: 1x1, a product over channels
    (2, 9, 8, 16, 24, 1, 2, 0, 1),  # ResNet's strided 1x1 shortcut, odd size
    (1, 5, 5, 8, 4, 1, 3, 1, 1),  # 1x1 with padding and stride 3
    (1, 8, 8, 8, 8, 1, 1, 0, 2),  # grouped 1x1: the library path
]


@pytest.mark.parametrize("case", CASES)
def test_values_and_gradients_equal_the_library_convolution(case):
    n, h, w, cin, cout, k, stride, pad, groups = case
    rng = np.random.default_rng(h * w + k)
    x = jnp.asarray(rng.standard_normal((n, h, w, cin)), jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((k, k, cin // groups, cout)), jnp.float32)
    ours, ours_vjp = jax.vjp(lambda x, w: conv2d(x, w, stride, pad, groups), x, kernel)
    ref, ref_vjp = jax.vjp(lambda x, w: library(x, w, stride, pad, groups), x, kernel)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * float(jnp.abs(ref).max()))
    g = jnp.asarray(rng.standard_normal(ref.shape), jnp.float32)
    for a, b in zip(jax.jit(ours_vjp)(g), ref_vjp(g), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.abs(b).max()))


def test_bands_cover_every_row_whatever_the_band_size(monkeypatch):
    # Force bands of 3 rows over 10 rows (the last band padded) and check against a numpy sum.
    import fcn_jax.kernels.conv as conv

    monkeypatch.setattr(conv, "MIN_BAND_PIXELS", 1)
    monkeypatch.setattr(conv, "BAND_BYTES", 3 * 7 * 9 * 2 * 4)
    rng = np.random.default_rng(0)
    x = rng.standard_normal((1, 10, 7, 2)).astype(np.float32)
    g = rng.standard_normal((1, 10, 7, 5)).astype(np.float32)
    padded = np.pad(x, ((0, 0), (1, 1), (1, 1), (0, 0)))
    expected = np.zeros((3, 3, 2, 5), np.float32)
    for a in range(3):
        for b in range(3):
            expected[a, b] = np.einsum("nhwc,nhwd->cd", padded[:, a : a + 10, b : b + 7], g)
    got = kernel_gradient(jnp.asarray(x), jnp.asarray(g), 3, 1)
    np.testing.assert_allclose(got, expected, rtol=1e-5, atol=1e-4)


@pytest.mark.parametrize("ceil", [True, False])
@pytest.mark.parametrize(("height", "width"), [(8, 8), (7, 9), (2, 3)])
def test_tiled_max_pool_equals_the_window_reduction_with_its_gradient(height, width, ceil):
    from fcn_jax.models.layers import MaxPool

    pool = MaxPool(2, 2, ceil=ceil)
    rng = np.random.default_rng(height * width)
    # ReLU-like input: many ties at zero, where all the gradient must go to the first maximum
    x = jnp.asarray(np.maximum(rng.standard_normal((2, height, width, 3)), 0), jnp.float32)
    ours, ours_vjp = jax.vjp(lambda x: pool.apply({}, x), x)

    def windows(x):  # XLA's window reduction; floor mode sees only whole windows
        if not ceil:
            x = x[:, : height // 2 * 2, : width // 2 * 2]
        return pool.reduce(x, -jnp.inf, jax.lax.max)

    ref, ref_vjp = jax.vjp(windows, x)
    np.testing.assert_array_equal(ours, ref)
    g = jnp.asarray(rng.standard_normal(ref.shape), jnp.float32)
    np.testing.assert_array_equal(ours_vjp(g)[0], ref_vjp(g)[0])


ACCELERATOR_CASES = [  # (case, one matrix product on a GPU)
    (CASES[0], True),  # conv1_1: 3 inputs per tap
    (CASES[1], False),  # a wider 3x3 layer: the library's
    (CASES[2], True),  # fc6: 15 output pixels, 32 outputs: copies smaller than the kernel
    ((1, 12, 10, 4, 8, 5, 1, 2, 1), False),  # a 5x5 layer over 120 pixels: the library's
    ((2, 9, 11, 16, 16, 7, 1, 0, 1), True),  # fc6-like, batch 2: 15 output pixels per image
    ((2, 9, 11, 16, 12, 7, 1, 0, 1), False),  # 15 output pixels per image > 12 outputs
]


@pytest.mark.parametrize("case, matmul", ACCELERATOR_CASES)
def test_accelerator_paths_equal_the_library_convolution(case, matmul, monkeypatch):
    # On a GPU, conv1_1 (3 input channels: cuDNN's kernel gradient of it ran at 157 GFLOP/s on
    # an H100) and fc6 (cuDNN re-lays out its 411 MB kernel every call) are one matrix product
    # with no convolution in it; other layers are the library's own. All must be XLA's
    # convolution in value and gradients: run them here with the backend reported as a GPU.
    import fcn_jax.kernels.conv as conv

    monkeypatch.setattr(conv.jax, "default_backend", lambda: "gpu")
    n, h, w, cin, cout, k, stride, pad, groups = case
    rng = np.random.default_rng(cin)
    x = jnp.asarray(rng.standard_normal((n, h, w, cin)), jnp.float32)
    kernel = jnp.asarray(rng.standard_normal((k, k, cin, cout)), jnp.float32)
    jaxpr = str(jax.make_jaxpr(lambda x, w: conv2d(x, w, stride, pad))(x, kernel))
    assert ("conv_general_dilated" not in jaxpr) == matmul
    ours, ours_vjp = jax.vjp(lambda x, w: conv2d(x, w, stride, pad), x, kernel)
    ref, ref_vjp = jax.vjp(lambda x, w: library(x, w, stride, pad, groups), x, kernel)
    np.testing.assert_allclose(ours, ref, rtol=1e-4, atol=1e-4 * float(jnp.abs(ref).max()))
    g = jnp.asarray(rng.standard_normal(ref.shape), jnp.float32)
    for a, b in zip(ours_vjp(g), ref_vjp(g), strict=True):
        np.testing.assert_allclose(a, b, rtol=1e-4, atol=1e-4 * float(jnp.abs(b).max()))
