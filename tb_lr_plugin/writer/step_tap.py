"""Capturing, inside the compiled train step, the values of each update.

Reading `optimizer.learning_rate` on the host after a step costs an eager op
and a device sync per step, and gives the *next* step's rate. Instead the tap
wraps the optimizer's `apply` so that, just before update `s` runs and inside
the same compiled function, the rate it applies and the optimizer's scalar
variables are scattered into row `s % capacity` of a ring buffer; values that
layers `record` during the same step land in the same row. The host reads the
ring every few thousand steps: one copy for all of them. It works with
`steps_per_execution > 1` (every step runs `apply`) and under XLA (scatter
into a resource variable compiles, where summary ops do not).

A tap stays installed on its optimizer for the optimizer's lifetime: a train
function traced with it keeps writing to the same ring, so a later logger
reuses it instead of forcing a retrace.
"""

from __future__ import annotations

import dataclasses
import warnings

import keras
import numpy as np
import tensorflow as tf

from tb_lr_plugin.writer import hyperparameters

DEFAULT_CAPACITY = 8192
# Columns of the ring: the rate, the optimizer's scalar variables, recorded values.
MAX_COLUMNS = 64
# A NaN with a payload no arithmetic produces marks a cell nothing wrote since
# the last drain, so a recorded NaN stays distinguishable from "not recorded".
_UNWRITTEN_BITS = 0x7FC0DEAD

LEARNING_RATE = "learning_rate"
HYPERPARAMETER = "hyperparameter"
RECORDED = "recorded"


@dataclasses.dataclass(frozen=True)
class Column:
    """What one column of the ring holds: its kind and series-relative name."""

    kind: str  # LEARNING_RATE, HYPERPARAMETER or RECORDED
    name: str


class StepTap:
    """A ring buffer of per-step values filled inside one optimizer's updates.

    Attributes:
        columns: What each ring column holds, in column order.
        traced: Whether a compiled function has captured through this tap.
        epoch: An int64 variable holding the current epoch, for
            `current_epoch()`; the logger assigns it at each epoch's start.

    Example:

    ```python
    tap = tap_for(hyperparameters.TappedOptimizer(optimizer))
    train_step()  # calls optimizer.apply_gradients inside a tf.function
    steps, rows, written = tap.drain()  # rows[:, i] holds tap.columns[i]
    ```
    """

    def __init__(self, tapped: hyperparameters.TappedOptimizer, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self.traced = False
        self.columns: list[Column] = []
        self.optimizer = tapped.optimizer
        self._tapped = tapped
        self._captured: list[tuple[int, keras.Variable | None]] | None = None
        with tf.init_scope():  # Eager variables even when created while tracing.
            self._steps = tf.Variable(_fill_steps(capacity), trainable=False, name="tb_lr_steps")
            self._values = tf.Variable(
                _fill_unwritten(capacity), trainable=False, name="tb_lr_values"
            )
            self.epoch = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="tb_lr_epoch")
        self._install(tapped.optimizer)

    def drain(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """Returns `(steps, rows, written)` in step order and empties the ring.

        Rows hold one column per entry of `columns`; `written` says which
        cells something wrote during that step. Called between executions of
        the train function, on the thread that runs it, so nothing writes
        while it reads.
        """
        steps = self._steps.numpy()
        values = self._values.numpy()
        self._steps.assign(_fill_steps(self.capacity))
        self._values.assign(_fill_unwritten(self.capacity))
        filled = np.flatnonzero(steps >= 0)
        order = filled[np.argsort(steps[filled], kind="stable")]
        rows = values[order, : len(self.columns)]
        return steps[order], rows, rows.view(np.uint32) != _UNWRITTEN_BITS

    def record(self, name: str, value) -> None:
        """Writes `value` into this step's row, column `name` (while tracing)."""
        column = self._column(Column(RECORDED, name))
        if column is None:
            return
        step = tf.cast(tf.convert_to_tensor(self.optimizer.iterations), tf.int64)
        slot = tf.math.floormod(step, self.capacity)
        self._values.scatter_nd_update(
            tf.reshape(tf.stack([slot, tf.constant(column, tf.int64)]), [1, 2]),
            tf.reshape(tf.cast(value, tf.float32), [1]),
        )

    def _column(self, column: Column) -> int | None:
        if column in self.columns:
            return self.columns.index(column)
        if len(self.columns) == MAX_COLUMNS:
            warnings.warn(
                f"tb_lr_plugin: more than {MAX_COLUMNS} values per step; "
                f"{column.kind} {column.name!r} is not recorded"
            )
            return None
        self.columns.append(column)
        return len(self.columns) - 1

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
        try:
            if self._captured is None:
                self._captured = self._choose_captured()
            step = tf.cast(tf.convert_to_tensor(self.optimizer.iterations), tf.int64)
            columns, values = [], []
            for column, variable in self._captured:
                columns.append(column)
                source = self.optimizer.learning_rate if variable is None else variable
                values.append(tf.cast(source, tf.float32))
            slot = tf.math.floormod(step, self.capacity)
            self._steps.scatter_nd_update(tf.reshape(slot, [1, 1]), tf.reshape(step, [1]))
            if columns:
                indices = tf.stack(
                    [tf.fill([len(columns)], slot), tf.constant(columns, tf.int64)], axis=1
                )
                self._values.scatter_nd_update(indices, tf.stack(values))
        except Exception as error:  # Logging must never stop an update.
            warnings.warn(f"tb_lr_plugin: cannot capture the learning rate of this step: {error!r}")
            return
        if not tf.executing_eagerly():
            self.traced = True

    def _choose_captured(self) -> list[tuple[int, keras.Variable | None]]:
        """The columns `apply` fills: the rate (if readable), then scalar variables."""
        captured = []
        if _learning_rate_is_readable(self.optimizer):
            captured.append((self._column(Column(LEARNING_RATE, LEARNING_RATE)), None))
        for name, variable in hyperparameters.scalar_variables(self._tapped).items():
            index = self._column(Column(HYPERPARAMETER, name))
            if index is not None:
                captured.append((index, variable))
        return captured


def _fill_steps(capacity: int) -> tf.Tensor:
    return tf.fill([capacity], tf.constant(-1, tf.int64))


def _fill_unwritten(capacity: int) -> tf.Tensor:
    bits = tf.fill([capacity, MAX_COLUMNS], tf.constant(_UNWRITTEN_BITS, tf.uint32))
    return tf.bitcast(bits, tf.float32)


def _learning_rate_is_readable(optimizer: keras.optimizers.Optimizer) -> bool:
    try:
        rate = tf.cast(optimizer.learning_rate, tf.float32)
    except Exception as error:
        warnings.warn(
            f"tb_lr_plugin: optimizer {optimizer.name!r} has no readable learning rate "
            f"({error!r}); its hyperparameters are still logged"
        )
        return False
    return rate.shape.rank == 0


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
