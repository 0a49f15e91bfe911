"""The authors' released nets as layer definitions, typed as facts from the public prototxts
their .caffemodel files come from (shelhamer/fcn.berkeleyvision.org: each net directory's
train.prototxt or trainval.prototxt, as its net.py writes it; BVLC/caffe models/ for the
ILSVRC classifiers, in caffe_nets_classifiers), with random weights of the real blob shapes
(the trunk's widths scaled, class counts real). Tests write them with
caffe_wire.caffemodel_from_defs and compare against caffe_forward.caffe_forward."""

import copy
from collections import Counter
from typing import NamedTuple

import numpy as np


class LayerDef(NamedTuple):
    name: str
    type: str
    bottom: tuple
    top: tuple
    params: dict  # param message name -> its fields; also "param", "include", "loss_weight"
    blobs: list


def L(name, kind, bottom=(), top=None, **params) -> LayerDef:
    """A layer; ``top`` defaults to the layer's name, as NetSpec names it."""
    bottom = (bottom,) if isinstance(bottom, str) else tuple(bottom)
    top = (name,) if top is None else (top,) if isinstance(top, str) else tuple(top)
    return LayerDef(name, kind, bottom, top, params, [])


LEARN = [{"lr_mult": 1, "decay_mult": 1}, {"lr_mult": 2, "decay_mult": 0}]
FROZEN = [{"lr_mult": 0}]


def conv(name, bottom, n, param=LEARN, **fields):
    params = {"convolution_param": {"num_output": n, **fields}}
    return L(name, "Convolution", bottom, **({"param": param} if param else {}), **params)


def relu(name, blob):
    return L(name, "ReLU", blob, blob)


def drop(name, blob, ratio=0.5):
    return L(name, "Dropout", blob, blob, dropout_param={"dropout_ratio": ratio})


def pool(name, bottom, k, s, kind="MAX", **fields):
    fields = {"pool": kind, "kernel_size": k, "stride": s, **fields}
    return L(name, "Pooling", bottom, pooling_param=fields)


def lrn(name, bottom):
    return L(name, "LRN", bottom, lrn_param={"local_size": 5, "alpha": 0.0001, "beta": 0.75})


def python_data(name, tops, module, layer, param_str):
    fields = {"module": module, "layer": layer, "param_str": param_str}
    return L(name, "Python", (), tops, python_param=fields)


def softmax_loss(name, bottoms, top=None, normalize=False):
    fields = {"ignore_label": 255, "normalize": normalize}
    return L(name, "SoftmaxWithLoss", bottoms, top, loss_param=fields)


def vgg_trunk(w, data="data", sfx="", first=None, dropout=True):
    """conv1_1 .. drop7 of the FCN-VGG16 nets (net.py's conv_relu / max_pool); ``sfx`` ends
    every name (nyud-fcn32s-color-hha's modality_fcn), ``first`` renames conv1_1."""
    out, bottom = [], data
    for stage, (n, reps) in enumerate([(64, 2), (128, 2), (256, 3), (512, 3), (512, 3)], 1):
        for i in range(1, reps + 1):
            name = first if first and (stage, i) == (1, 1) else f"conv{stage}_{i}{sfx}"
            pad = 100 if (stage, i) == (1, 1) else 1
            out += [conv(name, bottom, w(n), pad=pad, kernel_size=3, stride=1)]
            out += [relu(f"relu{stage}_{i}{sfx}", name)]
            bottom = name
        out.append(pool(f"pool{stage}{sfx}", bottom, 2, 2))
        bottom = f"pool{stage}{sfx}"
    for i, k in ((6, 7), (7, 1)):
        fc = f"fc{i}{sfx}"
        out += [
            conv(fc, bottom, w(4096), pad=0, kernel_size=k, stride=1),
            relu(f"relu{i}{sfx}", fc),
        ]
        out += [drop(f"drop{i}{sfx}", fc)] if dropout else []
        bottom = fc
    return out


