"""Whole-image prediction from a trained workdir or a converted-weights directory.

The net, its params and the input normalisation come from the same place (the checkpoint's
run description, or ``weights.json``), so the preprocessing cannot be mismatched. For each
image: a palette label PNG and an overlay (FCNs), and with a heatmap class the softmax score
map of that class (``*_heat_<class>.png`` over the image, ``.npy`` at the net's resolution).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from functools import partial
from pathlib import Path
from typing import TYPE_CHECKING, NamedTuple

import jax
import numpy as np
from scipy.special import softmax

from fcn_jax.data.batching import bucket as round_up
from fcn_jax.data.preprocessing import Normalisation, caffe
from fcn_jax.data.transforms import model_input
from fcn_jax.models import CLASSIFIERS, build_from
from fcn_jax.predict import outputs
from fcn_jax.predict.images import read_depth, read_rgb
from fcn_jax.predict.tiled import tile_geometry, tiled_map
from fcn_jax.viz import heatmap_figure, label_png, overlay_figure, save

if TYPE_CHECKING:
    from fcn_jax.train.spec import RunSpec


class Predictor(NamedTuple):
    """What prediction needs: the net, its params, how its inputs are normalised."""

    model: object
    variables: dict  # params and, for batch-norm nets, batch_stats
    normalisation: Normalisation
    classifier: bool  # coarse class scores (a convolutionalized classifier), no labels
    class_names: list[str] | None
    origin: str  # where the normalisation comes from, for the user
    inputs: str = "color"  # or a NYUD net's 'color+depth' / 'color|hha' (then an image each)
    means: dict | None = None  # the other inputs' means (model_input's), for those nets


def from_weights(directory: str | Path) -> Predictor:
    """A predictor from a directory written by ``fcn-jax convert``."""
    from fcn_jax.weights.bundle import BundleError, load_batch_stats, load_bundle

    params, meta = load_bundle(directory)
    stats = load_batch_stats(directory)
    if "resnet" in meta["arch"] and not stats:
        raise BundleError(f"{directory}: a {meta['arch']} needs batch_stats.npz, which is missing")
    variables = {"params": params, **({"batch_stats": stats} if stats else {})}
    inputs = meta.get("inputs", "color")
    means = {"color": meta["preprocessing"], "log_depth": meta.get("log_depth_mean", 0.0)}
    if "hha_mean_rgb" in meta:
        means["hha"] = caffe(meta["hha_mean_rgb"])
    model = build_from(meta)
    origin = f"stored with the weights in {directory}"
    classifier = meta["arch"] in CLASSIFIERS
    return Predictor(model, variables, meta["preprocessing"], classifier,
                     meta.get("class_names"), origin, inputs, means)  # fmt: skip


def from_spec(spec: RunSpec, model, variables, workdir: str | Path) -> Predictor:
    """A predictor from a training checkpoint's run description."""
    if spec.preprocessing is not None:
        normalisation = spec.preprocessing
        origin = f"stored with {workdir}'s checkpoint (from the weights it started from)"
    else:
        normalisation = caffe(spec.mean_rgb)
        origin = f"the mean of {workdir}'s dataset {spec.dataset!r}"
    return Predictor(model, variables, normalisation, False, list(spec.class_names), origin)


def class_index(which: str, count: int, names: Sequence[str] | None) -> int:
    """A class given by index or name; the error lists what there is."""
    if which.isdigit() and int(which) < count:
        return int(which)
    if names and which in names:
        return list(names).index(which)
    known = f"names: {', '.join(names)}" if names else "no class names are stored"
    raise ValueError(f"no class {which!r}: give an index in [0, {count}) ({known})")


OTHER_INPUTS = {"color+depth": "depth", "color|hha": "hha"}  # what a NYUD fusion net also takes


def _inputs_of(predictor: Predictor, path: Path, second: Path | None, other: str | None):
    """(the colour image, the net's input) of one image and its depth or HHA image."""
    rgb = read_rgb(path, "image")
    if other is None:
        return rgb, predictor.normalisation.apply(rgb)
    extra = read_depth(second) if other == "depth" else read_rgb(second, "HHA image")
    if extra.shape[:2] != rgb.shape[:2]:
        raise ValueError(f"{second} is {extra.shape[1]}x{extra.shape[0]} pixels, "
                         f"{path} {rgb.shape[1]}x{rgb.shape[0]}")  # fmt: skip
    return rgb, model_input({"image": rgb, other: extra}, predictor.inputs, predictor.means)


def _semantic(logits):
    if isinstance(logits, dict):  # several heads: the first is the semantic one
        return next(iter(logits.values()))
    return logits


def semantic_of(forward):
    """``forward`` giving the semantic scores alone (the first head's of several)."""
    return lambda variables, x: _semantic(forward(variables, x))


