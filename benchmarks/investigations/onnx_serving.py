"""Serving FCN-8s without JAX: an image through ``fcn-jax export --format onnx``'s model and
``examples/segment_onnx.py`` (ONNX Runtime, numpy, PIL), against our own path (``predict``'s:
the normalisation, the jitted ``model.apply`` under the ``auto`` kernels, the argmax), both
from an RGB image to its labels. Full-width FCN-8s (21 classes, caffe alignment) at 500x500;
the params are an initialisation (the time does not depend on their values).

    python -m benchmarks.investigations.onnx_serving     # medians of 5 alternating rounds
"""

from __future__ import annotations

import json
import os
import runpy
import statistics
import tempfile
import time
from pathlib import Path

import jax
import numpy as np
from PIL import Image

from benchmarks.timing import alternating_samples, paired_ratios
from fcn_jax.data.preprocessing import CAFFE_ILSVRC
from fcn_jax.export.metadata import describe
from fcn_jax.export.onnx import onnx_model, shapes, with_metadata
from fcn_jax.models import build
from fcn_jax.predict.segment import scores_of

SIZE, CLASSES = 500, 21
EXAMPLE = Path(__file__).parents[2] / "examples" / "segment_onnx.py"


def main() -> None:
    model = build("fcn8s", CLASSES)
    x = np.zeros((1, SIZE, SIZE, 3), np.float32)
    variables = jax.jit(model.init)(jax.random.PRNGKey(0), x)
    start = time.perf_counter()
    proto = onnx_model(model, variables, SIZE, SIZE)
    meta = describe("onnx", "fcn8s", "caffe", CAFFE_ILSVRC, False, None, *shapes(proto))
    converted = time.perf_counter() - start
    example = runpy.run_path(str(EXAMPLE))  # its functions, without running its main
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "fcn8s.onnx"
        path.write_bytes(with_metadata(proto, meta).SerializeToString())
        session, read_meta = example["load"](str(path))
    rgb = np.random.default_rng(0).integers(0, 256, (SIZE, SIZE, 3), dtype=np.uint8)
    image = Image.fromarray(rgb)
    forward = jax.jit(model.apply)

    def ours():
        return scores_of(forward, variables, CAFFE_ILSVRC.apply(rgb)).argmax(-1)

    def onnx_runtime():
        return example["segment"](session, read_meta, image)

    samples = alternating_samples({"fcn_jax predict": ours, "onnxruntime": onnx_runtime}, 5)
    result = {
        "net": f"fcn8s full width, {CLASSES} classes, {SIZE}x{SIZE}, batch 1, CPU",
        "seconds_median": {k: statistics.median(v) for k, v in samples.items()},
        "samples": samples,
        "onnxruntime_over_ours": paired_ratios(samples["onnxruntime"], samples["fcn_jax predict"]),
        "conversion_seconds": converted,
        "onnx_bytes": proto.ByteSize(),
        "cpu_count": os.cpu_count(),
    }
    print(json.dumps(result, indent=2))


if __name__ == "__main__":
    main()
