"""Evaluating a configured schedule at every step, with the real schedule object.

A `LearningRateSchedule` is a function of the step; the curve the plugin draws
is that function at every integer step of the planned run, so discontinuities
(staircases, piecewise boundaries, restarts) are exact. A million scalar calls
would take minutes, so the schedule is called once on a vector of steps; when
that is not possible (a schedule with `ops.cond` on the step, as CosineDecay
with warm-up has), the backend's vectorising map and then its compiled loop
are tried (TensorFlow: `tf.vectorized_map`, `tf.map_fn`; PyTorch:
`torch.vmap`, then one call per step). On JAX, where every eager op compiles
once per shape (about 50 ms each on CPU) and every new function too, the
schedule is traced once and its program run by NumPy over the vector
(`jaxpr_evaluation`); a program it cannot run is compiled as a vectorised
map, one per schedule, on vectors padded to a power of two so that later
runs of other lengths reuse it; then the eager vector call and
`jax.lax.map`. For a schedule
Keras does not define, every strategy is checked against scalar calls at
probe steps before its result is trusted. Keras' own schedules are
elementwise functions of the step (the tests compare each built-in schedule's
curve with the rate applied at every step), so their probes,
nine eager calls costing more than the whole vector call, are skipped.
"""

from __future__ import annotations

import weakref
from collections.abc import Callable
from typing import Any

import keras
import numpy as np

from tb_lr_plugin import event_format
from tb_lr_plugin.writer import step_convention

# Probe steps per strategy check: ends, evenly spaced interior steps.
_PROBES = 9
# The shortest vector a compiled JAX map is called on (longer ones: powers of two).
_MIN_JAX_VECTOR = 4096


class ScheduleSamplingError(RuntimeError):
    """Raised when a schedule cannot be evaluated over a range of steps."""


def sample_schedule(schedule: Callable[[Any], Any], start: int, stop: int) -> np.ndarray:
    """Returns `schedule(s)` as float32 for every step `s` in `[start, stop)`.

    Args:
        schedule: A `keras.optimizers.schedules.LearningRateSchedule`, or any
            callable of the step.
        start: First step (inclusive).
        stop: Last step (exclusive).

    Raises:
        ScheduleSamplingError: when no strategy gives values that agree with
            calling the schedule on single steps (for example when the
            schedule raises).

    Example:
        >>> import keras
        >>> curve = sample_schedule(keras.optimizers.schedules.ExponentialDecay(
        ...     0.1, decay_steps=10, decay_rate=0.5, staircase=True), 0, 30)
        >>> float(curve[9]), float(curve[10])
        (0.10000000149011612, 0.05000000074505806)
    """
    if stop <= start:
        return np.zeros(0, np.float32)
    # From NumPy: on JAX an eager `arange` (or cast) would compile once per length.
    steps = keras.ops.convert_to_tensor(np.arange(start, stop, dtype=step_convention.step_dtype()))
    probes = 0 if type(schedule).__module__.startswith("keras.") else _PROBES
    probe_steps = np.unique(np.linspace(start, stop - 1, probes).astype(np.int64))
    try:
        expected = np.array([_scalar(schedule, int(s)) for s in probe_steps], np.float32)
    except Exception as error:
        raise ScheduleSamplingError(f"the schedule raised at a single step: {error!r}") from error
    failures = []
    for strategy in _STRATEGIES.get(keras.backend.backend(), _EAGER):
        try:
            values = strategy(schedule, steps)
        except Exception as error:  # A strategy the schedule does not support.
            failures.append(f"{strategy.__name__}: {type(error).__name__}")
            continue
        if values.shape == (stop - start,) and np.all(
            event_format.rates_agree(
                values[probe_steps - start], expected, peak=np.nanmax(np.abs(expected), initial=0)
            )
        ):
            return values
        failures.append(f"{strategy.__name__}: disagrees with single-step calls")
    raise ScheduleSamplingError("cannot evaluate the schedule over steps: " + "; ".join(failures))


def _scalar(schedule: Callable[[Any], Any], step: int) -> float:
    step = keras.ops.convert_to_tensor(step, step_convention.step_dtype())
    return float(keras.ops.convert_to_numpy(schedule(step)))


def _as_float32(values: Any) -> np.ndarray:
    return np.asarray(keras.ops.convert_to_numpy(values), np.float32).reshape(-1)


