"""What a user needs beside an exported net: its input (layout, size, preprocessing), its
outputs and the classes, as one JSON-able dict for either format."""

from __future__ import annotations

from fcn_jax.data.preprocessing import Normalisation


def describe(fmt: str, arch: str, align: str | None, normalisation: Normalisation,
             inside: bool, class_names, input_shape, outputs) -> dict:  # fmt: skip
    """``input_shape`` (N, H, W, C) and ``outputs`` ({name: shape}) as strings or ints."""
    if inside:
        rule = "none: feed float32 RGB 0..255; the graph normalises as below"
    else:
        rule = "float32((rgb - mean) / std) on 0..255 values, then the channels in 'order'"
    return {
        "format": fmt,
        "arch": arch,
        "align": align,
        "input_layout": "NHWC",
        "input": {"shape": [str(d) for d in input_shape], "dtype": "float32"},
        "outputs": {name: [str(d) for d in shape] for name, shape in outputs.items()},
        "output_layout": "NHWC logits",
        "preprocessing": {**normalisation.to_json(), "inside": inside, "rule": rule},
        "class_names": list(class_names) if class_names else None,
    }
