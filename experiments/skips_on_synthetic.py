"""Skip architectures on the synthetic dataset: FCN-32s, FCN-16s and FCN-8s for equal steps.

    python experiments/skips_on_synthetic.py [--steps 600] [--archs fcn32s fcn16s fcn8s]

Each net is the default config (width 1/8, `same` alignment, Adam with a poly schedule) with
only ``arch`` changed; the validation split is 100 scenes. Prints a markdown table of the four
metrics of the paper and the IU of the thin-line and small-disc classes, where stride matters.
Workdirs go under ``runs/skips/``.
"""

from __future__ import annotations

import argparse
import time

from fcn_jax.data.synthetic import CLASS_NAMES
from fcn_jax.default_config import get_config
from fcn_jax.train import train_and_evaluate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--steps", type=int, default=600)
    parser.add_argument("--archs", nargs="+", default=["fcn32s", "fcn16s", "fcn8s"])
    parser.add_argument("--out", default="runs/skips")
    args = parser.parse_args()
    rows = []
    for arch in args.archs:
        config = get_config()
        config.arch, config.total_steps = arch, args.steps
        config.eval_every = config.checkpoint_every = args.steps
        start = time.perf_counter()
        result = train_and_evaluate(config, f"{args.out}/{arch}_{args.steps}")
        rows.append((arch, result, time.perf_counter() - start))
    line, disc = CLASS_NAMES.index("line"), CLASS_NAMES.index("disc")
    print(f"\n{args.steps} steps each, batch 8, synthetic validation split (100 scenes).\n")
    print("| net | pixel acc. | mean acc. | mean IU | f.w. IU | line IU | disc IU | time |")
    print("|---|---|---|---|---|---|---|---|")
    for arch, r, seconds in rows:
        print(
            f"| {arch} | {r['pixel_accuracy']:.3f} | {r['mean_accuracy']:.3f} "
            f"| {r['mean_iu']:.3f} | {r['fw_iu']:.3f} | {r['per_class_iu'][line]:.3f} "
            f"| {r['per_class_iu'][disc]:.3f} | {seconds:.0f} s |"
        )


if __name__ == "__main__":
    main()
