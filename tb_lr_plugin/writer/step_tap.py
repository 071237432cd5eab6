"""Capturing, inside the compiled train step, the values of each update.

Reading `optimizer.learning_rate` on the host after a step costs an eager op
and a device sync per step, and gives the *next* step's rate. Instead the tap
hooks the optimizer so that, as update `s` runs and inside the same compiled
function, the rate it applies and the optimizer's scalar variables are
scattered into row `s % capacity` of a ring buffer; values that layers
`record` during the same step land in the same row. For Keras' own `apply`
the hook is on `_backend_update_step`, which receives the very rate tensor the
update uses; a custom `apply` is wrapped instead. The host reads the
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
    steps, rows, written, lost = tap.drain()  # rows[:, i] holds tap.columns[i]
    ```
    """

    def __init__(self, tapped: hyperparameters.TappedOptimizer, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self.traced = False
        self.columns: list[Column] = []
        self.optimizer = tapped.optimizer
        self._tapped = tapped
        self._captured: list[tuple[int, keras.Variable | None]] | None = None
        self._drained_until = iterations(tapped.optimizer)
        with tf.init_scope():  # Eager variables even when created while tracing.
            # Flat, so one scatter with computed indices writes a step's cells.
            self._values = tf.Variable(
                _fill_unwritten(capacity), trainable=False, name="tb_lr_values"
            )
            self.epoch = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="tb_lr_epoch")
        self._install(tapped.optimizer)

    def drain(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Returns `(steps, rows, written, lost)` since the last drain, and empties the ring.

        The steps are those `optimizer.iterations` went through since the
        last drain; rows hold one column per entry of `columns`, and `written`
        says which cells an update (or `record`) wrote. `lost` counts the
        oldest steps overwritten because more than `capacity` ran between two
        drains. Called between executions of the train function, on the
        thread that runs it, so nothing writes while it reads.
        """
        stop = iterations(self.optimizer)
        start = self._drained_until
        if stop < start:  # Iterations were reset (a checkpoint restored mid-run).
            start = max(0, stop - self.capacity)
        lost = max(0, stop - start - self.capacity)
        steps = np.arange(start + lost, stop, dtype=np.int64)
        values = self._values.numpy().reshape(self.capacity, MAX_COLUMNS)
        self._values.assign(_fill_unwritten(self.capacity))
        self._drained_until = stop
        rows = values[steps % self.capacity, : len(self.columns)]
        written = rows.view(np.uint32) != _UNWRITTEN_BITS
        updated = np.any(written, axis=1)  # Steps with no update (no gradients) have no row.
        return steps[updated], rows[updated], written[updated], lost

    def record(self, name: str, value) -> None:
        """Writes `value` into this step's row, column `name` (while tracing)."""
        column = self._column(Column(RECORDED, name))
        if column is None:
            return
        index = self._row_start() + column
        self._values.scatter_update(
            tf.IndexedSlices(tf.reshape(tf.cast(value, tf.float32), [1]), tf.reshape(index, [1]))
        )

    def _row_start(self) -> tf.Tensor:
        step = tf.cast(tf.convert_to_tensor(self.optimizer.iterations), tf.int64)
        return tf.math.floormod(step, self.capacity) * MAX_COLUMNS

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
        update_step = getattr(optimizer, "_backend_update_step", None)
        if update_step is not None and type(optimizer).apply is keras.optimizers.Optimizer.apply:
            # Keras' own `apply` hands the rate it computed for this update to
            # `_backend_update_step`: capturing that tensor costs a scatter,
            # where evaluating `optimizer.learning_rate` again would repeat
            # the schedule's ops in every step.
            def backend_update_step(grads, trainable_variables, learning_rate):
                self._capture(learning_rate)
                return update_step(grads, trainable_variables, learning_rate)

            backend_update_step.__wrapped__ = update_step
            optimizer._backend_update_step = backend_update_step
            return
        # A custom `apply`: capture just before it, re-reading the rate.
        original_apply = optimizer.apply

        def apply(grads, trainable_variables=None):
            if len(grads):
                if not optimizer.built and trainable_variables is not None:
                    # What `apply` would do first: the tap must see the
                    # variables `build` creates (a custom optimizer's own).
                    optimizer.build(list(trainable_variables))
                    optimizer.built = True
                self._capture()
            return original_apply(grads, trainable_variables)

        apply.__wrapped__ = original_apply
        optimizer.apply = apply

    def _capture(self, learning_rate: tf.Tensor | None = None) -> None:
        try:
            if self._captured is None:
                self._captured = self._choose_captured(rate_given=learning_rate is not None)
            if not self._captured:
                return
            columns = tf.constant([column for column, _ in self._captured], tf.int64)
            values = [
                (self.optimizer.learning_rate if learning_rate is None else learning_rate)
                if variable is None
                else variable
                for _, variable in self._captured
            ]
            self._values.scatter_update(
                tf.IndexedSlices(
                    tf.stack([tf.cast(value, tf.float32) for value in values]),
                    self._row_start() + columns,
                )
            )
        except Exception as error:  # Logging must never stop an update.
            warnings.warn(f"tb_lr_plugin: cannot capture the learning rate of this step: {error!r}")
            return
        if not tf.executing_eagerly():
            self.traced = True

    def _choose_captured(self, rate_given: bool) -> list[tuple[int, keras.Variable | None]]:
        """The columns an update fills: the rate (if readable), then scalar variables."""
        captured = []
        if rate_given or _learning_rate_is_readable(self.optimizer):
            captured.append((self._column(Column(LEARNING_RATE, LEARNING_RATE)), None))
        for name, variable in hyperparameters.scalar_variables(self._tapped).items():
            index = self._column(Column(HYPERPARAMETER, name))
            if index is not None:
                captured.append((index, variable))
        return captured


def _fill_unwritten(capacity: int) -> tf.Tensor:
    bits = tf.fill([capacity * MAX_COLUMNS], tf.constant(_UNWRITTEN_BITS, tf.uint32))
    return tf.bitcast(bits, tf.float32)


def iterations(optimizer: keras.optimizers.Optimizer) -> int:
    """The optimizer's update count, read on the host."""
    return int(optimizer.iterations.numpy())


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
