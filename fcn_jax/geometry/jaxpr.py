"""The f_ks algebra on any JAX function: ``analyze`` reads the geometry off its jaxpr.

``jax.make_jaxpr`` lowers a net of any library (Flax Linen or NNX, Equinox, Haiku, plain
``lax``) to the same few primitives; :mod:`fcn_jax.geometry.jaxpr_rules` and
:mod:`~fcn_jax.geometry.jaxpr_layout` say what each does to the spatial axes, and this module
walks the equations in order (into ``jit``, ``custom_jvp``/``custom_vjp`` and ``remat``
sub-jaxprs), keeping an :class:`~fcn_jax.geometry.axis.Axis` per spatial axis of every value
that depends on the input. Where two paths meet (an elementwise op or a concatenation of two
values with spatial axes) it records whether they are aligned. A constant an equation needs (a
``dynamic_slice`` start, ``jax.image.resize``'s weights) is computed from the equations that
make it, on demand; nothing else runs.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Sequence

import jax
import numpy as np
from jax.extend.core import ClosedJaxpr, Jaxpr, Literal

from fcn_jax.geometry.axis import Axis
from fcn_jax.geometry.jaxpr_layout import LAYOUT
from fcn_jax.geometry.jaxpr_result import Analysis, Meeting, Stop, Value
from fcn_jax.geometry.jaxpr_rules import RULES, Dims, Ended, State, Step, Unmapped

# fmt: off
ELEMENTWISE = frozenset({
    "neg", "sign", "floor", "ceil", "round", "is_finite", "exp", "exp2", "log", "log1p", "expm1",
    "tanh", "logistic", "sin", "cos", "tan", "asin", "acos", "atan", "sinh", "cosh", "asinh",
    "acosh", "atanh", "sqrt", "rsqrt", "cbrt", "abs", "not", "integer_pow", "square", "erf",
    "erfc", "erf_inv", "lgamma", "digamma", "convert_element_type", "reduce_precision",
    "stop_gradient", "copy", "copy_p", "real", "imag", "conj", "clz", "population_count", "add",
    "sub", "mul", "div", "max", "min", "pow", "atan2", "rem", "and", "or", "xor", "eq", "ne", "lt",
    "le", "gt", "ge", "nextafter", "add_any", "select_n", "clamp", "shift_left",
    "shift_right_logical", "shift_right_arithmetic", "optimization_barrier",
})
# fmt: on
LOOPS = frozenset({"scan", "while", "cond"})


def analyze(
    fn: Callable, *example_args, spatial_axes: Sequence[int] = (1, 2), argnum: int = 0
) -> Analysis:
    """The geometry of every value of ``fn(*example_args)`` with the spatial axes of argument
    ``argnum`` (an array; the others, e.g. parameters, are constants), its ``spatial_axes``
    (NHWC's ``(1, 2)`` by default). ``example_args`` may be arrays or
    ``jax.ShapeDtypeStruct``; ``fn`` is traced, not run."""
    leaves = [jax.tree_util.tree_leaves(a) for a in example_args]
    x = example_args[argnum]
    if len(leaves[argnum]) != 1 or not hasattr(x, "shape"):
        raise TypeError(f"argument {argnum} must be one array, got {type(x).__name__}")
    axes = tuple(d % len(x.shape) for d in spatial_axes)
    if len(set(axes)) != len(axes) or any(not -len(x.shape) <= d < len(x.shape)
                                          for d in spatial_axes):  # fmt: skip
        raise ValueError(f"spatial_axes {tuple(spatial_axes)} do not fit a {x.shape} input")
    closed = jax.make_jaxpr(fn)(*example_args)
    at = sum(len(n) for n in leaves[:argnum])
    flat = [leaf for group in leaves for leaf in group]
    result = Analysis(axes, tuple(x.shape), closed=closed, argnum_leaf=at)
    start = {d: Axis.input(label, x.shape[d]) for label, d in enumerate(axes)}
    result.values.append(
        Value((), "input", "input", "", tuple(start.values()), axes, tuple(x.shape))
    )
    states: list[State] = [None] * len(flat)
    states[at] = start

    def given(k):
        leaf = flat[k]
        return None if k == at or isinstance(leaf, jax.ShapeDtypeStruct) else np.asarray(leaf)

    result.outputs = Walk(result).run(closed.jaxpr, closed.consts, states, given, (), "")
    return result


class Scope:
    """One jaxpr being walked: each variable's state, and the constants computed so far."""

    def __init__(self, jaxpr: Jaxpr, consts, given: Callable[[int], object]):
        self.states: dict = {}
        self.known = dict(zip(jaxpr.constvars, consts, strict=True))
        self.invars = {v: k for k, v in enumerate(jaxpr.invars)}
        self.given = given
        self.producer = {v: eqn for eqn in jaxpr.eqns for v in eqn.outvars}

    def state(self, var) -> State:
        return None if isinstance(var, Literal) else self.states.get(var)

    def value_of(self, var):
        """The concrete value of a variable that does not depend on the input, or None."""
        if isinstance(var, Literal):
            return var.val
        if var in self.known:
            return self.known[var]
        if self.states.get(var) is not None:
            return None
        if var in self.invars:
            value = self.given(self.invars[var])
        else:
            eqn = self.producer[var]
            args = [self.value_of(v) for v in eqn.invars]
            value = None
            if all(a is not None for a in args):
                outs = bind(eqn, args)
                self.known.update(zip(eqn.outvars, outs, strict=True))
                return self.known[var]
        self.known[var] = value
        return value


def by_label(dims: Dims) -> tuple[tuple[Axis, ...], tuple[int, ...]]:
    """A value's axes in label order, with the dimension holding each."""
    pairs = sorted(dims.items(), key=lambda item: item[1].label)
    return tuple(a for _, a in pairs), tuple(d for d, _ in pairs)


def bind(eqn, args) -> list:
    """The equation's primitive applied to ``args``: its results, as a list."""
    params = eqn.primitive.get_bind_params(eqn.params)
    subfuns = ()
    if isinstance(params, tuple):  # older JAX: (sub-functions, params)
        subfuns, params = params
    outs = eqn.primitive.bind(*subfuns, *args, **params)
    return list(outs) if eqn.primitive.multiple_results else [outs]


def source_of(eqn) -> str:
    try:
        from jax._src import source_info_util

        text = source_info_util.summarize(eqn.source_info)
    except Exception:
        return "?"
    path, _, rest = text.partition(":")
    if os.path.isabs(path) and path.startswith(os.getcwd() + os.sep):
        path = os.path.relpath(path)
    return f"{path}:{rest.rsplit(':', 1)[0]}" + (f" {rest.split(' ', 1)[1]}" if " " in rest else "")


def sub_jaxpr(eqn) -> ClosedJaxpr | Jaxpr | None:
    for key in ("jaxpr", "call_jaxpr", "fun_jaxpr"):
        if isinstance(eqn.params.get(key), ClosedJaxpr | Jaxpr):
            return eqn.params[key]
    return None


class Walk:
    def __init__(self, result: Analysis):
        self.result = result

    def run(self, jaxpr, consts, in_states, given, path, prefix) -> list[State]:
        scope = Scope(jaxpr, consts, given)
        scope.states.update(zip(jaxpr.invars, in_states, strict=True))
        for index, eqn in enumerate(jaxpr.eqns):
            ins = [scope.state(v) for v in eqn.invars]
            if all(s is None for s in ins):
                continue  # independent of the input: computed only if a rule asks
            stack = str(eqn.source_info.name_stack)
            name = "/".join(p for p in (prefix, stack) if p)
            outs = self.equation(eqn, ins, scope, (*path, index), name)
            scope.states.update(zip(eqn.outvars, outs, strict=True))
        return [scope.state(v) for v in jaxpr.outvars]

    def equation(self, eqn, ins, scope, path, name) -> list[State]:
        prim = eqn.primitive.name
        inner = sub_jaxpr(eqn)
        try:
            if any(isinstance(s, dict) for s in ins) and prim in LOOPS:
                raise Unmapped("a loop or branch the algebra does not follow")
            if inner is not None:
                closed = inner if isinstance(inner, ClosedJaxpr) else ClosedJaxpr(inner, ())
                return self.run(closed.jaxpr, closed.consts, ins,
                                lambda k: scope.value_of(eqn.invars[k]), path, name)  # fmt: skip
            if not any(isinstance(s, dict) for s in ins):
                ended = next(s for s in ins if isinstance(s, Ended))
                return [ended] * len(eqn.outvars)
            if prim in ELEMENTWISE or prim == "concatenate":
                step = self.combine(eqn, ins, path, name)
            elif prim in RULES or prim in LAYOUT:
                if not isinstance(ins[0], dict) and prim != "dot_general":
                    raise Unmapped("an operand other than the first has spatial axes")
                step = (RULES.get(prim) or LAYOUT[prim])(eqn, ins, scope)
            else:
                raise Unmapped("no rule for it")
        except Unmapped as why:
            stop = Stop(name or prim, prim, source_of(eqn), str(why))
            self.result.unmapped.append(stop)
            return [Ended(f"after {prim}, which the algebra cannot map ({why})")] * len(eqn.outvars)
        for k, (var, out) in enumerate(zip(eqn.outvars, step.outs, strict=True)):
            if isinstance(out, dict) and out:
                axes, dims = by_label(out)
                self.result.values.append(
                    Value(
                        (*path, k),
                        name or prim,
                        prim,
                        source_of(eqn),
                        axes,
                        dims,
                        tuple(var.aval.shape),
                        step.ops,
                    )
                )
            elif isinstance(out, Ended) and any(isinstance(s, dict) for s in ins):
                self.result.ended.append(Stop(name or prim, prim, source_of(eqn), out.reason))
        return step.outs

    def combine(self, eqn, ins, path, name) -> Step:
        """An elementwise op or a concatenation: where several paths meet."""
        spatial = [s for s in ins if isinstance(s, dict)]
        if any(isinstance(s, Ended) for s in ins):
            return Step([Ended("combined with a value whose spatial axes were pooled or "
                               "mixed")] * len(eqn.outvars))  # fmt: skip
        if eqn.primitive.name == "concatenate" and eqn.params["dimension"] in spatial[0]:
            raise Unmapped("it joins values along a spatial axis")
        if eqn.primitive.name == "optimization_barrier":
            return Step(list(ins))
        out = dict(spatial[0])
        distinct = [spatial[0]]
        for other in spatial[1:]:
            if other.keys() != out.keys():
                raise Unmapped("its operands have different spatial dimensions")
            if any(other[d] is not spatial[0][d] for d in other):
                distinct.append(other)
            out = {d: out[d].joined(other[d]) if other[d] is not out[d] else out[d] for d in out}
        if len(distinct) > 1:
            axes = tuple(by_label(s)[0] for s in distinct)
            value = Value(
                (*path, 0),
                name or eqn.primitive.name,
                eqn.primitive.name,
                source_of(eqn),
                *by_label(out),
                tuple(eqn.outvars[0].aval.shape),
            )
            self.result.meetings.append(Meeting(value, axes))
        return Step([out] * len(eqn.outvars))
