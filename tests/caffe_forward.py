"""An independent TEST-phase forward pass of Caffe layer definitions (caffe_nets.LayerDef), in
torch float64, written from Caffe's layer sources (src/caffe/layers/*.cpp), not from fcn_jax:
a reference for the logits a released .caffemodel gives."""

import numpy as np
import torch
import torch.nn.functional as F

FLT_MAX = float(np.finfo(np.float32).max)
DATA = {"Python", "Data", "Input", "ImageData", "HDF5Data", "MemoryData", "DummyData", "WindowData"}
SKIPPED = {"Accuracy", "Silence"}  # and every *Loss layer: no output a test compares


def _pair(fields, name, default):
    """A 2-d geometry field: <name> (one value or one per spatial axis) or <key>_h/<key>_w."""
    key = "kernel" if name == "kernel_size" else name
    if f"{key}_h" in fields:
        return int(fields[f"{key}_h"]), int(fields[f"{key}_w"])
    value = fields.get(name, default)
    value = list(value) if isinstance(value, (list, tuple)) else [value]
    return (int(value[0]), int(value[-1])) if len(value) in (1, 2) else _bad(name, value)


def _bad(what, value):
    raise ValueError(f"unsupported {what}: {value!r}")


def _axis(axis, ndim):
    return axis + ndim if axis < 0 else axis


def _included(params) -> bool:  # TEST phase: NetStateRule by phase (levels and stages unused)
    def match(rules):
        return any(r.get("phase", "TEST") in ("TEST", 1) for r in rules)

    return (
        match(params["include"]) if params.get("include") else not match(params.get("exclude", []))
    )


def convolution(x, blobs, f, transposed=False):
    """Caffe's ConvolutionLayer / DeconvolutionLayer: weight (out, in/g, kh, kw), or for the
    deconvolution (in, out/g, kh, kw), its output stride*(in-1) + dilation*(k-1) + 1 - 2*pad."""
    group, stride, pad = int(f.get("group", 1)), _pair(f, "stride", 1), _pair(f, "pad", 0)
    dilation = _pair(f, "dilation", 1)
    weight = blobs[0]
    bias = blobs[1] if f.get("bias_term", True) else None
    outputs = weight.shape[1] * group if transposed else weight.shape[0]
    if (
        weight.ndim != 4
        or outputs != f["num_output"]
        or (bias is not None and len(bias) != outputs)
    ):
        _bad(f"blobs for num_output {f['num_output']}", [tuple(b.shape) for b in blobs])
    if transposed:
        return F.conv_transpose2d(x, weight, bias, stride, pad, 0, group, dilation)
    return F.conv2d(x, weight, bias, stride, pad, dilation, group)


