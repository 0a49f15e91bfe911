"""The paper's Table 1 measured here: conv layers, parameters, receptive field, max stride and
forward time of FCN-AlexNet, FCN-VGG16 and FCN-GoogLeNet, beside the paper's own figures.

    python -m experiments.table1 [--size 500] [--repeats 5] [--results experiments/results]

Every measured number comes from the full-width net (21 classes, ``caffe`` alignment) built by
``fcn_jax.models.build``:

* conv layers: the longest chain of convolutions from the input to ``score_fr``, counting the
  convolutionalized fc layers and the score layer, as the paper does (8 for AlexNet, 16 for
  VGG16, 22 for GoogLeNet: its depth in layers with parameters). It is measured by running the
  net with every convolution replaced by "1 + the largest value of its input" on a zero image
  (LRN as the identity), so branches (inception modules) count once along their deepest path.
  The total number of convolution layers (every inception branch) is shown beside it;
* parameters: every parameter except the fixed bilinear deconvolution (``upscore``), whose
  weights the reference never trains;
* receptive field and max stride: of ``score_fr``, from the geometry algebra
  (:func:`fcn_jax.models.report.geometry_table`);
* forward time: float32, batch 1, ``size`` x ``size`` input, median of ``repeats`` runs of the
  jitted net after compilation, on this machine's CPU (the paper's is on a GPU).
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from pathlib import Path

import jax
import jax.numpy as jnp
import numpy as np
from flax import linen as nn
from flax import traverse_util

from experiments.publish import publish
from fcn_jax.models import ARCHS, build
from fcn_jax.models.layers import LRN, Conv, Deconv
from fcn_jax.models.report import geometry_table

# The paper's Table 1 (Long, Shelhamer, Darrell, CVPR 2015): mean IU on PASCAL VOC 2011 val
# (subset), forward time for a 500x500 input on an NVIDIA Tesla K40c, conv layers, parameters,
# receptive field size, max stride.
PAPER = {
    "FCN-AlexNet": (39.8, "50 ms", 8, "57M", 355, 32),
    "FCN-VGG16": (56.0, "210 ms", 16, "134M", 404, 32),
    "FCN-GoogLeNet": (42.5, "59 ms", 22, "6M", 907, 32),
}
NETS = {"FCN-AlexNet": "fcn-alexnet", "FCN-VGG16": "fcn32s", "FCN-GoogLeNet": "fcn32s-googlenet"}


def machine() -> str:
    """This machine in words: CPU model, core count, JAX version and backend."""
    cpu = platform.processor() or "?"
    cpuinfo = Path("/proc/cpuinfo")
    if cpuinfo.exists():
        names = [ln.split(":", 1)[1].strip() for ln in cpuinfo.read_text().splitlines()
                 if ln.startswith("model name")]  # fmt: skip
        cpu = names[0] if names else cpu
    return (
        f"{cpu}, {os.cpu_count()} cores, JAX {jax.__version__} "
        f"({jax.default_backend()} backend, {jax.devices()[0].device_kind})"
    )


def conv_depth_and_count(net: nn.Module, size: int = 64) -> tuple[int, int]:
    """(longest chain of convolutions from the input to the output, number of conv layers).

    Each convolution is replaced by a map of its output's shape holding 1 + the largest value
    of its input, starting from a zero image; max pooling, ReLU, crops and concatenation keep
    the largest value and LRN is made the identity, so the largest value any convolution writes
    is the depth. No convolution is computed (one compiled pass over the rest). The net runs
    under the plain "xla" kernels: the "auto" ones call a framed layer more than once
    (``fcn_jax/models/margin.py``).
    """
    net = net.clone(kernels="xla")
    depths = []

    def measure(next_fun, args, kwargs, context):
        module, x = context.module, args[0] if args else None
        if context.method_name != "__call__":
            return next_fun(*args, **kwargs)
        if isinstance(module, LRN):
            return x
        if not isinstance(module, Conv):
            return next_fun(*args, **kwargs)
        depths.append(jnp.max(x) + 1)
        shape = (x.shape[0], *(module.op.out_size(n) for n in x.shape[1:3]), module.features)
        return jnp.full(shape, depths[-1], x.dtype)

    def deepest(x):
        with nn.intercept_methods(measure):
            net.init(jax.random.key(0), x)
        return jnp.max(jnp.stack(depths))

    depth = jax.jit(deepest)(jnp.zeros((1, size, size, 3), jnp.float32))
    return int(depth), len(depths)


def deconv_paths(net: nn.Module, size: int = 224) -> set[tuple]:
    """Module paths of the net's deconvolutions."""
    paths = set()

    def find(next_fun, args, kwargs, context):
        if context.method_name == "__call__" and isinstance(context.module, Deconv):
            paths.add(context.module.scope.path)
        return next_fun(*args, **kwargs)

    with nn.intercept_methods(find):
        jax.eval_shape(net.init, jax.random.key(0), jnp.zeros((1, size, size, 3), jnp.float32))
    return paths


