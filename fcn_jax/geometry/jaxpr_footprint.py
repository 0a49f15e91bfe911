"""The autodiff check of a jaxpr analysis: which input pixels each probed unit depends on.

As :mod:`fcn_jax.geometry.footprint` does for our Linen layers, the function is made linear
and positive before ``jax.vjp`` pulls a one-hot cotangent back, so that the gradient is
nonzero exactly on the unit's support. Here the stand-ins are per primitive, on the equations
of the same jaxpr (the input is ones):

- a convolution's kernel is all ``1 / fan_in``; a contraction's other operand is its pattern of
  nonzeros (``jax.image.resize``'s weights keep their zeros; an all-zero matrix, a
  zero-initialised layer, is all ones), scaled by ``1 / contracted units``;
- max and min pooling and reductions become sums;
- an elementwise op of input-dependent operands is their sum (``max(x, 0)`` is ``x``, ``x * c``
  is ``x``); a unary op is the identity;
- every other equation runs as it is, into ``jit``, ``custom_jvp`` and ``custom_vjp`` bodies.
"""

from __future__ import annotations

import jax
import jax.numpy as jnp
import numpy as np
from jax import lax
from jax.extend.core import ClosedJaxpr, Literal

from fcn_jax.geometry.jaxpr import ELEMENTWISE, LOOPS, bind, sub_jaxpr
from fcn_jax.geometry.jaxpr_result import Analysis

POOLS = {"reduce_window_max", "reduce_window_min"}
REDUCTIONS = {"reduce_max", "reduce_min", "reduce_prod"}


def stand_in(eqn, args, dep):
    """The results of one equation under the linear positive stand-ins (``dep``: which
    operands depend on the input)."""
    prim = eqn.primitive.name
    floats = [a for a, d in zip(args, dep, strict=True)
              if d and jnp.issubdtype(jnp.result_type(a), jnp.floating)]  # fmt: skip
    if prim == "conv_general_dilated" and dep[0] and not dep[1]:
        rhs_spec = eqn.params["dimension_numbers"].rhs_spec
        kernel = args[1]
        fan_in = kernel.size // kernel.shape[rhs_spec[0]]  # taps x input features per group
        return bind(eqn, [args[0], jnp.full_like(kernel, 1 / max(1, fan_in))])
    if prim == "dot_general" and sum(dep) == 1:
        k = 1 - dep.index(True)
        other = args[k]
        pattern = jnp.where(jnp.any(other != 0), (other != 0).astype(other.dtype), 1.0)
        contract = eqn.params["dimension_numbers"][0][k]
        units = int(np.prod([other.shape[d] for d in contract])) if contract else 1
        args = list(args)
        args[k] = pattern / units
        return bind(eqn, args)
    if prim in POOLS and dep[0]:
        return [lax.reduce_window_sum_p.bind(args[0], **eqn.params)]  # the same windows
    if prim in REDUCTIONS and dep[0]:
        return [jnp.sum(args[0], axis=eqn.params["axes"])]
    if prim in ELEMENTWISE and floats and prim not in ("convert_element_type",):
        out = eqn.outvars[0].aval
        if jnp.issubdtype(out.dtype, jnp.floating):
            total = sum(jnp.broadcast_to(a, out.shape).astype(out.dtype) for a in floats)
            return [total] * len(eqn.outvars)
    return bind(eqn, args)


def run(jaxpr, consts, args, dep, wanted, found, path=()):
    """Evaluate ``jaxpr`` under the stand-ins; values whose keys are in ``wanted`` go to
    ``found``."""
    env = dict(zip(jaxpr.constvars, consts, strict=True))
    deps = {v: False for v in jaxpr.constvars}
    env.update(zip(jaxpr.invars, args, strict=True))
    deps.update(zip(jaxpr.invars, dep, strict=True))

    def read(v):
        return (v.val, False) if isinstance(v, Literal) else (env[v], deps[v])

    for index, eqn in enumerate(jaxpr.eqns):
        vals, ds = zip(*map(read, eqn.invars), strict=True) if eqn.invars else ((), ())
        here = (*path, index)
        inner = sub_jaxpr(eqn)
        if any(ds) and inner is not None and eqn.primitive.name not in LOOPS:
            closed = inner if isinstance(inner, ClosedJaxpr) else ClosedJaxpr(inner, ())
            outs = run(closed.jaxpr, closed.consts, vals, ds, wanted, found, here)
        elif any(ds):
            outs = stand_in(eqn, list(vals), list(ds))
        else:
            outs = bind(eqn, list(vals))
        for k, (var, out) in enumerate(zip(eqn.outvars, outs, strict=True)):
            env[var], deps[var] = out, any(ds)
            if (*here, k) in wanted:
                found[(*here, k)] = out
    return [read(v)[0] for v in jaxpr.outvars]


def measure(analysis: Analysis, probes: list[tuple[tuple, tuple[int, ...]]], inputs) -> np.ndarray:
    """Boolean masks (one per probe, over the input's spatial axes) of the input units each
    probed unit sees. A probe is ``(value key, unit per spatial axis)``; ``inputs`` are the
    analysed function's flattened arguments (parameters concrete)."""
    closed, at = analysis.closed, analysis.argnum_leaf
    keys = sorted({key for key, _ in probes})
    by_key = {v.key: v for v in analysis.values}
    by_key.update({m.value.key: m.value for m in analysis.meetings})
    x = jnp.ones(analysis.input_shape, jnp.float32)
    dep = [k == at for k in range(len(inputs))]

    def forward(x):
        args = [x if k == at else jnp.asarray(a) for k, a in enumerate(inputs)]
        found = {(): x}
        run(closed.jaxpr, closed.consts, args, dep, set(keys), found)
        return [found[key] for key in keys]

    shapes = jax.eval_shape(forward, x)
    hots = [np.zeros((len(probes), *o.shape), np.float32) for o in shapes]
    for n, (key, unit) in enumerate(probes):
        value = by_key[key]
        index = [slice(None)] * len(value.shape)
        for d, u in zip(value.dims, unit, strict=True):
            index[d] = u
        hots[keys.index(key)][(n, *index)] = 1.0  # every channel of the unit

    @jax.jit
    def pulled(x, hots):
        _, pull = jax.vjp(forward, x)
        return jax.vmap(lambda hot: pull(hot)[0])(hots)

    grads = np.asarray(pulled(x, hots))
    if not np.all(np.isfinite(grads)):
        raise FloatingPointError("support measurement overflowed; use a narrower net")
    other = tuple(1 + d for d in range(x.ndim) if d not in analysis.spatial_axes)
    masks = np.any(grads != 0, axis=other)  # (probe, spatial dims in increasing order)
    ranked = sorted(analysis.spatial_axes)
    return np.transpose(masks, (0, *(1 + ranked.index(d) for d in analysis.spatial_axes)))
