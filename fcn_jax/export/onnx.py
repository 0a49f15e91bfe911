"""An ONNX model of a net's inference, converted by jax2onnx from the plain-XLA forward
(``inference.standard_forms``): standard ``Conv``, ``ConvTranspose``, ``MaxPool``, ``Relu``,
``Add``, ``Slice`` nodes, params baked in, a symbolic batch ``B``, NHWC float32 in and NHWC
logits out (``logits``; ``logits_<head>`` for each head of a multi-head net), and
:func:`metadata.describe`'s dict in ``metadata_props``. Height and width are fixed, as in
the StableHLO export (:class:`SymbolicSizeError`)."""

from __future__ import annotations

import json

import jax
import jax.numpy as jnp

from fcn_jax.export.inference import forward, standard_forms
from fcn_jax.export.stablehlo import REFUSED_SIZE, SymbolicSizeError, exported
from fcn_jax.models import input_channels

OPSET = 17


class OnnxMissingError(RuntimeError):
    """jax2onnx or onnx is not installed."""


def converter():
    """jax2onnx's ``to_onnx``, or one line saying how to install it."""
    try:
        import onnx  # noqa: F401
        from jax2onnx import to_onnx
    except ImportError as err:
        raise OnnxMissingError(
            f"--format onnx needs jax2onnx and onnx ({err.name} is not installed): "
            "pip install 'fcn-jax[onnx]'"
        ) from err
    return to_onnx


def output_names(model, variables, height: int, width: int) -> list[str]:
    """``logits``, or ``logits_<head>`` in the order jax flattens the heads' dict."""
    spec = jax.ShapeDtypeStruct((1, height, width, input_channels(model)), jnp.float32)
    out = jax.eval_shape(forward(model, variables), spec)
    return ["logits"] if not isinstance(out, dict) else [f"logits_{k}" for k in sorted(out)]


def onnx_model(model, variables: dict, height: int | None, width: int | None, inside=None):
    """The ``onnx.ModelProto`` of ``model`` on (B, height, width, C) inputs (``None`` height
    and width try symbolic ones); ``inside`` (a ``Normalisation``) builds it into the graph."""
    to_onnx = converter()
    if height is None:  # jax.export's shape check refuses a size-dependent net at once
        exported(model, variables, None, None)
    fn = standard_forms(forward(model, variables, inside))
    shape = ("B", height, width) if height else ("B", "H", "W")
    try:
        names = output_names(model, variables, height, width) if height else None
        return to_onnx(fn, [(*shape, input_channels(model))], opset=OPSET,
                       input_names=["image"], output_names=names)  # fmt: skip
    except jax.errors.InconclusiveDimensionOperation as err:
        if height:
            raise
        raise SymbolicSizeError(REFUSED_SIZE) from err


def with_metadata(proto, meta: dict):
    """``proto`` with each of ``meta``'s fields in ``metadata_props`` (strings as they are,
    the rest as JSON)."""
    del proto.metadata_props[:]
    for key, value in meta.items():
        entry = proto.metadata_props.add()
        entry.key, entry.value = key, value if isinstance(value, str) else json.dumps(value)
    return proto


def shapes(proto) -> tuple[list, dict]:
    """The input's shape and each output's, symbolic dims by name."""

    def dims(value):
        return [d.dim_param or d.dim_value for d in value.type.tensor_type.shape.dim]

    return dims(proto.graph.input[0]), {o.name: dims(o) for o in proto.graph.output}