def fcn_head(stride, classes, data="data", s="", scales=False, k32=64, crop32=19):
    """score_fr .. score: 32s (upscore 64/32, crop 19), 16s (upscore2, score_pool4c at 5,
    upscore16 32/16, crop 27), 8s (+ upscore_pool4, score_pool3c at 9, upscore8 16/8, crop
    31); SIFT Flow puts ``s`` (_sem/_geo) before the crops' "c"; at-once scales the skips."""

    def score(name, bottom):
        return conv(name, bottom, classes, pad=0, kernel_size=1)

    def up(name, bottom, k, st):
        fields = {"num_output": classes, "bias_term": False, "kernel_size": k, "stride": st}
        return L(name, "Deconvolution", bottom, param=FROZEN, convolution_param=fields)

    def crop(name, bottom, ref, offset):
        return L(name, "Crop", (bottom, ref), crop_param={"axis": 2, "offset": offset})

    def skip(pool_name, value, ref, offset):
        layers, bottom = [], pool_name
        if scales:
            filler = {"filler": {"type": "constant", "value": value}}
            layers.append(
                L(f"scale_{pool_name}", "Scale", pool_name, param=FROZEN, scale_param=filler)
            )
            bottom = f"scale_{pool_name}"
        fuse = L(f"fuse_{pool_name}{s}", "Eltwise", (ref, f"score_{pool_name}{s}c"),
                 eltwise_param={"operation": "SUM"})  # fmt: skip
        scored = score(f"score_{pool_name}{s}", bottom)
        return [*layers, scored, crop(f"score_{pool_name}{s}c", scored.name, ref, offset), fuse]

    out = [score(f"score_fr{s}", "fc7")]
    if stride == 32:
        last = up(f"upscore{s}", out[0].name, k32, 32)
        return [*out, last, crop(f"score{s}", last.name, data, crop32)]
    out += [up(f"upscore2{s}", f"score_fr{s}", 4, 2), *skip("pool4", 0.01, f"upscore2{s}", 5)]
    if stride == 16:
        last = up(f"upscore16{s}", f"fuse_pool4{s}", 32, 16)
        return [*out, last, crop(f"score{s}", last.name, data, 27)]
    out += [up(f"upscore_pool4{s}", f"fuse_pool4{s}", 4, 2)]
    out += skip("pool3", 0.0001, f"upscore_pool4{s}", 9)
    last = up(f"upscore8{s}", f"fuse_pool3{s}", 16, 8)
    return [*out, last, crop(f"score{s}", last.name, data, 31)]


MEAN = "'mean': (104.00699, 116.66877, 122.67892)"


def voc(path):  # voc_layers.SBDDSegDataLayer, as each train.prototxt (at 6c59617) has it
    param = f"{{'sbdd_dir': '{path}/sbdd/dataset', 'seed': 1337, 'split': 'train', {MEAN}}}"
    return python_data("data", ("data", "label"), "voc_layers", "SBDDSegDataLayer", param)


def nyud(name, tops):  # nyud_layers.NYUDSegDataLayer; the layer is named after its first top
    listed = ", ".join(f"'{t}'" for t in (*tops, "label"))
    param = f"{{'tops': [{listed}], 'seed': 1337, 'nyud_dir': '../data/nyud', 'split': 'trainval'}}"
    first = "data" if len(tops) == 1 else tops[0]
    top_names = ("data", "label") if len(tops) == 1 else (*tops, "label")
    return python_data(first, top_names, "nyud_layers", "NYUDSegDataLayer", param)


def siftflow():
    param = "{'siftflow_dir': '../data/sift-flow', 'seed': 1337, 'split': 'trainval'}"
    return python_data(
        "data", ("data", "sem", "geo"), "siftflow_layers", "SIFTFlowSegDataLayer", param
    )


def pcontext():
    param = ("{'context_dir': '../../data/pascal-context', 'seed': 1337, 'split': 'train', "
             "'voc_dir': '../../data/pascal'}")  # fmt: skip
    layer = "PASCALContextSegDataLayer"
    return python_data("data", ("data", "label"), "pascalcontext_layers", layer, param)


