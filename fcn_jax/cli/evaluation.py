"""``fcn-jax eval``: a checkpoint's scores on its run's validation split.

Compiled steps are kept in ``WORKDIR/xla_cache`` (:mod:`.compile_cache`), so a second eval of
the same run loads them. ``--bucket N`` pads each image up to a multiple of N and crops the
scores back (one compilation per bucket instead of one per image shape; see
:func:`fcn_jax.train.step.evaluate`); native size is the default.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from fcn_jax.cli.compile_cache import counting_compilations, use_compilation_cache, workdir_cache
from fcn_jax.cli.training import format_scores, restore, saved_config


def results_file(workdir: str | Path, step: int, bucket: int) -> Path:
    """``eval_STEP.json`` (native size) or ``eval_STEP_bucketN.json``: one never replaces
    the other."""
    return Path(workdir) / f"eval_{step:06d}{f'_bucket{bucket}' if bucket else ''}.json"


def run_eval(args: argparse.Namespace) -> int:
    from fcn_jax.cli.progress import Tracked, image_bar
    from fcn_jax.train.evaluate import eval_parts, scores_by_task
    from fcn_jax.train.loop import DATASET_FIELDS, dataset_from
    from fcn_jax.train.step import evaluate

    bucket = args.bucket or 0
    spec, model, params, step = restore(args.workdir, args.checkpoint, "eval")
    cache = None if args.no_cache else use_compilation_cache(workdir_cache(args.workdir), "eval")
    dataset = dataset_from(saved_config(args.workdir, DATASET_FIELDS))
    val = [dataset.val[i] for i in range(len(dataset.val))]
    eval_step, prep, targets = eval_parts(model, spec)
    with counting_compilations() as compilations, image_bar("eval") as bar:
        tracked = Tracked(val, bar, len(val))
        confusions, _ = evaluate(eval_step, params, tracked, prep, targets, bucket=bucket)
    shapes = eval_step._cache_size()
    how = f"padded to multiples of {bucket}" if bucket else "native size"
    print(f"fcn-jax eval: {tracked.summary()}, {how}; {shapes} shape{'s' * (shapes != 1)}: "
          f"{compilations.describe(cache)}", file=sys.stderr)  # fmt: skip
    result = scores_by_task(confusions, spec.tasks)
    result["step"], result["bucket"] = step, bucket
    target = results_file(args.workdir, step, bucket)
    try:
        target.write_text(json.dumps(result, indent=2))
    except OSError as err:  # a read-only workdir: the scores are still printed
        print(f"fcn-jax eval: warning: cannot write {target} ({err.strerror}); the scores are "
              "printed only", file=sys.stderr)  # fmt: skip
    if args.json:
        print(json.dumps(result))
    else:
        print(f"checkpoint step {step}, {len(val)} validation images, {how}")
        print(format_scores(result, list(spec.class_names)))
        for task in spec.tasks[1:]:  # e.g. SIFT Flow's geometric classes, by number
            print(f"\n{task}\n{format_scores(result[task])}")
    return 0
