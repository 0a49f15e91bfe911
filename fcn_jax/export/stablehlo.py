"""Serialized StableHLO of a net's inference: NHWC float images (already normalised) to
logits, the plain-XLA convolutions, params and batch statistics baked in as constants.

The batch is symbolic. Height and width must be fixed: every FCN traces its geometry (the
crop offsets, ``geometry.Trace``) on concrete pixel rows and columns, so a symbolic size
cannot pass through it; :class:`SymbolicSizeError` says so."""

from __future__ import annotations

import jax
import jax.numpy as jnp
from jax import export

from fcn_jax.models import input_channels


class SymbolicSizeError(ValueError):
    """The net cannot take a symbolic height and width."""


def exported(model, variables: dict, height: int | None, width: int | None):
    """The ``jax.export.Exported`` of ``model`` on (batch, height, width, C) inputs; ``None``
    height and width try symbolic ones."""
    net = model.clone(kernels="xla")
    batch, *size = export.symbolic_shape("b" if height else "b, h, w")
    shape = (batch, height, width) if height else (batch, *size)
    spec = jax.ShapeDtypeStruct((*shape, input_channels(net)), jnp.float32)
    try:
        return export.export(jax.jit(lambda x: net.apply(variables, x)))(spec)
    except (jax.errors.InconclusiveDimensionOperation, jax.errors.ConcretizationTypeError,
            TypeError) as err:  # fmt: skip
        raise SymbolicSizeError(
            "--dynamic: this net traces its crop geometry on a concrete image size, so height "
            "and width cannot be symbolic: give --height H --width W (the batch stays symbolic)"
        ) from err


def metadata(exp, normalisation, class_names, arch: str, align: str | None) -> dict:
    """What a user needs beside the file: layout, preprocessing, classes, the shapes."""
    return {
        "format": "stablehlo",
        "arch": arch,
        "align": align,
        "input_layout": "NHWC",
        "input": {"shape": [str(d) for d in exp.in_avals[0].shape], "dtype": "float32"},
        "outputs": [[str(d) for d in a.shape] for a in exp.out_avals],
        "output_tree": str(exp.out_tree),
        "preprocessing": {
            **normalisation.to_json(),
            "rule": "float32((rgb - mean) / std) on 0..255 values, then the channels in 'order'",
        },
        "class_names": list(class_names) if class_names else None,
        "symbolic_dims": ["b"],
    }