def single(stride, classes, data_layer, scales=False):
    def build(w):
        head = fcn_head(stride, classes, scales=scales)
        return [data_layer, *vgg_trunk(w), *head, softmax_loss("loss", ("score", "label"))]

    return build


def alexnet(w):
    """voc-fcn-alexnet/train.prototxt: trunk convs without param specs, group written out;
    upscore 63/32, score cropped at 18, the loss normalized."""

    def c(name, bottom, n, k, pad, group, stride=1):
        n = max(2, round(w(n) / 2) * 2) if n != 4096 else w(n)  # grouped widths stay even
        return conv(name, bottom, n, None, pad=pad, kernel_size=k, group=group, stride=stride)

    net = [voc("../data"), c("conv1", "data", 96, 11, 100, 1, 4), relu("relu1", "conv1"),
           pool("pool1", "conv1", 3, 2), lrn("norm1", "pool1"), c("conv2", "norm1", 256, 5, 2, 2),
           relu("relu2", "conv2"), pool("pool2", "conv2", 3, 2), lrn("norm2", "pool2"),
           c("conv3", "norm2", 384, 3, 1, 1), relu("relu3", "conv3"),
           c("conv4", "conv3", 384, 3, 1, 2), relu("relu4", "conv4"),
           c("conv5", "conv4", 256, 3, 1, 2), relu("relu5", "conv5"), pool("pool5", "conv5", 3, 2),
           c("fc6", "pool5", 4096, 6, 0, 1), relu("relu6", "fc6"), drop("drop6", "fc6"),
           c("fc7", "fc6", 4096, 1, 0, 1), relu("relu7", "fc7"), drop("drop7", "fc7")]  # fmt: skip
    head = fcn_head(32, 21, k32=63, crop32=18)
    return [*net, *head, softmax_loss("loss", ("score", "label"), normalize=True)]


def nyud_color_hha(w):
    """Two VGG trunks (names ending "color" / "hha"), each with its score_fr; score_fused
    averages them (Eltwise SUM, coeff 0.5, 0.5) before one upscore; the crop takes "color"."""
    net = [nyud("color", ("color", "hha"))]
    for modality in ("color", "hha"):
        trunk = vgg_trunk(w, data=modality, sfx=modality)
        net += [*trunk, conv(f"score_fr{modality}", f"fc7{modality}", 40, pad=0, kernel_size=1)]
    fuse = {"operation": "SUM", "coeff": [0.5, 0.5]}
    net.append(L("score_fused", "Eltwise", ("score_frcolor", "score_frhha"), eltwise_param=fuse))
    head = fcn_head(32, 40, data="color")[1:]
    head[0] = head[0]._replace(bottom=("score_fused",))
    return [*net, *head, softmax_loss("loss", ("score", "label"))]


def nyud_color_d(w):
    """color and depth concatenated into "data" (4 channels) for conv1_1_bgrd."""
    net = [nyud("color", ("color", "depth")), L("data", "Concat", ("color", "depth"))]
    net += [*vgg_trunk(w, first="conv1_1_bgrd"), *fcn_head(32, 40)]
    return [*net, softmax_loss("loss", ("score", "label"))]


def sift_flow(stride):
    def build(w):
        net = [siftflow(), *vgg_trunk(w), *fcn_head(stride, 33, s="_sem")]
        net += [softmax_loss("loss", ("score_sem", "sem")), *fcn_head(stride, 3, s="_geo")]
        return [*net, softmax_loss("loss_geo", ("score_geo", "geo"))]

    return build


def voc_fcn8s_deploy(w):  # voc-fcn8s/deploy.prototxt: an Input layer, no dropout, no loss
    shape = {"shape": [{"dim": [1, 3, 500, 500]}]}
    return [L("input", "Input", (), "data", input_param=shape), *vgg_trunk(w, dropout=False),
            *fcn_head(8, 21)]  # fmt: skip


