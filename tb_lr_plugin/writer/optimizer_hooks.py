"""Installing a step tap on an optimizer: where each update hands over its values.

For Keras' own `apply`, the tap is called from `_backend_update_step`, which
receives the very rate tensor the update applies; an optimizer with an `apply`
of its own is wrapped instead, and the rate read just before it. The rate
method is routed through the tap too, so that a rate a layer asked for
(`current_learning_rate()`) is the one the update applies, and a schedule
shares the step's one read of the counter. The private names involved are
looked up in `keras_internals`.

A tap stays installed on its optimizer for the optimizer's lifetime: a train
function traced with it keeps writing to the same ring, so a later logger
reuses it instead of forcing a retrace.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import keras

from tb_lr_plugin.writer import keras_internals, step_tap, update_measures
from tb_lr_plugin.writer.tapped_optimizers import TappedOptimizer


def tap_for(tapped: TappedOptimizer, capacity: int = step_tap.DEFAULT_CAPACITY) -> step_tap.StepTap:
    """The optimizer's tap, created (with a ring of `capacity` steps) and installed on first use.

    Example:
        >>> optimizer = keras.optimizers.SGD()
        >>> tap_for(TappedOptimizer(optimizer)) is tap_for(TappedOptimizer(optimizer))
        True
    """
    tap = keras_internals.attached(tapped.optimizer, "tap")
    if tap is None:
        tap = step_tap.create(tapped, capacity)
        _route_learning_rate(tap)
        tap.rate_given = keras_internals.hook_update_step(tapped.optimizer, tap.capture)
        if not tap.rate_given:
            _wrap_apply(tap)
        # Kept on the optimizer (not in a global registry) so both are collected together.
        keras_internals.attach(tapped.optimizer, "tap", tap)
    return tap


def measure_updates(tap: step_tap.StepTap, on: bool, every: int = 1) -> bool:
    """Turns the measures of updates (`update_measures`) on or off for the tap's optimizer.

    With `every > 1`, only every `every`th update is measured; the others
    make no copy of the weights.

    The first time they are turned on, the optimizer's `apply` is wrapped
    (the measures see all it does, weight decay and EMA included); the
    wrapper stays, and costs nothing where they are off. Returns whether a
    train function traced before says otherwise and must be traced again.

    Example:
        >>> tap = tap_for(TappedOptimizer(keras.optimizers.SGD()))
        >>> measure_updates(tap, True, every=10)
        False
    """
    optimizer = tap.optimizer
    if on and not keras_internals.attached(optimizer, "measured"):
        original_apply = optimizer.apply

        def apply(grads, trainable_variables=None):
            return update_measures.measured_apply(tap, original_apply, grads, trainable_variables)

        apply.__wrapped__ = original_apply
        optimizer.apply = apply
        keras_internals.attach(optimizer, "measured", True)
    every = every if on else 1
    tap.measure_updates, tap.measure_every = on, every
    return tap.measures_traced is not None and tap.measures_traced != (on, every)


def _route_learning_rate(tap: step_tap.StepTap) -> None:
    optimizer = tap.optimizer
    # Keras' own rule (a schedule is called on the micro-batch count) can
    # share this step's read of the counter; a custom rule is left as it is.
    keras_rule = keras_internals.computes_rate_as_keras_does(optimizer)

    def rate(original: Callable[[], Any]) -> Any:
        # The rate `current_learning_rate()` computed earlier in this step, if a layer asked.
        shared = tap.shared_learning_rate()
        if shared is not None:
            return shared
        schedule = keras_internals.rate_setting(optimizer)
        if (
            keras_rule
            and isinstance(schedule, keras.optimizers.schedules.LearningRateSchedule)
            and not keras_internals.executing_eagerly()
        ):
            count = tap.micro_batch_count()
            if count is not None:
                return schedule(count)
        return original()

    keras_internals.hook_current_learning_rate(optimizer, rate)


def _wrap_apply(tap: step_tap.StepTap) -> None:
    """An `apply` of the optimizer's own: capture just before it, re-reading the rate."""
    optimizer = tap.optimizer
    original_apply = optimizer.apply

    def apply(grads, trainable_variables=None):
        if len(grads):
            if not optimizer.built and trainable_variables is not None:
                # What `apply` would do first: the tap must see the variables
                # `build` creates (a custom optimizer's own).
                optimizer.build(list(trainable_variables))
                optimizer.built = True
            tap.capture()
        return original_apply(grads, trainable_variables)

    apply.__wrapped__ = original_apply
    optimizer.apply = apply