def parameter_counts(params: dict, frozen: set[tuple]) -> tuple[int, int]:
    """(parameters outside the ``frozen`` module paths, parameters inside them)."""
    trained = fixed = 0
    for key, leaf in traverse_util.flatten_dict(params).items():
        n = int(np.prod(leaf.shape))
        if any(key[: len(path)] == tuple(path) for path in frozen):
            fixed += n
        else:
            trained += n
    return trained, fixed


def forward_seconds(net: nn.Module, params: dict, size: int, repeats: int) -> list[float]:
    """Wall-clock seconds of ``repeats`` jitted forward passes (batch 1, float32), after one
    compiling call."""
    forward = jax.jit(lambda p, x: net.apply({"params": p}, x))
    x = jax.random.normal(jax.random.key(1), (1, size, size, 3), jnp.float32)
    forward(params, x).block_until_ready()
    times = []
    for _ in range(repeats):
        start = time.perf_counter()
        forward(params, x).block_until_ready()
        times.append(time.perf_counter() - start)
    return times


def measure(arch: str, size: int, repeats: int) -> dict:
    """Every measured column of Table 1 for ``arch`` at full width."""
    net = build(arch, 21)
    depth, convs = conv_depth_and_count(build(arch, 21, width=1 / 16))
    params = jax.jit(net.init)(jax.random.key(0), jnp.zeros((1, 64, 64, 3)))["params"]
    trained, fixed = parameter_counts(params, deconv_paths(net))
    geometry = geometry_table(net, size, size)
    times = forward_seconds(net, params, size, repeats)
    return {
        "depth": depth,
        "convs": convs,
        "params": trained,
        "deconv_params": fixed,
        "rf": geometry["receptive_field"],
        "stride": geometry["max_stride"],
        "ms": 1000 * statistics.median(times),
    }


def table(size: int, repeats: int, archs=ARCHS) -> str:
    lines = [
        f"Measured: full-width nets, 21 classes, `caffe` alignment; forward time float32, batch 1, "
        f"{size}x{size}, median of {repeats} runs after compilation, on {machine()}. "
        "Paper: the paper's Table 1 (forward time on an NVIDIA Tesla K40c GPU; mean IU on "
        "PASCAL VOC 2011 val, not measured here: no dataset).",
        "",
        "| net | source | mean IU | forward time | conv layers (all convs) | parameters "
        "(+ fixed deconv) | rf size | max stride |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, arch in NETS.items():
        iu, ms, convs, params, rf, stride = PAPER[name]
        lines.append(f"| {name} | paper | {iu} | {ms} | {convs} | {params} | {rf} | {stride} |")
        if arch not in archs:
            lines.append(f"| {name} | this run | – | not available (`{arch}` not built) "
                         "| – | – | – | – |")  # fmt: skip
            continue
        m = measure(arch, size, repeats)
        lines.append(
            f"| {name} | this run (`{arch}`) | – | {m['ms']:.0f} ms (CPU) | {m['depth']} "
            f"({m['convs']}) | {m['params'] / 1e6:.1f}M (+ {m['deconv_params'] / 1e6:.2f}M) "
            f"| {m['rf']} | {m['stride']} |"
        )
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500, help="square input size (500)")
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--full", action="store_true", help="20 repeats, as the paper's average")
    parser.add_argument("--results", default="", help="also write table1.md into this folder")
    args = parser.parse_args()
    publish([table(args.size, 20 if args.full else args.repeats)], args.results, "table1.md")


if __name__ == "__main__":
    main()
