"""Where a training step's time goes, and what each of our layer forms costs against the library's
own, on whatever backend JAX runs.

    python -m benchmarks.investigations.breakdown --size 500     # prints a table, writes JSON

Times (medians, the parts alternating) our FCN-8s at one size: the forward pass, the forward
and backward pass (gradients of the summed loss, no update), the optimizer update alone, and
the whole compiled training step. Then the whole step again with one of our forms swapped for
the library's: 2x2 max pooling by ``lax.reduce_window`` instead of the reshape with a first-
maximum mask, deconvolutions as one convolution of the stride-dilated input (what
``lax.conv_transpose`` does) instead of the stride^2 phase convolutions, and convolutions by
XLA's own instead of ``fcn_jax.kernels.conv``'s paths (banded, im2col and 1x1 products on a CPU,
conv1_1 as a matrix product on accelerators), or only the 1x1 ones (``pointwise``), or, for
the 3x3 layers Winograd's algorithm computes, the banded path instead (``winograd``). Swaps are
applied by replacing the module attribute for the run (a diagnostic, not a configuration).
"""

from __future__ import annotations

import argparse
import json
from contextlib import ExitStack, contextmanager
from pathlib import Path
from unittest import mock

import jax
import jax.numpy as jnp
import optax

from benchmarks.contenders import jax_parts
from benchmarks.investigations.conv_gradients import xla_conv
from benchmarks.preallocation import share_the_accelerator
from benchmarks.timing import alternating_medians
from fcn_jax.kernels import choice, conv
from fcn_jax.models import layers
from fcn_jax.train.losses import pixel_loss_terms


def library_pool(self, x, train=False):
    del train
    return self.reduce(x, -jnp.inf, jax.lax.max)


def library_deconv(x, kernel, stride, pad, kernels="auto"):
    """The textbook deconvolution: a convolution of the stride-dilated input with the flipped
    kernel, cropped by ``pad``."""
    k = kernel.shape[0]
    full = jax.lax.conv_general_dilated(
        x, kernel[::-1, ::-1], (1, 1), ((k - 1, k - 1), (k - 1, k - 1)),
        lhs_dilation=(stride, stride), dimension_numbers=conv.NHWC,
    )  # fmt: skip
    height, width = (layers.Upsample(k, stride, pad).out_size(n) for n in x.shape[1:3])
    return full[:, pad : pad + height, pad : pad + width]


def library_conv(x, kernel, stride=1, pad=0, groups=1, dilation=1, kernels="auto"):
    return xla_conv(x, kernel, stride, pad, groups, dilation)


SWAPS = {
    "pool": (layers.MaxPool, "__call__", library_pool),
    "deconv": (layers, "transposed_conv", library_deconv),
    "conv": (conv, "conv2d", library_conv),
    "pointwise": (conv, "_pointwise", xla_conv),  # (x, kernel, stride, pad) as ours
    "winograd": (choice, "WINOGRAD_CHANNEL_PAIRS", float("inf")),
}


@contextmanager
def swapped(names):
    with ExitStack() as stack:
        for name in names:
            owner, attribute, replacement = SWAPS[name]
            stack.enter_context(mock.patch.object(owner, attribute, replacement))
            if name == "conv":  # layers imported conv2d by name
                stack.enter_context(mock.patch.object(layers, "conv2d", replacement))
        yield


def whole_step(size: int, dtype: str, names=()):
    """A zero-argument call of the compiled training step, built (traced) with ``names``
    swapped."""
    with swapped(names):
        parts = jax_parts(size, size, dtype=dtype)
        box = {"state": parts["state"]}
        batch = jax.device_put(parts["batch"])
        step = parts["train_step"]
        box["state"], _ = step(box["state"], batch)  # trace and compile under the swap

    def call():
        box["state"], metrics = step(box["state"], batch)
        metrics["loss"].block_until_ready()

    return call


def split_step(size: int, dtype: str) -> dict:
    """Forward, forward+backward and update alone, each compiled by itself."""
    parts = jax_parts(size, size, dtype=dtype)
    model, state, batch = parts["model"], parts["state"], jax.device_put(parts["batch"])
    compute = jnp.dtype(dtype)

    def loss(params, image, label, key):
        params = jax.tree.map(lambda p: p.astype(compute), params)
        logits = model.apply({"params": params}, image.astype(compute), train=True,
                             rngs={"dropout": key})  # fmt: skip
        return pixel_loss_terms(logits, label, class_weights=None, keep=None, keep_rate=None)[0]

    grad = jax.jit(jax.grad(loss))
    tx = parts["tx"]

    @jax.jit
    def update(params, opt_state, grads):
        updates, opt_state = tx.update(grads, opt_state, params)
        return optax.apply_updates(params, updates), opt_state

    key = jax.random.key(0)
    grads = grad(state.params, batch["image"], batch["label"], key)
    infer = parts["infer"]

    def forward():
        infer(state.params, batch["image"]).block_until_ready()

    def backward():
        jax.block_until_ready(grad(state.params, batch["image"], batch["label"], key))

    def optimizer():
        jax.block_until_ready(update(state.params, state.opt_state, grads))

    return {"forward": forward, "forward+backward": backward, "update": optimizer}


def main(argv=None) -> dict:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--dtype", default="float32", choices=["float32", "bfloat16"])
    parser.add_argument("--swaps", nargs="*", default=list(SWAPS), choices=list(SWAPS))
    parser.add_argument("--out", default="benchmarks/investigations/breakdown.json")
    args = parser.parse_args(argv)
    contenders = split_step(args.size, args.dtype)
    contenders["step"] = whole_step(args.size, args.dtype)
    for name in args.swaps:
        contenders[f"step, library {name}"] = whole_step(args.size, args.dtype, [name])
    medians = alternating_medians(contenders, args.repeats)
    base = medians["step"]
    print(f"FCN-8s {args.size}x{args.size} {args.dtype} on {jax.devices()[0].device_kind}")
    for name, t in medians.items():
        print(f"  {name:28s} {t * 1e3:9.1f} ms  ({t / base:.2f} of the step)")
    result = {"size": args.size, "dtype": args.dtype, "device": jax.devices()[0].device_kind,
              "seconds": medians}  # fmt: skip
    Path(args.out).write_text(json.dumps(result, indent=2))
    return result


if __name__ == "__main__":
    share_the_accelerator()  # before JAX's backend starts
    main()
