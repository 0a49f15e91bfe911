"""``conv2d`` under the default policy on this backend is XLA's convolution: same values, same
gradients, for every layer shape of the FCNs; the banded kernel gradient covers every row; the
tiled max pool is Caffe's. (Each form on its own, and the choice: ``test_kernels.py``.)"""

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


def pool_reference(x: np.ndarray, ceil: bool):
    """Caffe's 2x2/2 max pooling of ``x`` by loops: each window's cells inside the image (the
    last partial window kept when ``ceil``), the maximum and the position of its first
    occurrence in row-major order, where Caffe's backward pass sends the whole gradient."""
    n, height, width, c = x.shape
    rows, cols = ((-(-size // 2)) if ceil else size // 2 for size in (height, width))
    out = np.zeros((n, rows, cols, c), x.dtype)
    first = np.zeros((n, rows, cols, c, 2), int)
    for b, i, j, ch in np.ndindex(n, rows, cols, c):
        cells = [(a, d) for a in (2 * i, 2 * i + 1) for d in (2 * j, 2 * j + 1)
                 if a < height and d < width]  # fmt: skip
        values = [x[b, a, d, ch] for a, d in cells]
        out[b, i, j, ch] = max(values)
        first[b, i, j, ch] = cells[values.index(max(values))]
    return out, first


@pytest.mark.parametrize("ceil", [True, False])
@pytest.mark.parametrize(("height", "width"), [(8, 8), (7, 9), (2, 3)])
def test_tiled_max_pool_is_caffes_pool_with_its_gradient(height, width, ceil):
    from fcn_jax.models.layers import MaxPool

    pool = MaxPool(2, 2, ceil=ceil)
    rng = np.random.default_rng(height * width)
    # ReLU-like input: many ties at zero, where all the gradient must go to the first maximum
    x = np.maximum(rng.standard_normal((2, height, width, 3)), 0).astype(np.float32)
    ours, ours_vjp = jax.vjp(lambda x: pool.apply({}, x), jnp.asarray(x))
    expected, first = pool_reference(x, ceil)
    np.testing.assert_array_equal(ours, expected)
    g = rng.standard_normal(expected.shape).astype(np.float32)
    dx = np.zeros_like(x)
    for b, i, j, ch in np.ndindex(*expected.shape):
        a, d = first[b, i, j, ch]
        dx[b, a, d, ch] += g[b, i, j, ch]
    np.testing.assert_array_equal(ours_vjp(jnp.asarray(g))[0], dx)
