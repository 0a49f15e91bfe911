"""Per-layer GFLOP/s of a convolution, its input gradient and its kernel gradient: XLA's
library convolution, ours (:mod:`fcn_jax.kernels.conv`) and PyTorch, for VGG16-FCN layers at the
sizes a 500x500 image gives in ``caffe`` alignment.

    python -m benchmarks.investigations.conv_gradients
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.flops import conv_shapes
from benchmarks.preallocation import share_the_accelerator
from benchmarks.timing import alternating_medians
from fcn_jax.kernels.conv import NHWC, conv2d
from fcn_jax.models import build

LAYERS = ("conv1_1", "conv1_2", "conv2_2", "conv3_3", "conv4_3", "conv5_3", "fc6")


def layer_shapes(size: int = 500) -> dict:
    """name: (input map size, in, out, kernel, pad) of ``LAYERS`` in FCN-8s, ``caffe``
    alignment, on a size x size image (read off the net, not typed in)."""
    model = build("fcn8s", 21, align="caffe")
    found = {m.name: (x[1], x[-1], m.features, m.kernel, m.pad)
             for m, x, _ in conv_shapes(model, (1, size, size, 3))}  # fmt: skip
    return {name: found[name] for name in LAYERS}


def xla_conv(x, kernel, stride=1, pad=0, groups=1, dilation=1):
    """XLA's own convolution, with :func:`fcn_jax.kernels.conv.conv2d`'s arguments: the
    library form every investigation here compares our paths with."""
    return jax.lax.conv_general_dilated(
        x, kernel, (stride, stride), ((pad, pad), (pad, pad)), dimension_numbers=NHWC,
        feature_group_count=groups, rhs_dilation=(dilation, dilation),
    )  # fmt: skip


def jax_parts(fn, x, w, **options) -> dict:
    """Jitted forward, input gradient and kernel gradient of ``fn(x, w, **options)``."""
    g = jnp.ones_like(fn(x, w, **options))
    forward = jax.jit(lambda x, w: fn(x, w, **options))
    d_input = jax.jit(lambda x, w, g: jax.vjp(lambda x: fn(x, w, **options), x)[1](g)[0])
    d_kernel = jax.jit(lambda x, w, g: jax.vjp(lambda w: fn(x, w, **options), w)[1](g)[0])
    return {
        "forward": lambda: forward(x, w).block_until_ready(),
        "input_grad": lambda: d_input(x, w, g).block_until_ready(),
        "kernel_grad": lambda: d_kernel(x, w, g).block_until_ready(),
    }


def torch_parts(size, cin, cout, k, pad) -> dict:
    import torch
    import torch.nn.functional as F

    device = "cuda" if torch.cuda.is_available() else "cpu"
    wait = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    x = torch.randn(1, cin, size, size, requires_grad=True, device=device)
    w = torch.randn(cout, cin, k, k, requires_grad=True, device=device)
    g = torch.ones_like(F.conv2d(x, w, padding=pad))

    def forward():
        with torch.no_grad():
            F.conv2d(x, w, padding=pad)
        wait()

    def grad_of(leaf):  # autograd.grad of one input: only that gradient (and the forward)
        return lambda: (torch.autograd.grad(F.conv2d(x, w, padding=pad), leaf, g), wait())

    return {
        "forward": forward,
        "input_grad+forward": grad_of(x),
        "kernel_grad+forward": grad_of(w),
    }


def main() -> None:
    print("| layer | GFLOP | part | XLA library | ours | PyTorch |")
    print("|---|---|---|---|---|---|")
    for name, (size, cin, cout, k, pad) in layer_shapes().items():
        rng = np.random.default_rng(0)
        x = jnp.asarray(rng.standard_normal((1, size, size, cin)), jnp.float32)
        w = jnp.asarray(rng.standard_normal((k, k, cin, cout)) * 0.01, jnp.float32)
        out = size + 2 * pad - k + 1
        gflop = 2 * out * out * k * k * cin * cout / 1e9
        contenders = {f"lib {p}": f for p, f in jax_parts(xla_conv, x, w, pad=pad).items()}
        ours = jax_parts(conv2d, x, w, pad=pad)
        contenders |= {f"ours {p}": f for p, f in ours.items()}
        contenders |= {f"torch {p}": f for p, f in torch_parts(size, cin, cout, k, pad).items()}
        t = alternating_medians(contenders, 3)
        torch_only = {
            "forward": t["torch forward"],
            "input_grad": t["torch input_grad+forward"] - t["torch forward"],
            "kernel_grad": t["torch kernel_grad+forward"] - t["torch forward"],
        }
        for part in ("forward", "input_grad", "kernel_grad"):
            rates = [gflop / t[f"lib {part}"], gflop / t[f"ours {part}"], gflop / torch_only[part]]
            print(
                f"| {name} | {gflop:.1f} | {part} | " + " | ".join(f"{r:.0f}" for r in rates) + " |"
            )


if __name__ == "__main__":
    share_the_accelerator()  # before JAX's backend starts
    main()