def scores_of(forward, variables, x: np.ndarray, bucket: int = 0) -> np.ndarray:
    """The net's (semantic) scores on one input (H, W, C): at its own size, or with ``bucket``
    padded up to multiples of it with 0 (the mean, after preprocessing) and cropped back to
    (H, W), so that a folder of many sizes compiles once per bucket."""
    height, width = x.shape[:2]
    if bucket:
        pad = ((0, round_up(height, bucket) - height), (0, round_up(width, bucket) - width))
        x = np.pad(x, (*pad, (0, 0)))
    return np.asarray(_semantic(forward(variables, x[None]))[0])[:height, :width]


def maps_of(scores: np.ndarray, labels: bool, k: int | None) -> tuple[np.ndarray, ...]:
    """What is written of (H, W, K) scores: the labels (if ``labels``), class ``k``'s softmax
    (if ``k`` is not None). Of a whole image, or of each tile (then only these are kept)."""
    found = (scores.argmax(-1),) if labels else ()
    if k is not None:
        found += (softmax(scores, axis=-1)[..., k],)  # numpy: no compilation per shape
    return found


def predictions(
    predictor: Predictor,
    images: Sequence[str | Path],
    out: str | Path,
    heat: str | None = None,
    others: Sequence[str | Path] = (),
    bucket: int = 0,
    tile: int | None = None,
) -> Iterator[Path]:
    """Write label PNGs and overlays (and heatmaps of class ``heat``) for ``images`` into
    ``out``, yielding each file as it is written. A NYUD fusion net takes a second image per
    colour image, ``others``: its depth PNG (early fusion) or HHA image (late fusion).
    ``bucket`` > 0 pads each input up to multiples of it and crops the scores back
    (:func:`scores_of`; FCNs only). ``tile`` runs each image ``tile`` x ``tile`` pixels at a
    time with the same scores (:mod:`.tiled`; FCNs only, not with ``bucket``).

    Nothing is written when an output would overwrite an input or another output of the call
    (:mod:`.outputs`); an unreadable image stops the call after the files of those before it."""
    other = OTHER_INPUTS.get(predictor.inputs)
    if (other is None and others) or (other and len(others) != len(images)):
        need = f"one --{other} image per colour image" if other else "no --depth or --hha"
        raise ValueError(f"this net takes {predictor.inputs!r} inputs: give {need} "
                         f"({len(images)} image(s), {len(others)} given)")  # fmt: skip
    if predictor.classifier and bucket:
        raise ValueError("a convolutionalized classifier's coarse scores cannot be cropped "
                         "back to the image: predict it without --bucket")  # fmt: skip
    if tile is not None and bucket:
        raise ValueError("give --tile or --bucket, not both: a padded tile would not give "
                         "the image's scores")  # fmt: skip
    geometry = None if tile is None else tile_geometry(predictor.model)
    if geometry is not None:
        geometry.check(tile)
    if predictor.classifier and heat is None:
        raise ValueError(
            "a convolutionalized classifier gives coarse class scores, not labels: "
            "pass a heatmap class (--heatmap CLASS)"
        )
    images, others = [Path(p) for p in images], [Path(p) for p in others]
    pairs = list(zip(images, others or [None] * len(images), strict=True))
    forward = jax.jit(predictor.model.apply)
    first = _inputs_of(predictor, *pairs[0], other)
    k = None
    if heat is not None:  # the class, and so the file names, known before anything is written
        shape = _semantic(jax.eval_shape(forward, predictor.variables, first[1][None])).shape
        k = class_index(heat, shape[-1], predictor.class_names)
    planned = outputs.plan(images, Path(out), not predictor.classifier, k)
    outputs.check(planned, images, [*images, *others])
    outputs.output_directory(out)
    labels = not predictor.classifier
    for n, (path, second) in enumerate(pairs):
        rgb, x = first if n == 0 else _inputs_of(predictor, path, second, other)
        if geometry is None:
            found = maps_of(scores_of(forward, predictor.variables, x, bucket), labels, k)
        else:
            found = tiled_map(semantic_of(forward), predictor.variables, x, tile, geometry,
                              partial(maps_of, labels=labels, k=k))  # fmt: skip
        files, found = iter(planned[n]), iter(found)
        if labels:
            label = next(found)
            label_png(label).save(target := next(files))
            yield target
            save(overlay_figure(rgb, label, predictor.class_names), target := next(files))
            yield target
        if k is not None:
            score = next(found)
            np.save(target := next(files), score)
            yield target
            title = outputs.heat_title(k, predictor.class_names)
            save(heatmap_figure(rgb, score, title), target := next(files))
            yield target


def predict_images(predictor: Predictor, images, out, heat=None, others=(), bucket=0, tile=None):
    """:func:`predictions`, all of them; returns the files written (a list of paths)."""
    return list(predictions(predictor, images, out, heat, others, bucket, tile))