NETS = {
    "voc-fcn32s": single(32, 21, voc("../data")),
    "voc-fcn16s": single(16, 21, voc("../../data")),
    "voc-fcn8s": single(8, 21, voc("../data")),
    "voc-fcn8s-deploy": voc_fcn8s_deploy,
    "voc-fcn8s-atonce": single(8, 21, voc("../data"), scales=True),
    "voc-fcn-alexnet": alexnet,
    "nyud-fcn32s-color": single(32, 40, nyud("data", ("color",))),
    "nyud-fcn32s-hha": single(32, 40, nyud("data", ("hha",))),
    "nyud-fcn32s-color-d": nyud_color_d,
    "nyud-fcn32s-color-hha": nyud_color_hha,
    "siftflow-fcn32s": sift_flow(32),
    "siftflow-fcn16s": sift_flow(16),
    "siftflow-fcn8s": sift_flow(8),
    "pascalcontext-fcn32s": single(32, 60, pcontext()),  # 60 = 59 classes + background
    "pascalcontext-fcn16s": single(16, 60, pcontext()),
    "pascalcontext-fcn8s": single(8, 60, pcontext()),
}
CLASSIFIERS = {
    "vgg16-ilsvrc": ("fc8",),
    "caffenet": ("fc8",),
    "bvlc-googlenet": ("loss3/classifier",),
}
CHANNELS = {"data": 3, "color": 3, "hha": 3, "depth": 1}
DATA = {"nyud-fcn32s-color-d": ("color", "depth"), "nyud-fcn32s-color-hha": ("color", "hha")}
INPUTS = {"vgg16-ilsvrc": ("data",)}  # NetParameter.input: VGG16's deploy has no data layer
SIZE = {"caffenet": 227, "vgg16-ilsvrc": 224, "bvlc-googlenet": 224}  # the classifiers' input


def names() -> list[str]:
    return [*NETS, *CLASSIFIERS]


def output_blobs(name) -> tuple[str, ...]:
    """The score blobs the TEST phase computes."""
    if name in CLASSIFIERS:
        return CLASSIFIERS[name]
    return ("score_sem", "score_geo") if name.startswith("siftflow") else ("score",)


def inputs_of(name, height, width, seed=0) -> dict[str, np.ndarray]:
    """Random (1, C, height, width) float32 inputs for the net's data tops (labels left out);
    the classifiers' InnerProduct blobs are shaped for their input size, SIZE[name]."""
    rng = np.random.default_rng(seed)
    tops = DATA.get(name, ("data",))
    shape = {t: (1, CHANNELS[t], height, width) for t in tops}
    return {t: rng.standard_normal(s).astype(np.float32) for t, s in shape.items()}


def released_net(name, width=1 / 16, seed=0, phase="train") -> list[LayerDef]:
    """``name``'s layers with random blobs. ``phase`` "train" (or "test"): the net as Caffe's
    Net::ToProto writes it for that phase (the solver saves the TRAIN net): layers filtered by
    their include/exclude rules, Split layers inserted, every layer's phase set, loss layers'
    loss_weight defaulted to 1. ``phase=None``: the prototxt's layers as typed."""
    from caffe_nets_classifiers import BUILDERS

    def w(n):
        return max(1, round(n * width))

    defs = [d._replace(params=copy.deepcopy(d.params)) for d in (NETS | BUILDERS)[name](w)]
    size = SIZE.get(name, 224)
    defs = with_blobs(defs, inputs_of(name, size, size), np.random.default_rng(seed))
    return defs if phase is None else as_saved(defs, phase, INPUTS.get(name, ()))


def _included(d, phase) -> bool:  # NetStateRule by phase only (no levels or stages here)
    def match(rules):
        return any(r.get("phase", phase) == phase for r in rules)

    if d.params.get("include"):
        return match(d.params["include"])
    return not match(d.params.get("exclude", []))


