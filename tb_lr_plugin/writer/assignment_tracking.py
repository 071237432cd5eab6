"""Who changed the learning rate: watching assignments to the rate variable.

`ReduceLROnPlateau`, `LearningRateScheduler` and user code all change a float
learning rate by assigning its variable (`optimizer.learning_rate = x` ends in
`variable.assign(x)`). Wrapping that one method tells the recorder when a
change was made and by whom, so a deviation from the configured curve comes
with its source. The caller is found by walking up the Python stack to the
nearest `keras.callbacks.Callback`; assignments are rare, so this costs
nothing per step. Assignments inside compiled functions are not seen here;
their effect still shows in the applied rate, with source "unknown".
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from collections.abc import Callable

import keras

from tb_lr_plugin import event_format
from tb_lr_plugin.writer import keras_internals

# How far up the stack a callback may be from the `assign` call.
_MAX_FRAMES = 16


@dataclasses.dataclass(frozen=True)
class RateChange:
    """One eager assignment of a learning-rate variable, as it happened.

    Attributes:
        previous: The rate before the assignment.
        value: The rate assigned.
        source: Who assigned it, as recorded.
        callback: The callback that assigned, when one did.
    """

    previous: float
    value: float
    source: event_format.AssignmentSource
    callback: keras.callbacks.Callback | None


Listener = Callable[[RateChange], None]


def watch(variable: keras.Variable, listener: Listener) -> None:
    """Calls `listener` after every eager `variable.assign(...)`."""
    listeners = keras_internals.attached(variable, "listeners")
    if listeners is None:
        listeners = []
        original_assign = variable.assign

        def assign(value, *args, **kwargs):
            if not keras_internals.executing_eagerly():
                return original_assign(value, *args, **kwargs)
            try:
                previous = float(variable.numpy())
            except Exception:
                # No value on the host: JAX's `fit` is writing back the state
                # its steps carried (`jax_state_sync`), which is no change.
                return original_assign(value, *args, **kwargs)
            result = original_assign(value, *args, **kwargs)
            try:
                source, callback = _assigning_callback()
                change = RateChange(previous, float(variable.numpy()), source, callback)
                for each in list(listeners):
                    each(change)
            except Exception as error:  # The assignment itself has been made.
                warnings.warn(f"tb_lr_plugin: cannot record this change of the rate: {error!r}")
            return result

        assign.__wrapped__ = original_assign
        variable.assign = assign
        keras_internals.attach(variable, "listeners", listeners)
    listeners.append(listener)


def unwatch(variable: keras.Variable, listener: Listener) -> None:
    """Stops calling `listener`; the last one out restores `assign`."""
    listeners = keras_internals.attached(variable, "listeners")
    if listeners and listener in listeners:
        listeners.remove(listener)
    if listeners == []:
        delattr(variable, "assign")  # The class's own method shows through again.
        keras_internals.detach(variable, "listeners")


def _assigning_callback() -> tuple[event_format.AssignmentSource, keras.callbacks.Callback | None]:
    # From the caller of the wrapped `assign` up.
    for frame in itertools.islice(keras_internals.calling_frames(2), _MAX_FRAMES):
        owner = frame.f_locals.get("self")
        if isinstance(owner, keras.callbacks.Callback):
            return event_format.AssignmentSource.of_callback(type(owner).__name__), owner
    return event_format.MANUAL, None
