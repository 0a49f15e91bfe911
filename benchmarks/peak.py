"""The machine's measured dense float32 matmul peak: the best of JAX's and PyTorch's large
square matmuls, in GFLOP/s."""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np

from benchmarks.timing import seconds


def jax_matmul_gflops(n: int, repeats: int = 5) -> float:
    a = jnp.asarray(np.random.default_rng(0).standard_normal((n, n), np.float32))
    matmul = jax.jit(jnp.dot)
    matmul(a, a).block_until_ready()
    best = min(seconds(lambda: matmul(a, a).block_until_ready()) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def torch_matmul_gflops(n: int, repeats: int = 5) -> float | None:
    try:
        import torch
    except ImportError:
        return None
    device = "cuda" if torch.cuda.is_available() else "cpu"
    wait = torch.cuda.synchronize if device == "cuda" else (lambda: None)
    a = torch.randn(n, n, device=device)
    a @ a
    wait()
    best = min(seconds(lambda: (a @ a, wait())) for _ in range(repeats))
    return 2 * n**3 / best / 1e9


def matmul_peak(sizes=None) -> dict:
    """GFLOP/s per framework and size, and the best of all as ``'peak'``: each framework at
    its default float32 matmul precision (on NVIDIA GPUs XLA may use TF32 where PyTorch does
    not), sizes 1024-4096 on a CPU and up to 16384 on an accelerator."""
    if sizes is None:
        sizes = (1024, 2048, 4096) if jax.default_backend() == "cpu" else (4096, 8192, 16384)
    found = {f"jax_{n}": jax_matmul_gflops(n) for n in sizes}
    for n in sizes:
        value = torch_matmul_gflops(n)
        if value is not None:
            found[f"torch_{n}"] = value
    found["peak"] = max(found.values())
    return found