def _called_on_vector(schedule, steps):
    return _as_float32(schedule(steps))


def _float32_of(schedule):
    return lambda step: keras.ops.cast(schedule(step), "float32")


def _tf_vectorized_map(schedule, steps):
    import tensorflow as tf

    # Inside tf.function so autograph turns Python `if`s on the step into ops.
    mapped = tf.function(
        lambda s: tf.vectorized_map(_float32_of(schedule), s, fallback_to_while_loop=False)
    )
    return _as_float32(mapped(steps))


def _tf_compiled_map(schedule, steps):
    import tensorflow as tf

    mapped = tf.function(
        lambda s: tf.map_fn(
            _float32_of(schedule), s, fn_output_signature=tf.float32, parallel_iterations=64
        )
    )
    return _as_float32(mapped(steps))


# Compiled maps per schedule object, by vector length, for the schedule's lifetime.
_JAX_MAPS: weakref.WeakKeyDictionary = weakref.WeakKeyDictionary()
# A few elementwise ops: LLVM's costly passes would take longer than they save.
_JAX_COMPILER_OPTIONS = {
    "xla_backend_optimization_level": 0,
    "xla_llvm_disable_expensive_passes": True,
}


def _jax_traced_numpy(schedule, steps):
    from tb_lr_plugin.writer import jaxpr_evaluation

    values = jaxpr_evaluation.evaluate_elementwise(_float32_of(schedule), np.asarray(steps))
    return _as_float32(values)


def _jax_vmap(schedule, steps):
    import jax

    steps = np.asarray(steps)  # Indexing it on the device would compile too.
    length = max(_MIN_JAX_VECTOR, 1 << (len(steps) - 1).bit_length())
    padded = np.arange(steps[0], steps[0] + length, dtype=steps.dtype)
    try:
        compiled = _JAX_MAPS.setdefault(schedule, {})
    except TypeError:  # Not weakly referable (a bound method): compiled per call.
        compiled = {}
    if length not in compiled:
        mapped = jax.jit(jax.vmap(_float32_of(schedule)))
        compiled[length] = mapped.lower(padded).compile(compiler_options=_JAX_COMPILER_OPTIONS)
    return _as_float32(compiled[length](padded))[: len(steps)]


def _jax_compiled_map(schedule, steps):
    import jax

    return _as_float32(jax.jit(lambda s: jax.lax.map(_float32_of(schedule), s))(steps))


def _torch_vmap(schedule, steps):
    import torch

    return _as_float32(torch.vmap(_float32_of(schedule))(steps))


def _one_call_per_step(schedule, steps):
    # Eager PyTorch compiles nothing: the slowest path, taken last.
    return np.array([_scalar(schedule, int(s)) for s in keras.ops.convert_to_numpy(steps)])


_EAGER = (_called_on_vector, _one_call_per_step)
_STRATEGIES = {
    "tensorflow": (_called_on_vector, _tf_vectorized_map, _tf_compiled_map),
    "jax": (_jax_traced_numpy, _jax_vmap, _called_on_vector, _jax_compiled_map),
    "torch": (_called_on_vector, _torch_vmap, _one_call_per_step),
}


def chain_epoch_function(
    function: Callable[[int, float], float],
    initial_learning_rate: float,
    first_epoch: int,
    epochs: int,
) -> list[float]:
    """Chains a `LearningRateScheduler` epoch function over the planned epochs.

    `keras.callbacks.LearningRateScheduler` calls `function(epoch, lr)` at the
    start of every epoch with the rate in force, so the configured curve is
    the fold of the function from the initial rate.

    Args:
        function: The scheduler's `schedule(epoch, lr)`.
        initial_learning_rate: The rate before the first epoch.
        first_epoch: The first epoch trained (`initial_epoch`).
        epochs: The epoch count `fit` was given.

    Returns:
        The rate of each epoch in `[first_epoch, epochs)`.

    Example:
        >>> chain_epoch_function(lambda epoch, lr: lr / 2, 1.0, 0, 3)
        [0.5, 0.25, 0.125]
    """
    rates = []
    rate = float(initial_learning_rate)
    for epoch in range(first_epoch, epochs):
        rate = float(function(epoch, rate))
        rates.append(rate)
    return rates
