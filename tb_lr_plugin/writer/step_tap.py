"""Capturing, inside the compiled train step, the rate each update applies.

Reading `optimizer.learning_rate` on the host after a step costs an eager op
and a device sync per step, and gives the *next* step's rate. Instead the tap
wraps the optimizer's `apply` so that, just before update `s` runs and inside
the same compiled function, the rate it applies and the optimizer's scalar
variables are scattered into row `s % capacity` of a ring buffer. The host
reads the ring every few thousand steps: one copy for all of them. It works
with `steps_per_execution > 1` (every step runs `apply`) and under XLA
(scatter into a resource variable compiles).

A tap stays installed on its optimizer for the optimizer's lifetime: a train
function traced with it keeps writing to the same ring, so a later logger
reuses it instead of forcing a retrace.
"""

from __future__ import annotations

import logging
import warnings

import keras
import numpy as np
import tensorflow as tf

from tb_lr_plugin.writer import hyperparameters

_log = logging.getLogger(__name__)

DEFAULT_CAPACITY = 8192


class StepTap:
    """A ring buffer of per-step values filled by one optimizer's updates.

    Attributes:
        columns: Names of the captured values: `learning_rate` first when the
            optimizer has one, then its scalar-variable hyperparameters.
        traced: Whether a compiled function has captured through this tap.

    Example:

    ```python
    tap = tap_for(hyperparameters.TappedOptimizer(optimizer))
    train_step()  # calls optimizer.apply_gradients inside a tf.function
    steps, rows = tap.drain()  # rows[:, tap.columns.index("learning_rate")]
    ```
    """

    def __init__(self, tapped: hyperparameters.TappedOptimizer, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self.traced = False
        self.has_learning_rate = False
        self.columns: list[str] = []
        self._tapped = tapped
        self._variables: dict = {}
        self._steps = None
        self._values = None
        self._install(tapped.optimizer)

    def _materialize(self, has_learning_rate: bool) -> None:
        """Creates the ring, once the optimizer is built and its variables exist."""
        self.has_learning_rate = has_learning_rate
        with tf.init_scope():  # Eager variables, even when first called while tracing.
            self._variables = hyperparameters.scalar_variables(self._tapped)
            self.columns = (["learning_rate"] if self.has_learning_rate else []) + list(
                self._variables
            )
            self._values = tf.Variable(
                tf.zeros([self.capacity, max(1, len(self.columns))], tf.float32),
                trainable=False,
                name="tb_lr_values",
            )
            self._steps = tf.Variable(
                tf.fill([self.capacity], tf.constant(-1, tf.int64)),
                trainable=False,
                name="tb_lr_steps",
            )

    def drain(self) -> tuple[np.ndarray, np.ndarray]:
        """Returns the captured `(steps, rows)` in step order and empties the ring.

        Called between executions of the train function, on the thread that
        runs it, so nothing is written while it reads.
        """
        if self._steps is None:
            return np.zeros(0, np.int64), np.zeros((0, 0), np.float32)
        steps = self._steps.numpy()
        rows = self._values.numpy()
        self._steps.assign(tf.fill([self.capacity], tf.constant(-1, tf.int64)))
        filled = np.flatnonzero(steps >= 0)
        order = filled[np.argsort(steps[filled], kind="stable")]
        return steps[order], rows[order, : len(self.columns)]

    def _install(self, optimizer: keras.optimizers.Optimizer) -> None:
        original_apply = optimizer.apply
        tap = self

        def apply(grads, trainable_variables=None):
            if len(grads):
                if not optimizer.built and trainable_variables is not None:
                    # What `apply` would do first: the tap must see the
                    # variables `build` creates (a custom optimizer's own).
                    optimizer.build(list(trainable_variables))
                    optimizer.built = True
                tap._capture()
            return original_apply(grads, trainable_variables)

        apply.__wrapped__ = original_apply
        optimizer.apply = apply

    def _capture(self) -> None:
        optimizer = self._tapped.optimizer
        try:
            rate = (
                _learning_rate(optimizer) if self.has_learning_rate or self._steps is None else None
            )
            if self._steps is None:
                self._materialize(has_learning_rate=rate is not None)
            step = tf.cast(tf.convert_to_tensor(optimizer.iterations), tf.int64)
            row = []
            if rate is not None:
                row.append(rate)
            row.extend(tf.cast(v, tf.float32) for v in self._variables.values())
            if not row:
                row.append(tf.constant(np.nan, tf.float32))
            slot = tf.reshape(tf.math.floormod(step, self.capacity), [1, 1])
            self._steps.scatter_nd_update(slot, tf.reshape(step, [1]))
            self._values.scatter_nd_update(slot, tf.reshape(tf.stack(row), [1, -1]))
        except Exception as error:  # Logging must never stop an update.
            warnings.warn(f"tb_lr_plugin: cannot capture the learning rate of this step: {error!r}")
            return
        if not tf.executing_eagerly():
            self.traced = True


def _learning_rate(optimizer: keras.optimizers.Optimizer) -> tf.Tensor | None:
    """The rate the coming update applies, as a float32 scalar; None if unreadable."""
    try:
        rate = tf.cast(optimizer.learning_rate, tf.float32)
    except Exception as error:
        warnings.warn(
            f"tb_lr_plugin: optimizer {optimizer.name!r} has no readable learning rate "
            f"({error!r}); its hyperparameters are still logged"
        )
        return None
    return rate if rate.shape.rank == 0 else None


_TAP_ATTRIBUTE = "_tb_lr_plugin_tap"


def tap_for(tapped: hyperparameters.TappedOptimizer) -> StepTap:
    """Returns the optimizer's tap, installing it on first use."""
    tap = getattr(tapped.optimizer, _TAP_ATTRIBUTE, None)
    if tap is None:
        tap = StepTap(tapped)
        # Kept on the optimizer (not in a global registry) so both are
        # collected together.
        setattr(tapped.optimizer, _TAP_ATTRIBUTE, tap)
    return tap