def insert_splits(defs, inputs=()) -> list[LayerDef]:
    """Caffe's InsertSplits (util/insert_splits.cpp): a top read by more than one bottom (or
    by one and a loss weight) gets a Split layer right after its layer, named
    "<blob>_<layer>_<top index>_split", its k-th top "<that>_<k>" feeding the k-th reader;
    the net's ``inputs`` (NetParameter.input) count as tops of a layer named "input"."""
    last, source, count, weight = {b: (-1, j) for j, b in enumerate(inputs)}, {}, Counter(), {}
    for i, d in enumerate(defs):
        for j, b in enumerate(d.bottom):
            if b not in last:
                raise ValueError(f"layer {d.name!r}: unknown bottom {b!r}")
            source[i, j] = last[b]
            count[last[b]] += 1
        last.update({t: (i, j) for j, t in enumerate(d.top)})
        for j, lw in enumerate(d.params.get("loss_weight", [])[: len(d.top)]):
            weight[i, j] = lw
            count[i, j] += bool(lw)
    out, taken = [], Counter()
    for i, d in enumerate(defs):
        bottom = list(d.bottom)
        for j, b in enumerate(bottom):
            src = source[i, j]
            if count[src] > 1:
                producer = defs[src[0]].name if src[0] >= 0 else "input"
                bottom[j] = f"{b}_{producer}_{src[1]}_split_{taken[src]}"
                taken[src] += 1
        params, splits = dict(d.params), []
        for j, t in enumerate(d.top):
            if count[i, j] > 1:
                base, lw = f"{t}_{d.name}_{j}_split", weight.get((i, j), 0)
                tops = tuple(f"{base}_{k}" for k in range(count[i, j]))
                extra = {"loss_weight": [lw] + [0] * (len(tops) - 1)} if lw else {}
                splits.append(LayerDef(base, "Split", (t,), tops, extra, []))
                if lw:
                    params.pop("loss_weight")
                    taken[i, j] += 1
        out += [d._replace(bottom=tuple(bottom), params=params), *splits]
    return out


def as_saved(defs, phase="train", inputs=()) -> list[LayerDef]:
    """Net::Init's FilterNet, InsertSplits and phase inheritance, and LossLayer::LayerSetUp's
    default loss_weight: the layer definitions Net::ToProto writes."""
    phase = phase.upper()
    out = []
    for d in insert_splits([d for d in defs if _included(d, phase)], inputs):
        params = {**d.params, "phase": d.params.get("phase", phase)}
        if d.type.endswith("Loss") and not params.get("loss_weight"):
            params["loss_weight"] = [1.0]
        out.append(d._replace(params=params))
    return out