def _pooled(size, k, s, p):  # ceil, and with padding the last window starts inside image + pad
    out = -(-(size + 2 * p - k) // s) + 1
    return out - 1 if p and (out - 1) * s >= size + p else out


def pooling(x, f):
    """Caffe's PoolingLayer: MAX over each window clipped to the image (an empty window gives
    -FLT_MAX); AVE sums the window clipped to the image and divides by its size clipped to
    the padded extent (image + pad)."""
    kind = f.get("pool", "MAX")
    (h, w) = x.shape[2:]
    if f.get("global_pooling"):
        (kh, kw), (ph, pw), (sh, sw) = (h, w), (0, 0), (1, 1)
    else:
        (kh, kw), (ph, pw) = _pair(f, "kernel_size", None), _pair(f, "pad", 0)
        (sh, sw) = _pair(f, "stride", 1)
    oh, ow = _pooled(h, kh, sh, ph), _pooled(w, kw, sw, pw)
    right, bottom = max(0, (ow - 1) * sw + kw - w - pw), max(0, (oh - 1) * sh + kh - h - ph)
    if kind in ("MAX", 0):
        padded = F.pad(x, (pw, right, ph, bottom), value=-torch.inf)
        out = F.max_pool2d(padded, (kh, kw), (sh, sw))[..., :oh, :ow]
        return torch.where(torch.isinf(out), torch.full_like(out, -FLT_MAX), out)
    if kind not in ("AVE", 1):
        _bad("pooling method", kind)
    sums = F.avg_pool2d(F.pad(x, (pw, right, ph, bottom)), (kh, kw), (sh, sw), divisor_override=1)

    def extent(n, out, k, s, p):
        start = torch.arange(out, dtype=x.dtype) * s - p
        return torch.minimum(start + k, torch.tensor(n + p, dtype=x.dtype)) - start

    size = extent(h, oh, kh, sh, ph)[:, None] * extent(w, ow, kw, sw, pw)[None, :]
    return sums[..., :oh, :ow] / size


def lrn(x, f):
    """Caffe's LRNLayer. ACROSS_CHANNELS: x / (k + alpha/size * sum of x^2 over the size
    channels centred on each, zero-padded)^beta. WITHIN_CHANNEL: x / (1 + alpha * AVE pool of
    x^2 over size x size, pad (size-1)/2)^beta."""
    size, alpha = int(f.get("local_size", 5)), float(f.get("alpha", 1.0))
    beta, k = float(f.get("beta", 0.75)), float(f.get("k", 1.0))
    if size % 2 == 0:
        _bad("LRN local_size (must be odd)", size)
    pre = (size - 1) // 2
    if f.get("norm_region", "ACROSS_CHANNELS") in ("ACROSS_CHANNELS", 0):
        sq = F.pad(x * x, (0, 0, 0, 0, pre, pre))
        window = sum(sq[:, c : c + x.shape[1]] for c in range(size))
        return x * (k + alpha / size * window) ** -beta
    pooled = pooling(x * x, {"pool": "AVE", "kernel_size": size, "pad": pre, "stride": 1})
    return x * (1 + alpha * pooled) ** -beta


def crop(x, ref, f):
    """Caffe's CropLayer: axes from ``axis`` on take the second bottom's size, starting at
    ``offset`` (one value for all those axes, or one per axis; none: 0)."""
    axis, offsets = _axis(int(f.get("axis", 2)), x.ndim), f.get("offset", [])
    offsets = list(offsets) if isinstance(offsets, (list, tuple)) else [offsets]
    if len(offsets) > 1 and len(offsets) != x.ndim - axis:
        _bad("crop offsets for the cropped axes", offsets)
    index = []
    for i in range(x.ndim):
        if i < axis:
            index.append(slice(None))
            continue
        o = int(offsets[0] if len(offsets) == 1 else offsets[i - axis] if offsets else 0)
        if x.shape[i] - o < ref.shape[i]:
            _bad(f"crop in dimension {i} (size {x.shape[i]}, offset {o})", ref.shape[i])
        index.append(slice(o, o + ref.shape[i]))
    return x[tuple(index)]


def eltwise(xs, f):
    """Caffe's EltwiseLayer: PROD, SUM (each bottom times its coeff, default 1), MAX."""
    if any(x.shape != xs[0].shape for x in xs):
        _bad("eltwise shapes", [tuple(x.shape) for x in xs])
    op, coeff = f.get("operation", "SUM"), f.get("coeff", [])
    coeff = list(coeff) if isinstance(coeff, (list, tuple)) else [coeff]
    if op in ("SUM", 1):
        if coeff and len(coeff) != len(xs):
            _bad("eltwise coeffs (one per bottom)", coeff)
        return sum(float(c) * x for c, x in zip(coeff or [1.0] * len(xs), xs, strict=True))
    if coeff:
        _bad("eltwise coeff without SUM", coeff)
    if op in ("PROD", 0):
        return torch.stack(xs).prod(0)
    return torch.stack(xs).amax(0) if op in ("MAX", 2) else _bad("eltwise operation", op)


def scale(xs, blobs, f):
    """Caffe's ScaleLayer: bottom[0] times a scale (the layer's first blob, or bottom[1])
    covering axes [axis, axis + num_axes) and broadcast over the rest; bias_term adds a blob."""
    x, axis = xs[0], _axis(int(f.get("axis", 1)), xs[0].ndim)
    factor, rest = (xs[1], list(blobs)) if len(xs) > 1 else (blobs[0], list(blobs[1:]))
    num = factor.ndim if len(xs) > 1 else int(f.get("num_axes", 1))
    covered = x.shape[axis:] if num == -1 else x.shape[axis : axis + num]
    if tuple(factor.shape) != tuple(covered):
        _bad(f"scale shape for {tuple(covered)}", tuple(factor.shape))
    shape = (1,) * axis + tuple(covered) + (1,) * (x.ndim - axis - len(covered))
    out = x * factor.reshape(shape)
    return out + rest[0].reshape(shape) if f.get("bias_term") else out


def inner_product(x, blobs, f):
    """Caffe's InnerProductLayer: axes from ``axis`` flattened (C, H, W order), weight (out, in)
    (or (in, out) with transpose)."""
    flat = x.flatten(_axis(int(f.get("axis", 1)), x.ndim))
    weight = blobs[0].T if f.get("transpose") else blobs[0]
    out = flat @ weight.T
    return out + blobs[1] if f.get("bias_term", True) else out


def _layer(d, xs, blobs):
    p, kind = d.params, d.type
    if kind in ("Convolution", "Deconvolution"):
        return [convolution(xs[0], blobs, p["convolution_param"], kind == "Deconvolution")]
    if kind == "Pooling":
        return [pooling(xs[0], p["pooling_param"])]
    if kind == "InnerProduct":
        return [inner_product(xs[0], blobs, p["inner_product_param"])]
    if kind == "ReLU":
        slope = float(p.get("relu_param", {}).get("negative_slope", 0.0))
        return [torch.where(xs[0] > 0, xs[0], slope * xs[0])]
    if kind in ("Dropout", "Split"):  # Dropout: the identity at test (it scales while training)
        return [xs[0]] * len(d.top)
    if kind == "LRN":
        return [lrn(xs[0], p.get("lrn_param", {}))]
    if kind == "Crop":
        return [crop(xs[0], xs[1], p.get("crop_param", {}))]
    if kind == "Eltwise":
        return [eltwise(xs, p.get("eltwise_param", {}))]
    if kind == "Scale":
        return [scale(xs, blobs, p.get("scale_param", {}))]
    if kind == "Concat":
        f = p.get("concat_param", {})
        return [torch.cat(xs, _axis(int(f.get("axis", f.get("concat_dim", 1))), xs[0].ndim))]
    if kind == "Softmax":
        axis = int(p.get("softmax_param", {}).get("axis", 1))
        return [torch.softmax(xs[0], _axis(axis, xs[0].ndim))]
    return _bad("layer type", kind)


def caffe_forward(defs, inputs: dict) -> dict[str, np.ndarray]:
    """Run ``defs`` in the TEST phase on ``inputs`` (data blob name -> NCHW array): data layers
    are skipped (their tops come from ``inputs``), as are loss and accuracy layers and layers
    whose include/exclude rules leave them out of TEST. Returns every blob by top name (an
    in-place layer's top holds its output)."""
    blobs = {k: torch.as_tensor(np.asarray(v), dtype=torch.float64) for k, v in inputs.items()}
    absent = set()  # tops of data layers not in ``inputs`` (labels), and what only they feed
    for d in defs:
        if d.type in DATA:
            absent.update(t for t in d.top if t not in blobs)
            continue
        if d.type in SKIPPED or d.type.endswith("Loss") or not _included(d.params):
            continue
        if any(b in absent for b in d.bottom):
            absent.update(d.top)
            continue
        missing = [b for b in d.bottom if b not in blobs]
        if missing:
            raise KeyError(f"layer {d.name!r}: no blob {missing} (inputs: {sorted(inputs)})")
        weights = [torch.as_tensor(np.asarray(b), dtype=torch.float64) for b in d.blobs]
        with torch.no_grad():
            tops = _layer(d, [blobs[b] for b in d.bottom], weights)
        blobs.update(zip(d.top, tops, strict=True))
    return {k: v.numpy() for k, v in blobs.items()}
