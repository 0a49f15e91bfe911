"""The authors' ``.caffemodel`` files loaded as their own nets (``convert --from caffe``).

The file names its net (:func:`.caffe_net.describe_net`), so no arch need be given; loaded as
itself, every layer definition it carries is checked against ours (:mod:`.caffe_check`) before
its weights are placed by :func:`.importers.import_layers`. Loaded into another arch (a
classifier made an FCN, an FCN-32s grown to 16s) the weights are transplanted and only their
shapes are checked. Its preprocessing is the one its data layer used: the ILSVRC mean, or for
the NYUD nets the means of the reference's ``nyud_layers.py``.
"""

from __future__ import annotations

from pathlib import Path

from fcn_jax.data.preprocessing import CAFFE_ILSVRC, NYUD_COLOR, NYUD_HHA, NYUD_LOG_DEPTH
from fcn_jax.models import build_from
from fcn_jax.weights.caffe_check import check_definitions
from fcn_jax.weights.caffe_net import CaffeNet, describe_net, has_definitions, our_name
from fcn_jax.weights.caffemodel import read_caffemodel
from fcn_jax.weights.importers import AUXILIARY, Imported, import_layers, infer_width


def convert_caffe(source: Path, arch: str | None, **options) -> Imported:
    layers = read_caffemodel(source)
    try:
        net = describe_net(layers, str(source))
    except ValueError:
        if arch is None:
            raise
        net = CaffeNet("", 0, (), (), "color", 3)  # not one of the reference nets: as --arch says
    own = arch in (None, net.arch)
    arch = arch or net.arch
    found = {our_name(layer.name, net.streams): layer.blobs for layer in layers if layer.blobs}
    fused = {"streams": net.streams, "in_channels": net.in_channels}
    if own and has_definitions(layers):
        width = infer_width(found, arch, str(source))
        description = {"arch": arch, "num_classes": net.num_classes, "width": width,
                       "align": "caffe", "heads": net.heads, **fused}  # fmt: skip
        check_definitions(layers, build_from(description), net, str(source), AUXILIARY)
    elif not own and (net.streams or net.in_channels != 3):
        raise ValueError(f"{source} holds a {net.arch} on {net.inputs} inputs; it loads only as "
                         "itself (leave out --arch)")  # fmt: skip
    imported = import_layers(found, arch, str(source), **(fused if own else {}), **options)
    preprocessing, extra = CAFFE_ILSVRC, {}
    if net.data_layer == "NYUDSegDataLayer":  # trained on NYUD's own means
        hha = own and net.inputs == "hha"
        preprocessing = NYUD_HHA if hha else NYUD_COLOR
        if own and net.inputs != "color":
            extra = {"hha_mean_rgb": list(NYUD_HHA.mean), "log_depth_mean": NYUD_LOG_DEPTH}
    meta = {**imported.meta, "inputs": net.inputs if own else "color", **extra,
            "in_channels": net.in_channels if own else 3, "preprocessing": preprocessing,
            "source": {"format": "caffe", "file": str(source), "net": net.arch,
                       "definitions_checked": own and has_definitions(layers)}}  # fmt: skip
    return imported._replace(meta=meta)
