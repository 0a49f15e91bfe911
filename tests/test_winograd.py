"""Winograd's F(2x2, 3x3) and F(4x4, 3x3) convolutions are XLA's convolution: same values,
same input and kernel gradients, for odd and even sizes, every padding it takes, one band or
many."""

import jax
import jax.numpy as jnp
import numpy as np
import pytest

from fcn_jax.kernels import conv, winograd
from fcn_jax.kernels.choice import Form, conv_form


def library(x, kernel, pad):
    return jax.lax.conv_general_dilated(
        x, kernel, (1, 1), ((pad, pad), (pad, pad)), dimension_numbers=conv.NHWC
    )


CASES = [  # (batch, height, width, in, out, pad, at least this many tiles per band: None = default)
    (1, 9, 7, 3, 5, 1, None),  # odd sizes: the last tile row and column cropped
    (2, 10, 11, 4, 3, 0, None),  # batch 2, no padding
    (1, 5, 8, 2, 2, 2, None),  # padding 2: its input gradient has padding 0
    (1, 3, 3, 2, 3, 0, None),  # a single output pixel
    (1, 13, 6, 3, 4, 1, 6),  # several bands, the last moved up to end at the last output row
    (2, 8, 9, 2, 3, 1, 5),  # several bands over a batch of 2
    (1, 14, 5, 2, 3, 0, 2),  # several bands, no padding
    (1, 11, 9, 3, 2, 2, 4),  # several bands, padding 2
]


@pytest.mark.parametrize("f, tolerance", [(winograd.F2, 1e-5), (winograd.F4, 5e-5)])
@pytest.mark.parametrize("case", CASES)
def test_values_and_gradients_equal_the_library_convolution(case, f, tolerance, monkeypatch):
    n, h, w, cin, cout, pad, tiles = case
    if tiles is not None:
        monkeypatch.setattr(winograd, "MIN_TILES", tiles)
        monkeypatch.setattr(winograd, "BAND_BYTES", 1)
    rng = np.random.default_rng(h * w + pad)
    x = jnp.asarray(rng.standard_normal((n, h, w, cin)), jnp.float32)
    bands = winograd._layout(f, x, pad)[-1]
    assert (bands > 1) == (tiles is not None), bands  # the case tests what it says
    kernel = jnp.asarray(rng.standard_normal((3, 3, cin, cout)), jnp.float32)
    ours, ours_vjp = jax.vjp(lambda x, k: winograd.conv3x3(x, k, pad, f), x, kernel)
    ref, ref_vjp = jax.vjp(lambda x, k: library(x, k, pad), x, kernel)
    assert ours.shape == ref.shape
    np.testing.assert_allclose(
        ours, ref, rtol=tolerance, atol=tolerance * float(jnp.abs(ref).max())
    )
    g = jnp.asarray(rng.standard_normal(ref.shape), jnp.float32)
    for a, b in zip(jax.jit(ours_vjp)(g), ref_vjp(g), strict=True):
        np.testing.assert_allclose(a, b, rtol=tolerance, atol=tolerance * float(jnp.abs(b).max()))


def test_rejects_what_it_cannot_compute():
    x = jnp.zeros((1, 8, 8, 2))
    with pytest.raises(ValueError, match=r"3x3 kernel and pad 0-2, got \(5, 5, 2, 2\)"):
        winograd.conv3x3(x, jnp.zeros((5, 5, 2, 2)), 2, winograd.F4)
    with pytest.raises(ValueError, match=r"pad 0-2, got .*, 3"):
        winograd.conv3x3(x, jnp.zeros((3, 3, 2, 2)), 3, winograd.F4)
    with pytest.raises(ValueError, match="a 1x8 input with pad 0 has no output"):
        winograd.conv3x3(jnp.zeros((1, 1, 8, 2)), jnp.zeros((3, 3, 2, 2)), 0, winograd.F2)


@pytest.mark.parametrize(
    "side, cin, cout, dtype, form",
    [(64, 64, 64, jnp.float32, Form.WINOGRAD_F4), (63, 64, 64, jnp.float32, Form.WINOGRAD_F2),
     (70, 32, 64, jnp.float32, Form.BANDED), (70, 256, 512, jnp.bfloat16, Form.BANDED)],
)  # fmt: skip
def test_the_cpu_takes_it_for_wide_float32_layers(side, cin, cout, dtype, form):
    # F4 from 64 x 64 output pixels per image (pad 1 keeps the size), F2 below; none under
    # 64 x 64 channel pairs or for bfloat16; on no other backend
    x, kernel = (1, side, side, cin), (3, 3, cin, cout)
    assert conv_form("auto", "cpu", x, kernel, pad=1, dtype=dtype) is form
    assert conv_form("auto", "gpu", x, kernel, pad=1, dtype=dtype) is Form.NATIVE
