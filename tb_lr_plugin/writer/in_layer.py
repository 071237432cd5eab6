"""The step, epoch and learning rate inside `Layer.call`, and `record`.

`fit` traces its train step once; a Python value read in `call` (a counter,
`float(optimizer.learning_rate)`) is frozen into the compiled function at that
moment. These functions return *tensors* read from the optimizer's own
variables inside the compiled step, so they change every step, with
`steps_per_execution > 1` and under XLA too. They are defined while a
`LearningRateLogger` or `LearningRateWriter` is training, and only in a
training call: during `predict`, `evaluate`, or in a model loaded elsewhere,
they return their `default` (or raise, saying how to activate them).
"""

from __future__ import annotations

from typing import Any

import keras

from tb_lr_plugin.writer import keras_internals, step_convention, step_tap

_NO_DEFAULT = object()
_ACTIVE: list[step_tap.StepTap] = []


class NotTrainingError(RuntimeError):
    """Raised by an accessor used outside training without a `default`."""


def activate(tap: step_tap.StepTap) -> None:
    """Makes `tap` the source of the accessors (called by the recorder)."""
    _ACTIVE.append(tap)


def deactivate(tap: step_tap.StepTap) -> None:
    """Undoes `activate`."""
    if tap in _ACTIVE:
        _ACTIVE.remove(tap)


def current_learning_rate(default: Any = _NO_DEFAULT) -> Any:
    """The learning rate the optimizer update being computed will apply.

    A float32 scalar tensor equal, at every step, to the `learning_rate` the
    logger records for that step.

    Args:
        default: Returned outside training (predict, evaluate, no logger); a
            number is returned as a float32 tensor, like the training value.

    Raises:
        NotTrainingError: outside training when no `default` is given.

    Example: noise that shrinks with the rate (none outside training).
        >>> class Noise(keras.layers.Layer):
        ...     def call(self, x):
        ...         scale = current_learning_rate(default=0.0) * 10.0
        ...         return x + scale * keras.random.normal(keras.ops.shape(x))
        >>> keras.ops.convert_to_numpy(Noise()(keras.ops.ones((1, 2)))).tolist()
        [[1.0, 1.0]]
    """
    return _read(
        "current_learning_rate",
        default,
        "float32",
        lambda tap: tap.learning_rate(),
    )


def current_step(default: Any = _NO_DEFAULT) -> Any:
    """The 0-based index of the optimizer update being computed (int64 tensor).

    The value of `optimizer.iterations` before this step's update, the same
    step axis the LR tab uses.

    Args:
        default: Returned outside training; a number as an int64 tensor.

    Raises:
        NotTrainingError: outside training when no `default` is given.

    Example: a layer that ramps its output up over 1,000 steps.
        >>> class RampUp(keras.layers.Layer):
        ...     def call(self, x):
        ...         step = keras.ops.cast(current_step(default=1000), "float32")
        ...         return x * keras.ops.minimum(1.0, step / 1000.0)
        >>> keras.ops.convert_to_numpy(RampUp()(keras.ops.ones((1, 2)))).tolist()
        [[1.0, 1.0]]
    """
    return _read("current_step", default, step_convention.step_dtype(), lambda tap: tap.step())


def current_epoch(default: Any = _NO_DEFAULT) -> Any:
    """The 0-based epoch of the step being computed (int64 tensor).

    In a custom loop, epochs are those given to `LearningRateWriter.begin_epoch`.

    Args:
        default: Returned outside training; a number as an int64 tensor.

    Raises:
        NotTrainingError: outside training when no `default` is given.

    Example: a branch that stays off during the first epoch.
        >>> class AfterFirstEpoch(keras.layers.Layer):
        ...     def call(self, x):
        ...         return x * keras.ops.cast(current_epoch(default=1) > 0, x.dtype)
        >>> keras.ops.convert_to_numpy(AfterFirstEpoch()(keras.ops.ones((1, 2)))).tolist()
        [[1.0, 1.0]]
    """
    return _read(
        "current_epoch", default, step_convention.step_dtype(), lambda tap: tap.current_epoch()
    )


def record(name: str, value: Any, *, layer: keras.layers.Layer | None = None) -> None:
    """Records one value per optimizer step as series `layers/<layer path>/<name>`.

    Call it in `Layer.call`, or in what `call` calls: helpers, and on
    TensorFlow `keras.ops.cond` branches and loop bodies (a body running
    several times keeps its last value); not in a function no update runs
    with (a `tf.function` of your own, a stateless JAX step of your own), nor,
    on JAX, in a branch or loop body: a warning says the value is not
    recorded. The layer is the nearest one up the call stack. The value is
    stored as float32, written with the step's update. A non-scalar tensor is
    reduced to its mean (a warning says so). Under a `tf.distribute` strategy
    with several replicas, the mean over replicas is recorded. Outside
    training (predict, evaluate, no logger) it records nothing and adds no op.

    Args:
        name: The value's name under the layer.
        value: A scalar tensor or number.
        layer: The layer to file it under; default: the nearest calling layer.

    Example: a gate's mean, per step, as `layers/<path>/gate_mean`.
        >>> class Gate(keras.layers.Layer):
        ...     def call(self, x):
        ...         gate = keras.ops.sigmoid(x)
        ...         record("gate_mean", keras.ops.mean(gate))
        ...         return x * gate
        >>> keras.ops.convert_to_numpy(Gate()(keras.ops.zeros((1, 2)))).tolist()  # Records nothing.
        [[0.0, 0.0]]
    """
    tap = _training_tap("record", None)
    if tap is None:
        return
    if not isinstance(name, str) or not name:
        raise ValueError(f"record() needs a non-empty string name, got {name!r}")
    layer = layer or _calling_layer()
    path = f"{layer.path}/{name}" if layer is not None else name
    tap.record(path, tap.recordable(name, value))


def _read(caller: str, default: Any, dtype: str, read) -> Any:
    """`read(tap)` in training, else `default` (as a tensor of `dtype`), else an error."""
    tap = _training_tap(caller, default)
    if tap is not None:
        try:
            return read(tap)
        except step_tap.NoStepValues as error:
            if default is _NO_DEFAULT:
                raise NotTrainingError(f"tb_lr_plugin.{caller}(): {error}") from None
    return _as_tensor(default, dtype)


def _training_tap(caller: str, default: Any) -> step_tap.StepTap | None:
    if _ACTIVE and keras_internals.training_flag() is not False:
        return _ACTIVE[-1]
    if default is _NO_DEFAULT:
        raise NotTrainingError(
            f"tb_lr_plugin.{caller}() has a value only while a LearningRateLogger (in fit) or "
            f"a LearningRateWriter (in a custom loop) is training the model; outside training "
            f"(predict, evaluate, a loaded model) pass default=..., e.g. {caller}(default=0)"
        )
    return None


def _as_tensor(default: Any, dtype: str) -> Any:
    """A number default as a tensor of the training value's dtype, so code is type-stable."""
    if isinstance(default, (int, float)) and not isinstance(default, bool):
        return keras.ops.convert_to_tensor(default, dtype)
    return default


def _calling_layer() -> keras.layers.Layer | None:
    # The nearest layer up the stack, however deep: between `call` and a
    # `record` in a `cond` branch or a loop body lie dozens of TF frames.
    # Walked once per trace, not per step.
    for frame in keras_internals.calling_frames(2):
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.layers.Layer):
            return owner
    return None
