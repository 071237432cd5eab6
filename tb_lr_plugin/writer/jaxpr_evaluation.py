"""A scalar JAX function, traced once, evaluated with NumPy over a vector of inputs.

On JAX, every new compiled function costs tens of milliseconds of XLA
compilation, and a new schedule object is a new function: sampling the
configured curve with a compiled map cost about 60 ms at every `fit`, more
than a thousand training steps of a small model. A schedule is a short
elementwise program of the step, though. Traced by `jax.make_jaxpr` (pure
Python, nothing compiled), its equations run here with NumPy's elementwise
functions, which broadcast the scalar program over every step at once: the
schedule's own program, computed in its own dtypes, rounded by NumPy's
kernels instead of XLA's (the writer's curves tolerate float32 rounding).

Only programs whose every value is a scalar, made of the primitives of
`_ELEMENTWISE` and of `cond`, `select_n` and nested calls, are evaluated;
anything else raises `UnsupportedProgram`, and the caller compiles instead (as
it does if a JAX release moves what this module imports from `jax.extend`).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import Any

import jax
import numpy as np
from jax.extend import core as jax_core


class UnsupportedProgram(Exception):
    """Raised when a traced program uses what this module does not evaluate."""


def _int_div(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    # `lax.div` rounds toward zero; NumPy's `//` rounds down.
    if np.issubdtype(np.result_type(x, y), np.integer):
        return np.sign(x) * np.sign(y) * (np.abs(x) // np.abs(y))
    return np.divide(x, y)


def _rem(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    return np.fmod(x, y)  # `lax.rem` takes the sign of the dividend, as C's fmod.


_ELEMENTWISE: dict[str, Callable[..., np.ndarray]] = {
    "abs": np.abs,
    "add": np.add,
    "and": np.bitwise_and,
    "atan2": np.arctan2,
    "ceil": np.ceil,
    "clamp": lambda low, x, high: np.minimum(np.maximum(x, low), high),
    "copy": np.copy,
    "cos": np.cos,
    "div": _int_div,
    "eq": np.equal,
    "exp": np.exp,
    "exp2": np.exp2,
    "expm1": np.expm1,
    "floor": np.floor,
    "ge": np.greater_equal,
    "gt": np.greater,
    "le": np.less_equal,
    "log": np.log,
    "log1p": np.log1p,
    "lt": np.less,
    "max": np.maximum,
    "min": np.minimum,
    "mul": np.multiply,
    "ne": np.not_equal,
    "neg": np.negative,
    "not": np.invert,
    "or": np.bitwise_or,
    "pow": np.power,
    "rem": _rem,
    "rsqrt": lambda x: 1 / np.sqrt(x),
    "sign": np.sign,
    "sin": np.sin,
    "sqrt": np.sqrt,
    "sub": np.subtract,
    "tan": np.tan,
    "tanh": np.tanh,
    "xor": np.bitwise_xor,
}
# Primitives whose parameters change nothing for a scalar.
_SCALAR_IDENTITIES = ("broadcast_in_dim", "reshape", "squeeze", "convert_element_type")
# Parameters holding the closed program a call primitive runs.
_CALLED_PROGRAMS = ("jaxpr", "call_jaxpr", "fun_jaxpr")


def evaluate_elementwise(function: Callable[[Any], Any], inputs: np.ndarray) -> np.ndarray:
    """`function(x)` for every `x` of `inputs`, where `function` maps a scalar to a scalar.

    Raises:
        UnsupportedProgram: when the traced program is not elementwise or uses
            a primitive this module does not evaluate.

    Example:
        >>> import jax.numpy as jnp
        >>> evaluate_elementwise(lambda s: jnp.where(s < 2, 1.0, s * 0.5), np.arange(4)).tolist()
        [1.0, 1.0, 1.0, 1.5]
    """
    inputs = np.asarray(inputs)
    closed = jax.make_jaxpr(function)(jax.ShapeDtypeStruct((), inputs.dtype))
    with np.errstate(all="ignore"):  # As XLA: inf and NaN, no warning (untaken branches too).
        (result,) = _run(closed.jaxpr, closed.consts, [inputs])
    return np.array(np.broadcast_to(result, inputs.shape))  # A constant schedule: 0-d.


def _run(jaxpr: Any, consts: Sequence[Any], args: Sequence[np.ndarray]) -> list[np.ndarray]:
    values: dict[Any, np.ndarray] = {}

    def read(var: Any) -> np.ndarray:
        if isinstance(var, jax_core.Literal):
            return np.asarray(var.val, var.aval.dtype)  # A float64 0-d array would promote.
        return values[var]

    for var, value in zip(jaxpr.constvars, consts, strict=True):
        if np.shape(value):
            raise UnsupportedProgram("a non-scalar constant")
        values[var] = np.asarray(value)
    values.update(zip(jaxpr.invars, args, strict=True))
    for equation in jaxpr.eqns:
        outputs = _apply(equation, [read(var) for var in equation.invars])
        for var, value in zip(equation.outvars, outputs, strict=True):
            if var.aval.shape:
                raise UnsupportedProgram(f"{equation.primitive.name} makes a non-scalar")
            values[var] = np.asarray(value, var.aval.dtype)  # JAX's dtype, exactly.
    return [read(var) for var in jaxpr.outvars]


def _apply(equation: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    name = equation.primitive.name
    if name in _ELEMENTWISE:
        return [_ELEMENTWISE[name](*inputs)]
    if name == "integer_pow":
        return [np.power(inputs[0], equation.params["y"])]
    if name in _SCALAR_IDENTITIES:
        return [inputs[0]]  # Cast to the output's dtype by `_run`.
    if name == "select_n":
        which, *cases = inputs
        return [np.choose(which.astype(np.int32), cases)]
    if name == "cond":
        index, *operands = inputs
        # Every branch on every input, then each input's own: branches are pure.
        results = [_run(b.jaxpr, b.consts, operands) for b in equation.params["branches"]]
        chosen = np.clip(index.astype(np.int32), 0, len(results) - 1)
        return [np.choose(chosen, outputs) for outputs in zip(*results, strict=True)]
    for key in _CALLED_PROGRAMS:
        program = equation.params.get(key)
        if isinstance(program, jax_core.ClosedJaxpr):
            return _run(program.jaxpr, program.consts, inputs)
    raise UnsupportedProgram(f"primitive {name!r}")