def _pooled(n, k, s, p):  # Caffe's ceil rule; the last window starts inside image + pad
    out = -(-(n + 2 * p - k) // s) + 1
    return out - 1 if p and (out - 1) * s >= n + p else out


def _hw(fields, name, default):
    value = fields.get(name, default)
    value = value[0] if isinstance(value, (list, tuple)) else value
    key = "kernel" if name == "kernel_size" else name
    return fields.get(f"{key}_h", value), fields.get(f"{key}_w", value)


def with_blobs(defs, inputs, rng) -> list[LayerDef]:
    """Random blobs in Caffe's layouts, shapes followed from ``inputs``: weights He-scaled
    (std sqrt(2/fan_in) before a ReLU, sqrt(1/fan_in) else; a deconvolution's fan-in counts
    the (k/stride)^2 inputs an output sums), biases N(0, 0.1^2); a Scale blob holds its
    filler's constant in every channel."""
    shapes = {k: v.shape for k, v in inputs.items()}
    relu_fed = {d.bottom[0] for d in defs if d.type == "ReLU"}
    out = []
    for d in defs:
        x = [shapes.get(b) for b in d.bottom]
        blobs, top = [], x[0] if x else None
        gain = 2.0 if d.top and d.top[0] in relu_fed else 1.0
        if d.type in ("Convolution", "Deconvolution"):
            f = d.params["convolution_param"]
            n, g, (kh, kw) = f["num_output"], f.get("group", 1), _hw(f, "kernel_size", 1)
            (ph, pw), (sh, sw) = _hw(f, "pad", 0), _hw(f, "stride", 1)
            (dh, dw), (c, h, wd) = _hw(f, "dilation", 1), x[0][1:]
            ekh, ekw = dh * (kh - 1) + 1, dw * (kw - 1) + 1  # dilated kernel extents
            if d.type == "Convolution":
                shape, fan = (n, c // g, kh, kw), c // g * kh * kw
                hw = ((h + 2 * ph - ekh) // sh + 1, (wd + 2 * pw - ekw) // sw + 1)
            else:
                shape, fan = (c, n // g, kh, kw), c // g * kh * kw / (sh * sw)
                hw = (sh * (h - 1) + ekh - 2 * ph, sw * (wd - 1) + ekw - 2 * pw)
            blobs = [rng.standard_normal(shape) * np.sqrt(gain / fan)]
            blobs += [rng.standard_normal(n) * 0.1] if f.get("bias_term", True) else []
            top = (x[0][0], n, *hw)
        elif d.type == "InnerProduct":
            f = d.params["inner_product_param"]
            n, fan = f["num_output"], int(np.prod(x[0][1:]))
            blobs = [rng.standard_normal((n, fan)) * np.sqrt(gain / fan)]
            blobs += [rng.standard_normal(n) * 0.1] if f.get("bias_term", True) else []
            top = (x[0][0], n)
        elif d.type == "Scale":
            f = d.params.get("scale_param", {})
            axis, num = f.get("axis", 1), f.get("num_axes", 1)
            channels = x[0][axis:] if num == -1 else x[0][axis : axis + num]
            blobs = [np.full(channels, f.get("filler", {}).get("value", 1.0))]
            blobs += [np.zeros(channels)] if f.get("bias_term") else []
        elif d.type == "Pooling":
            f = d.params["pooling_param"]
            (kh, kw), (ph, pw) = _hw(f, "kernel_size", 1), _hw(f, "pad", 0)
            sh, sw = _hw(f, "stride", 1)
            top = (*x[0][:2], _pooled(x[0][2], kh, sh, ph), _pooled(x[0][3], kw, sw, pw))
        elif d.type == "Concat":
            top = (x[0][0], sum(s[1] for s in x), *x[0][2:])
        elif d.type == "Crop":
            top = (*x[0][:2], *x[1][2:])
        if d.type not in ("Python", "Data", "Input") and top is not None:
            shapes.update(dict.fromkeys(d.top, top))
        out.append(d._replace(blobs=[b.astype(np.float32) for b in blobs]))
    return out


def perturb(defs, layer_name, field_path, value) -> list[LayerDef]:
    """A copy of ``defs`` with one thing of ``layer_name`` changed: ``field_path`` is a dotted
    path ("crop_param.offset", "eltwise_param.coeff", "param.0.lr_mult"), "name", "type",
    "bottom", "top", or "blobs.<i>" (a scalar fills the blob's shape; an array replaces it)."""
    path = field_path.split(".") if isinstance(field_path, str) else list(field_path)
    if layer_name not in {d.name for d in defs}:
        raise KeyError(f"no layer {layer_name!r}")
    out = []
    for d in defs:
        if d.name == layer_name and path[0] == "blobs":
            blobs, i = list(d.blobs), int(path[1])
            fill = np.ndim(value) == 0
            blobs[i] = np.full_like(blobs[i], value) if fill else np.asarray(value, np.float32)
            d = d._replace(blobs=blobs)
        elif d.name == layer_name and path[0] in ("name", "type", "bottom", "top"):
            d = d._replace(**{path[0]: value})
        elif d.name == layer_name:
            params = copy.deepcopy(d.params)
            node = params
            for k in path[:-1]:
                node = node[int(k)] if isinstance(node, list) else node.setdefault(k, {})
            node[int(path[-1]) if isinstance(node, list) else path[-1]] = value
            d = d._replace(params=params)
        out.append(d)
    return out
