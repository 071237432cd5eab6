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

The forward pass of that step sees the model's variables only, so the
accessors of `in_layer` and `record` there go through
`keras_internals.hook_jax_train_step`: the step's optimizer values are handed
into the forward pass (the step, the rate, the epoch are computed from them)
and the recorded values carried out of it, into the ring row of that step.
"""

from __future__ import annotations

import contextlib
import threading
import warnings
from collections.abc import Iterator
from typing import Any

import jax
import jax.numpy as jnp
import keras
import numpy as np

from tb_lr_plugin.writer import keras_internals, step_convention, step_tap, update_measures
from tb_lr_plugin.writer.step_tap import HYPERPARAMETER, RECORDED, Column
from tb_lr_plugin.writer.tapped_optimizers import TappedOptimizer

# The ring's last column holds each row's lap, `step // capacity`, exact in
# float32 to 2**24 laps: which step of its slot wrote the row.
_LAP = step_tap.MAX_COLUMNS
_BLANK_ROW = step_tap.unwritten((_LAP + 1,))


def _empty_ring(shape: tuple[int, ...], dtype: Any = None) -> np.ndarray:
    # No NaN in this host value: JAX checks that a value written to a variable
    # of several processes is the same on each, and a NaN never equals itself.
    # (The rows captured in the step hold NaN blanks; they never pass that check.)
    ring = np.zeros(shape, np.float32)
    ring[:, -1] = -1.0  # The lap column: no step wrote the row.
    return ring


def _row(columns: list[int], values: list[Any]) -> Any:
    """A ring row: `values` at `columns` (static), "unwritten" elsewhere.

    Concatenated from static pieces rather than scattered: XLA's CPU scatter
    adds about 75 ms to compiling the train step, a once-per-`fit` cost.
    """
    pieces, start = [], 0
    for column, value in sorted(zip(columns, values, strict=True), key=lambda pair: pair[0]):
        if column > start:
            pieces.append(_BLANK_ROW[start:column])
        pieces.append(jnp.reshape(value, (1,)))
        start = column + 1
    if start < _BLANK_ROW.size:
        pieces.append(_BLANK_ROW[start:])
    return jnp.concatenate(pieces)


def _in_control_flow() -> bool:
    """Whether JAX is tracing a `cond` branch or a loop body: their tracers stay there.

    Walked once per trace of a `record`, not per step.
    """
    return any(
        "jax/_src/lax/control_flow" in frame.f_code.co_filename.replace("\\", "/")
        for frame in keras_internals.calling_frames(2)
    )


def create(tapped: TappedOptimizer, capacity: int) -> step_tap.StepTap:
    """A JAX tap for one optimizer (see `step_tap.create`)."""
    return JaxStepTap(tapped, capacity)


class JaxStepTap(step_tap.StepTap):
    """One `(capacity + 1, MAX_COLUMNS + 1)` ring, an optimizer variable kept out of saving.

    Every column a step may write is in the one ring, so its shape never
    changes and a train function traced once keeps its signature.
    """

    # Measures every step and writes the due ones (see `write_measures`).
    measures_in_branches = False

    def __init__(self, tapped: TappedOptimizer, capacity: int = step_tap.DEFAULT_CAPACITY):
        optimizer = tapped.optimizer
        # One row more than the steps it holds: the last holds the epoch (see `set_epoch`).
        self._ring = optimizer.add_variable(
            (capacity + 1, _LAP + 1), initializer=_empty_ring, dtype="float32", name="tb_lr_ring"
        )
        keras_internals.hide_from_saving(optimizer, [self._ring])
        self._epoch = 0  # The epoch the ring holds.
        self._written: set[int] = set()
        self._warned_traced_record = False
        self._model: keras.Model | None = None
        self._loop_values: dict[int, Any] | None = None
        # While the forward pass of a train step is traced: the step's optimizer
        # values (by variable id), and what layers recorded (by column).
        self._step_values: dict[int, Any] | None = None
        self._step_records: dict[int, Any] | None = None
        self._forward_record_columns: list[int] = []  # The columns of the records carried out.
        # A LossScaleOptimizer's scalar variables: its update cannot read them
        # (see `_hyperparameter_variables`); the train step's hook writes them.
        self._wrapper_columns: list[tuple[int, Any]] = []
        self._warned_columns: set[int] = set()
        # The update measures' ring (`update_ratios`): each layer's ratio, the
        # gradient norm and the lap; created for the layers of the variables
        # the optimizer updates, as an optimizer variable kept out of saving.
        self._measure_ring: Any = None
        self._measure_columns: list[int] = []
        super().__init__(tapped, capacity)

    def attach_to_model(self, model: keras.Model, *, serve_layers: bool) -> bool:
        """Reads the ring through `model`'s carried state; `serve_layers`: serves its layers."""
        self._model = model
        # Before fit gathers the optimizer's variables: a new one needs a new trace.
        created = self.measure_updates and self._create_measure_ring()
        if not serve_layers:
            return created
        hooked = keras_internals.hook_jax_train_step(
            model, self._around_forward, self._after_step, owner=self
        )
        if hooked and not self._wrapper_columns:
            self._wrapper_columns = self._wrapper_variable_columns()
            self._written.update(column for column, _ in self._wrapper_columns)
        return hooked or created

    def _wrapper_variable_columns(self) -> list[tuple[int, Any]]:
        own = {id(v) for v in self.optimizer.variables}
        found = []
        for name, variable in super()._hyperparameter_variables().items():
            column = None if id(variable) in own else self._column(Column(HYPERPARAMETER, name))
            if column is not None:
                found.append((column, variable))
        return found

    def _create_measure_ring(self) -> bool:
        """Creates the measures' ring for the optimizer's variables, unless it has one."""
        variables = keras_internals.trainable_variables_of(self.optimizer)
        if self._measure_ring is not None or not variables:
            return False
        self._measure_columns = self.measure_columns(update_measures.layers_of(variables)[0])
        self._measure_ring = self.optimizer.add_variable(
            (self.capacity, len(self._measure_columns) + 1),
            initializer=_empty_ring,
            dtype="float32",
            name="tb_lr_measures",
        )
        keras_internals.hide_from_saving(self.optimizer, [self._measure_ring])
        return True

    def update_slot(self) -> tuple[Any, Any, Any]:
        """The slot, lap and due-ness of the update about to run (read in its scope)."""
        if self._measure_ring is None and keras_internals.in_stateless_scope():
            raise RuntimeError(
                "on JAX, update ratios are measured in fit and in eager loops, not in a "
                "stateless loop of your own"
            )
        step = keras.ops.convert_to_tensor(self.optimizer.iterations, "int32")
        due = jax.lax.rem(step, self.measure_every) == 0
        return jax.lax.rem(step, self.capacity), jax.lax.div(step, self.capacity), due

    def write_measures(self, slot, columns: list[int], measures) -> None:
        if self._measure_ring is None:
            self._create_measure_ring()  # Eagerly: an eager loop's first update.
        if columns != self._measure_columns:
            raise RuntimeError("the optimizer updates other variables than it was built with")
        row, lap, due = slot
        # A step that is not due is written blank: on JAX a stride saves the writes, not the sums.
        measures = jnp.where(due, measures, step_tap.unwritten(measures.shape))
        values = jnp.concatenate([measures, jnp.reshape(lap, (1,)).astype("float32")])
        ring = self._measure_ring.value
        self._measure_ring.assign(jax.lax.dynamic_update_slice(ring, values[None, :], (row, 0)))

    def take_loop_state(self, values: dict[int, Any]) -> None:
        """Takes the optimizer variables' values (by variable id) a jitted loop carries.

        Read at the next drain, never written into the variables: the loop
        may donate these buffers to its next step. Only the latest are kept.
        """
        self._loop_values = values

    def sync(self) -> None:
        if self._model is not None:
            keras_internals.sync_training_state(self._model)

    def next_step(self) -> int:
        counter = keras_internals.micro_batch_counter(self.optimizer)
        if self._loop_values is None or id(counter) not in self._loop_values:
            return super().next_step()
        count = int(np.asarray(self._loop_values[id(counter)]))
        return step_convention.update_count(
            count, step_convention.micro_batches_per_update(self.optimizer)
        )

    def _around_forward(self, values: dict[int, Any], forward) -> tuple[Any, Any]:
        self._step_values, self._step_records = values, {}
        try:
            result = forward()
            records = self._step_records
        finally:
            self._step_values, self._step_records = None, None
        if not records:
            return result, None
        self._forward_record_columns = list(records)  # Static for the trace.
        return result, jax.lax.stop_gradient(jnp.stack(list(records.values())))

    def _warn_inner_trace(self, column: int) -> None:
        if column not in self._warned_columns:
            self._warned_columns.add(column)
            warnings.warn(
                f"tb_lr_plugin: on the JAX backend, record({self.columns[column].name!r}) in a "
                "keras.ops.cond branch or a loop body is not recorded (a value traced there "
                "cannot leave it); record it in call itself"
            )

    def _after_step(self, carried: Any, before: dict[int, Any], after: dict[int, Any]) -> None:
        if id(self._ring) not in after or (carried is None and not self._wrapper_columns):
            return
        count = before.get(id(keras_internals.micro_batch_counter(self.optimizer)))
        if count is None:
            return
        k = step_convention.micro_batches_per_update(self.optimizer)
        slot = jax.lax.rem(
            jnp.asarray(step_convention.update_count(count, k), jnp.int32), self.capacity
        )
        ring = after[id(self._ring)]
        if carried is not None:
            columns = self._forward_record_columns
            if columns == list(range(columns[0], columns[0] + len(columns))):
                # Side by side, as the columns of one layer's records are: one slice.
                ring = jax.lax.dynamic_update_slice(ring, carried[None, :], (slot, columns[0]))
            else:
                for index, column in enumerate(columns):
                    cell = carried[index].reshape(1, 1)
                    ring = jax.lax.dynamic_update_slice(ring, cell, (slot, column))
            self._written.update(columns)
        # The wrapper's values the update ran with. A skipped update (no step)
        # writes the slot of the next step, which then writes it again.
        for column, variable in self._wrapper_columns:
            cell = jnp.asarray(before[id(variable)], jnp.float32).reshape(1, 1)
            ring = jax.lax.dynamic_update_slice(ring, cell, (slot, column))
        after[id(self._ring)] = ring

    def _take_rings(self, steps: np.ndarray) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
        # Never reset (a host write of a replicated variable is a collective
        # every JAX process would have to make): a row counts only where its
        # lap says it was written by the step drained now.
        ring = self._read(self._ring)[: self.capacity]
        expected = np.full(self.capacity, -1.0, np.float32)
        expected[steps % self.capacity] = steps // self.capacity
        indices = tuple(sorted(self._written))
        cells = ring[:, indices]  # A copy of the written columns only (of 65).
        cells[ring[:, _LAP] != expected] = step_tap.UNWRITTEN
        yield indices, cells
        if self._measure_ring is not None:
            ring = self._read(self._measure_ring)
            measures = ring[:, :-1].copy()
            measures[ring[:, -1] != expected] = step_tap.UNWRITTEN
            yield tuple(self._measure_columns), measures

    def _read(self, variable: Any) -> np.ndarray:
        """A variable's value on the host, read-only (from a jitted loop's state, if any)."""
        if self._loop_values is not None and id(variable) in self._loop_values:
            return np.asarray(self._loop_values[id(variable)])
        return np.asarray(variable.value)

    def record(self, name: str, value: Any, kind: str = RECORDED) -> None:
        in_step = self._step_records is not None  # The forward pass of fit's train step.
        if not in_step and (
            keras_internals.in_stateless_scope() or isinstance(value, jax.core.Tracer)
        ):
            # A stateless step whose forward pass the tap does not see (a train
            # step of your own, `stateless_call`): no update can take the value.
            if not self._warned_traced_record and keras_internals.available(
                keras_internals.JAX_TRAIN_STEP
            ):
                self._warned_traced_record = True
                warnings.warn(
                    "tb_lr_plugin: on the JAX backend, record() is recorded in fit's train "
                    "step and in eager loops (optimizer.apply_gradients), not in a stateless "
                    f"step of your own; {name!r} is not recorded"
                )
            return
        column = self._column(Column(kind, name))
        if column is None:
            return
        if in_step and _in_control_flow():
            # A tracer of a `cond` branch or loop body cannot leave it.
            self._warn_inner_trace(column)
            return
        if in_step:
            self._step_records[column] = keras.ops.cast(value, "float32")
        else:
            records = self._eager_records.setdefault(threading.get_ident(), {})
            records[column] = keras.ops.convert_to_tensor(value, "float32")

    def learning_rate(self) -> Any:
        with self._step_scope():
            # A float rate is a variable: read it in the scope.
            return keras.ops.convert_to_tensor(self.optimizer.learning_rate, "float32")

    def step(self) -> Any:
        with self._step_scope():
            return keras.ops.convert_to_tensor(self.optimizer.iterations)

    def current_epoch(self) -> Any:
        with self._step_scope():
            ring = keras.ops.convert_to_tensor(self._ring)
        return ring[self.capacity, 0].astype("int32")

    def set_epoch(self, epoch: int) -> None:
        # In the ring, not a variable of its own: every array the train step
        # carries costs about 15,000 instructions a step (jaxlib's dispatch,
        # Keras' tracking of the state), 2.5% of a small model's. The write
        # copies the ring on the device (about 1 ms), so only a change is
        # written. An exact float32 below 2**24 epochs.
        if epoch != self._epoch:
            self._ring.assign(self._ring.value.at[self.capacity, 0].set(epoch))
            self._epoch = epoch

    def _hyperparameter_variables(self) -> dict[str, Any]:
        # A wrapper's variables (LossScaleOptimizer's scale) are not in the
        # scope the wrapped optimizer's update runs in: it cannot read them.
        own = {id(v) for v in self.optimizer.variables}
        return {n: v for n, v in super()._hyperparameter_variables().items() if id(v) in own}

    def _step_scope(self) -> keras.StatelessScope | contextlib.nullcontext:
        """Where the optimizer's variables read as their values in this step."""
        if self._step_values is not None:
            variables = self.optimizer.variables
            mapping = [
                (v, self._step_values[id(v)]) for v in variables if id(v) in self._step_values
            ]
            return keras.StatelessScope(state_mapping=mapping)
        if keras_internals.in_stateless_scope():
            # A stateless step the tap does not see: an optimizer variable
            # would read as a stale host value, silently wrong.
            raise step_tap.NoStepValues(
                "no value in a stateless JAX step the logger does not see (stateless_call, "
                "a train_step of your own that does not call compute_loss_and_updates); "
                "there is one in fit and in eager loops. Pass default=... to use one there"
            )
        return contextlib.nullcontext()

    def capture(self, learning_rate: Any = None) -> None:
        try:
            columns, values = [], []
            for column, variable in self._captured_columns(learning_rate is not None):
                value = variable
                if variable is None:  # The rate.
                    value = self.optimizer.learning_rate if learning_rate is None else learning_rate
                columns.append(column)
                values.append(keras.ops.convert_to_tensor(value, "float32"))
            # Eager records go with an eager update only: a traced one would
            # bake them into the compiled step as constants.
            records = {}
            if not keras_internals.in_stateless_scope():
                records = self._eager_records.pop(threading.get_ident(), {})
            columns.extend(records)
            values.extend(records.values())
            if not columns:
                return
            self._written.update(columns)
            step = keras.ops.convert_to_tensor(self.optimizer.iterations, "int32")
            slot = jax.lax.rem(step, self.capacity)  # `%` and `//` also handle negatives.
            columns.append(_LAP)
            values.append(jax.lax.div(step, self.capacity).astype(jnp.float32))
            row = _row(columns, values)
            ring = self._ring.value
            self._ring.assign(jax.lax.dynamic_update_slice(ring, row[None, :], (slot, 0)))
        except Exception as error:  # Logging must never stop an update.
            warnings.warn(f"tb_lr_plugin: cannot capture the values of this step: {error!r}")
            return
        if keras_internals.in_stateless_scope():
            self.traced = True
