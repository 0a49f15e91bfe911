"""Receptive field, max stride and crop offsets of every net, checked against autodiff.

    python experiments/geometry_tables.py [--size 500]

Prints a markdown table: for each architecture and alignment mode, the receptive field and
stride of score_fr (the paper's Table 1 columns), every crop offset the geometry derives, and
the outcome of the autodiff check (units measured, disagreements) at the given input size.
"""

from __future__ import annotations

import argparse
import time

from fcn_jax.cli.geometry import VERIFY_WIDTH
from fcn_jax.models import ALIGNMENTS, ARCHS, build
from fcn_jax.models.report import geometry_table, verify


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--size", type=int, default=500, help="square input size (500)")
    size = parser.parse_args().size
    print(f"Input {size}x{size}.\n")
    print("| net | align | receptive field | max stride | crops | autodiff check |")
    print("|---|---|---|---|---|---|")
    for arch in ARCHS:
        for align in ALIGNMENTS:
            table = geometry_table(build(arch, 21, align=align), size, size)
            start = time.perf_counter()
            checks = verify(build(arch, 1, align=align, width=VERIFY_WIDTH), size, size)
            seconds = time.perf_counter() - start
            bad = sum(not c.ok for c in checks)
            crops = ", ".join(f"{k} {v}" for k, v in table["crops"].items())
            print(
                f"| {arch} | {align} | {table['receptive_field']} | {table['max_stride']} "
                f"| {crops} | {len(checks)} units, {bad} disagree ({seconds:.1f} s) |"
            )


if __name__ == "__main__":
    main()
