"""Segment an image with an ONNX file from ``fcn-jax export --format onnx``, using only
ONNX Runtime, numpy and PIL (no JAX, nothing of fcn_jax).

    python examples/segment_onnx.py net.onnx photo.jpg labels.png

The model's metadata says how to prepare the input: its height and width (the image is resized
to them and the labels back to the image's size), the normalisation (unless built in) and the
class names. ``labels.png`` holds each pixel's class index; the classes found are printed."""

import json
import sys

import numpy as np
import onnxruntime as ort
from PIL import Image


def load(path):
    session = ort.InferenceSession(path, providers=["CPUExecutionProvider"])
    meta = session.get_modelmeta().custom_metadata_map
    return session, {k: decoded(v) for k, v in meta.items()}


def decoded(value):
    """A metadata field: JSON, or a plain string."""
    try:
        return json.loads(value)
    except ValueError:
        return value


def prepare(image, meta):
    """RGB uint8 (H, W, 3) -> the model's (1, h, w, 3) float32 input."""
    _, height, width, _ = (int(d) if d.isdigit() else d for d in meta["input"]["shape"])
    rgb = np.asarray(image.resize((width, height), Image.BILINEAR), np.float32)
    pre = meta["preprocessing"]
    if not pre["inside"]:
        rgb = (rgb - np.float32(pre["mean"])) / np.float32(pre["std"])
        rgb = rgb[..., ::-1] if pre["order"] == "bgr" else rgb
    return np.ascontiguousarray(rgb[None])


def segment(session, meta, image):
    """Each pixel's class index at the image's own size (the first head's, for several)."""
    x = prepare(image, meta)
    logits = session.run(None, {session.get_inputs()[0].name: x})[0][0]
    labels = Image.fromarray(logits.argmax(-1).astype(np.uint8))
    return np.asarray(labels.resize(image.size, Image.NEAREST))


def main(model, image_path, out):
    session, meta = load(model)
    image = Image.open(image_path).convert("RGB")
    labels = segment(session, meta, image)
    Image.fromarray(labels).save(out)
    names = meta.get("class_names") or []
    for k in np.unique(labels):
        share = (labels == k).mean()
        print(f"{names[k] if k < len(names) else k}: {share:.1%} of the pixels")


if __name__ == "__main__":
    main(*sys.argv[1:4])
