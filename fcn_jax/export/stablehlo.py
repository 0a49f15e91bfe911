"""Serialized StableHLO of a net's inference: NHWC float images (already normalised, or raw
RGB with the normalisation inside) to logits, the plain-XLA convolutions, params and batch
statistics baked in as constants.

The batch is symbolic. Height and width must be fixed: every FCN traces its geometry (the
crop offsets, ``geometry.Trace``) on concrete pixel rows and columns, so a symbolic size
cannot pass through it; :class:`SymbolicSizeError` says so."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import export

from fcn_jax.export.inference import forward
from fcn_jax.export.metadata import describe
from fcn_jax.models import input_channels

REFUSED_SIZE = ("--dynamic: this net traces its crop geometry on a concrete image size, so "
                "height and width cannot be symbolic: give --height H --width W (the batch "
                "stays symbolic)")  # fmt: skip


class SymbolicSizeError(ValueError):
    """The net cannot take a symbolic height and width."""


def exported(model, variables: dict, height: int | None, width: int | None, inside=None):
    """The ``jax.export.Exported`` of ``model`` on (batch, height, width, C) inputs; ``None``
    height and width try symbolic ones; ``inside`` (a ``Normalisation``) builds it in."""
    batch, *size = export.symbolic_shape("b" if height else "b, h, w")
    shape = (batch, height, width) if height else (batch, *size)
    spec = jax.ShapeDtypeStruct((*shape, input_channels(model)), jnp.float32)
    try:
        return export.export(jax.jit(forward(model, variables, inside)))(spec)
    except (jax.errors.InconclusiveDimensionOperation, jax.errors.ConcretizationTypeError,
            TypeError) as err:  # fmt: skip
        raise SymbolicSizeError(REFUSED_SIZE) from err


def metadata(exp, normalisation, class_names, arch: str, align: str | None,
             inside: bool = False) -> dict:  # fmt: skip
    """What a user needs beside the file: layout, preprocessing, classes, the shapes."""
    outs = exp.out_avals
    names = ["logits"] if len(outs) == 1 else [f"logits_{k}" for k in _keys(exp.out_tree)]
    shapes = {n: a.shape for n, a in zip(names, outs, strict=True)}
    meta = describe("stablehlo", arch, align, normalisation, inside, class_names,
                    exp.in_avals[0].shape, shapes)  # fmt: skip
    return {**meta, "output_tree": str(exp.out_tree), "symbolic_dims": ["b"]}


def _keys(tree) -> list[str]:
    """The dict keys of a flat dict's treedef, in leaf order."""
    return sorted(jax.tree.unflatten(tree, range(tree.num_leaves)))
