"""Model construction: ``build(arch, num_classes, **options)`` returns a Flax Linen FCN."""

from __future__ import annotations

from functools import partial

from fcn_jax.kernels.choice import checked
from fcn_jax.models.alexnet import alexnet
from fcn_jax.models.classifier import Classifier
from fcn_jax.models.fcn import FCN, Skip, Upscore, input_channels, layer_types, trace_layers
from fcn_jax.models.googlenet import googlenet
from fcn_jax.models.resnet import DilatedFCN, resnet, stage_output
from fcn_jax.models.vgg import channels, vgg16
from fcn_jax.names import ALIGNMENTS, ARCHS, CLASSIFIERS

__all__ = [
    "ALIGNMENTS",
    "ARCHS",
    "CLASSIFIERS",
    "FCN",
    "Classifier",
    "DilatedFCN",
    "Skip",
    "Upscore",
    "build",
    "build_from",
    "input_channels",
    "layer_types",
    "trace_layers",
]


def build_from(meta) -> FCN | Classifier | DilatedFCN:
    """The net a description names (``arch``, ``num_classes``, ``width`` and the options of
    :func:`build` it holds: a converted-weights directory's ``weights.json``)."""
    options = {k: meta[k] for k in ("align", "learnable_upsampling", "aux") if k in meta}
    options["kernels"] = meta.get("kernels", "auto")
    options["heads"] = tuple((name, count) for name, count in meta.get("heads") or ())
    options["streams"] = tuple(meta.get("streams") or ())
    options["in_channels"] = meta.get("in_channels", 3)
    return build(meta["arch"], meta["num_classes"], width=meta.get("width", 1.0), **options)


def build(
    arch: str,
    num_classes: int,
    *,
    align: str = "caffe",
    width: float = 1.0,
    learnable_upsampling: bool = False,
    streams: tuple[str, ...] = (),
    in_channels: int = 3,
    heads: tuple[tuple[str, int], ...] = (),
    aux: bool = False,
    train_bn: bool = False,
    kernels: str = "auto",
) -> FCN | Classifier | DilatedFCN:
    """The FCN ``arch`` (one of ``ARCHS``) with ``num_classes`` outputs, or a convolutionalized
    classifier (one of ``CLASSIFIERS``, with the classifier's own padding; ``align`` and the
    upsampling options do not apply to it).

    ``align='caffe'`` is the reference geometry (conv1 pad 100, crops at derived offsets);
    ``align='same'`` drops the pad 100 and pads the classifier convs instead, so output pixel i
    is centred on input pixel i without the huge margin. ``width`` scales every channel count
    (for tests and quick experiments); ``learnable_upsampling`` lets the deconvolutions train.
    ``streams`` (e.g. ``('color', 'hha')``) builds a late-fusion net as the reference's: a trunk
    and score layers per stream, each on 3 consecutive input channels, their scores averaged
    and upsampled once. ``in_channels`` is the input channels of each stream (4 for early
    fusion's colour and depth). ``heads`` (e.g. ``(('sem', 33),
    ('geo', 3))``) shares the trunk between several suffixed heads (SIFT Flow); the net then
    returns a dict of logits by head and ``num_classes`` is unused. The dilated ResNets
    (``fcn-resnet50/101``) take ``aux`` (the auxiliary head on stage 4) and ``train_bn`` (batch
    statistics trained, else frozen at their running values); ``align`` does not apply to them.
    ``kernels`` is the policy every convolution runs under (:mod:`fcn_jax.kernels.choice`:
    ``"auto"`` the fastest measured form per layer on the backend, ``"xla"`` XLA's own).
    """
    if align not in ALIGNMENTS:
        raise ValueError(f"align must be one of {ALIGNMENTS}, got {align!r}")
    if num_classes < 1:
        raise ValueError(f"num_classes must be positive, got {num_classes}")
    if not width > 0:
        raise ValueError(f"width must be positive, got {width}")
    if in_channels != 3 and not (arch in ARCHS and "resnet" not in arch):
        raise ValueError(f"{arch} takes 3 input channels; in_channels={in_channels} is for FCNs")
    checked(kernels)
    caffe = align == "caffe"
    if arch in ("fcn-resnet50", "fcn-resnet101"):
        depth = int(arch.removeprefix("fcn-resnet"))
        top = 4 * channels(512, width)
        return DilatedFCN(
            num_classes,
            partial(resnet, depth, width, train_bn),
            head_channels=top // 4,
            aux_tap=stage_output(depth, 4) if aux else "",
            aux_channels=top // 8,
            train_bn=train_bn,
            kernels=kernels,
        )
    if arch == "vgg16":
        return Classifier(num_classes, partial(vgg16, width, first_pad=1, fc6_pad=0),
                          kernels=kernels)  # fmt: skip
    if arch == "alexnet":
        return Classifier(num_classes, partial(alexnet, width, first_pad=0), kernels=kernels)
    if arch == "googlenet":
        trunk = partial(googlenet, width, classifier=True)
        return Classifier(num_classes, trunk, last="loss3_classifier", kernels=kernels)
    vgg = partial(vgg16, width, first_pad=100 if caffe else 1, fc6_pad=0 if caffe else 3)
    pool4, pool3 = Skip("pool4", "upscore2"), Skip("pool3", "upscore_pool4")
    match arch:
        case "fcn32s":
            trunk, skips, upscore = vgg, (), Upscore("upscore", 64, 32)
        case "fcn16s":
            trunk, skips, upscore = vgg, (pool4,), Upscore("upscore16", 32, 16)
        case "fcn8s":
            trunk, skips, upscore = vgg, (pool4, pool3), Upscore("upscore8", 16, 8)
        case "fcn8s-atonce":
            skips = (pool4._replace(scale=0.01), pool3._replace(scale=0.0001))
            trunk, upscore = vgg, Upscore("upscore8", 16, 8)
        case "fcn-alexnet":
            trunk = partial(
                alexnet,
                width,
                first_pad=100 if caffe else 5,
                pool_pad=0 if caffe else 1,
                fc6_pad=0 if caffe else 3,
            )
            skips, upscore = (), Upscore("upscore", 63, 32)
        case "fcn32s-googlenet" | "fcn16s-googlenet" | "fcn8s-googlenet":
            trunk = partial(googlenet, width)
            # Skips from the last inception outputs at strides 16 and 8. GoogLeNet's unpadded
            # 3x3/2 pools shift each stride's grid by an odd number of pixels, so the
            # deconvolutions take odd kernels (2s - 1, as FCN-AlexNet's 63) to stay on whole
            # pixels; the geometry derives the crops as for every net.
            taps = (Skip("inception_4e_output", "upscore2", kernel=3),
                    Skip("inception_3b_output", "upscore_pool4", kernel=3))  # fmt: skip
            stride = int(arch.split("s-")[0][3:])
            skips = taps[: {32: 0, 16: 1, 8: 2}[stride]]
            name = {32: "upscore", 16: "upscore16", 8: "upscore8"}[stride]
            upscore = Upscore(name, 2 * stride - 1, stride)
        case _:
            raise ValueError(
                f"unknown arch {arch!r}; choose one of {', '.join(ARCHS + CLASSIFIERS)}"
            )
    if streams and in_channels != 3:
        raise ValueError(f"late-fusion streams take 3 channels each, got in_channels={in_channels}")
    return FCN(num_classes, trunk, upscore, skips, learnable_upsampling, tuple(heads),
               tuple(streams), in_channels, kernels)  # fmt: skip
