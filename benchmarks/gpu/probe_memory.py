"""What XLA plans for one net's inference and training step on this device: compile time,
temporaries, the largest scratch buffers (u8 arrays: cuDNN workspaces) in the optimized HLO,
and the allocator's peak after one call of each.

    python -m benchmarks.gpu.probe_memory fcn-resnet50 500 OUTDIR [width]
"""

import gzip
import json
import re
import sys
import time

import jax

from benchmarks.contenders import jax_parts
from fcn_jax.train.step import variables_of


def main(arch: str, size: int, out: str, width: float = 1.0) -> dict:
    parts = jax_parts(size, size, arch=arch, channels=width)
    args = {
        "infer": (parts["infer"], (variables_of(parts["state"]), parts["batch"]["image"])),
        "train": (parts["train_step"].step, (parts["state"], parts["batch"])),  # donates: last
    }
    rows = {}
    for name, (fn, fn_args) in args.items():
        start = time.perf_counter()
        compiled = fn.lower(*fn_args).compile()
        seconds = time.perf_counter() - start
        memory, text = compiled.memory_analysis(), compiled.as_text()
        scratch = sorted((int(n) for n in re.findall(r"\bu8\[(\d+)\]", text)), reverse=True)
        with gzip.open(f"{out}/{arch}_{size}_{name}.hlo.txt.gz", "wt") as f:
            f.write(text)
        jax.block_until_ready(compiled(*fn_args))
        stats = jax.devices()[0].memory_stats() or {}
        rows[name] = {
            "compile_s": round(seconds, 2),
            "temp_mib": memory.temp_size_in_bytes / 2**20,
            "argument_mib": memory.argument_size_in_bytes / 2**20,
            "largest_scratch_mib": [n / 2**20 for n in scratch[:8]],
            "peak_mib_after": stats.get("peak_bytes_in_use", 0) / 2**20,
            "limit_mib": stats.get("bytes_limit", 0) / 2**20,
        }
        print(name, json.dumps(rows[name]), flush=True)
    return rows


if __name__ == "__main__":
    arch, size, out = sys.argv[1], int(sys.argv[2]), sys.argv[3]
    main(arch, size, out, float(sys.argv[4]) if len(sys.argv) > 4 else 1.0)
