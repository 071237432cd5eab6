"""The JAX step tap: a ring the stateless train step carries as an optimizer variable.

JAX's `fit` runs a pure function of the variables' values: the optimizer
variables go in and come out of every step, and the variables themselves are
stale until the epoch ends. A ring created with `optimizer.add_variable` is
carried with them, so a functional `dynamic_update_slice` of one row per
update (in place once XLA owns the buffer) writes the very rate the update
applied, under `jit` and with any `steps_per_execution`. The ring is read
between two executions, after `keras_internals.sync_training_state` has put
the carried values back into the variables (before the next execution donates
them), and is kept out of what the optimizer saves.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np

from tb_lr_plugin.writer import keras_internals, step_tap
from tb_lr_plugin.writer.step_tap import RECORDED, Column
from tb_lr_plugin.writer.tapped_optimizers import TappedOptimizer


def create(tapped: TappedOptimizer, capacity: int) -> step_tap.StepTap:
    """A JAX tap for one optimizer (see `step_tap.create`)."""
    return JaxStepTap(tapped, capacity)


class JaxStepTap(step_tap.StepTap):
    """One `(capacity, MAX_COLUMNS)` ring, an untracked-by-saving optimizer variable.

    Every column a step may write is in the one ring, so its shape never
    changes and a train function traced once keeps its signature.
    """

    def __init__(self, tapped: TappedOptimizer, capacity: int = step_tap.DEFAULT_CAPACITY):
        optimizer = tapped.optimizer
        self._ring = optimizer.add_variable(
            (capacity, step_tap.MAX_COLUMNS),
            initializer=lambda shape, dtype: step_tap.unwritten(shape),
            dtype="float32",
            name="tb_lr_ring",
        )
        self.epoch = optimizer.add_variable(
            (), initializer="zeros", dtype="int32", name="tb_lr_epoch"
        )
        keras_internals.hide_from_saving(optimizer, [self._ring, self.epoch])
        self._blank_row = step_tap.unwritten((step_tap.MAX_COLUMNS,))
        self._written: set[int] = set()
        self._eager_records: dict[int, dict[int, Any]] = {}
        self._warned_traced_record = False
        self._sync = None
        super().__init__(tapped, capacity)

    def sync_with(self, model: keras.Model | None) -> None:
        """Reads the ring through `model`'s carried training state (`fit`), or directly."""
        self._sync = model

    def _before_read(self) -> None:
        if self._sync is not None:
            keras_internals.sync_training_state(self._sync)

    def _take_rings(self) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
        cells = np.asarray(self._ring.numpy())
        self._ring.assign(step_tap.unwritten(cells.shape))
        self._eager_records.clear()  # Recorded by no update (an eager call in a callback).
        indices = tuple(sorted(self._written))
        yield indices, cells[:, indices]

    def record(self, name: str, value: Any) -> None:
        column = self._column(Column(RECORDED, name))
        if column is None:
            return
        if isinstance(value, jax.core.Tracer):
            # A value of the jitted forward pass cannot reach the update, which
            # runs outside the gradient's trace: not supported (yet) on JAX.
            if not self._warned_traced_record:
                self._warned_traced_record = True
                warnings.warn(
                    "tb_lr_plugin: record() inside a jitted or stateless train step is not "
                    "supported on the JAX backend; values are recorded in eager custom loops "
                    "(optimizer.apply_gradients) only"
                )
            return
        self._eager_records.setdefault(threading.get_ident(), {})[column] = jnp.asarray(
            value, jnp.float32
        )

    def learning_rate(self) -> Any:
        self._check_not_stateless("current_learning_rate")
        return self.optimizer.learning_rate

    def step(self) -> Any:
        self._check_not_stateless("current_step")
        return keras.ops.convert_to_tensor(self.optimizer.iterations)

    def current_epoch(self) -> Any:
        self._check_not_stateless("current_epoch")
        return keras.ops.convert_to_tensor(self.epoch)

    def _check_not_stateless(self, caller: str) -> None:
        # In JAX's stateless forward pass an optimizer variable reads as its
        # stale (or purged) host value: a wrong step would be silently used.
        if keras_internals.in_stateless_scope():
            raise NotImplementedError(
                f"tb_lr_plugin.{caller}() inside JAX's stateless train step (fit, or "
                "stateless_call) is not supported on the JAX backend yet; it works in eager "
                "custom loops (optimizer.apply_gradients)"
            )

    def capture(self, learning_rate: Any = None) -> None:
        try:
            columns, values = [], []
            for column, variable in self._captured_columns(learning_rate is not None):
                value = variable
                if variable is None:  # The rate.
                    value = self.optimizer.learning_rate if learning_rate is None else learning_rate
                columns.append(column)
                values.append(keras.ops.convert_to_tensor(value, "float32"))
            records = self._eager_records.pop(threading.get_ident(), {})
            columns.extend(records)
            values.extend(records.values())
            if not columns:
                return
            self._written.update(columns)
            row = jnp.asarray(self._blank_row).at[jnp.asarray(columns)].set(jnp.stack(values))
            slot = jnp.asarray(self.optimizer.iterations.value, jnp.int32) % self.capacity
            ring = self._ring.value
            self._ring.assign(jax.lax.dynamic_update_slice(ring, row[None, :], (slot, 0)))
        except Exception as error:  # Logging must never stop an update.
            warnings.warn(f"tb_lr_plugin: cannot capture the values of this step: {error!r}")
            return
        if keras_internals.in_stateless_scope():
            self.traced = True
