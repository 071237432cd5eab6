"""Capturing, inside the compiled train step, the values of each update.

Reading `optimizer.learning_rate` on the host after a step costs an eager op
and a device sync per step, and gives the *next* step's rate. Instead the tap
hooks the optimizer (`optimizer_hooks`) so that, as update `s` runs and inside
the same compiled function, the tap writes the rate it applies, the
optimizer's scalar variables and the values layers `record`ed earlier in the
step, as one row, into slot `s % capacity` of a ring buffer: one stack and one
scatter per step, however many values (every value a compiled function writes
costs an op, and every variable it writes an input, per step). The host reads
the ring every few thousand steps: one copy for all of them. It works with
`steps_per_execution > 1` (every step runs `apply`) and under XLA (scatter into
a resource variable compiles, where summary ops do not).

The tap also keeps what a step computes once (its counter, ring slot and rate)
for everything traced in that step: the layers' accessors, the schedule and
the update.
"""

from __future__ import annotations

import dataclasses
import threading
import warnings

import keras
import numpy as np
import tensorflow as tf

from tb_lr_plugin.writer import hyperparameters, keras_internals, step_convention
from tb_lr_plugin.writer.tapped_optimizers import TappedOptimizer

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
    """

    def __init__(self, tapped: TappedOptimizer, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self.traced = False
        self.columns: list[Column] = []  # The rate first, then in order of first use.
        # The rows updates write, one ring per set of columns, keyed by their
        # indices: `capacity` rows of one cell per column (a vector for one).
        self._rings: dict[tuple[int, ...], tf.Variable] = {}
        # Columns recorded where no update can take them (a `cond` branch, a
        # loop body) are written there, into a ring of their own.
        self._direct: dict[int, tf.Variable] = {}
        # Values recorded eagerly, per replica, until the eager update takes them.
        self._eager_records: dict[tuple[str, int], dict[int, tf.Tensor]] = {}
        self._warned_unwritten: set[int] = set()
        self.optimizer = tapped.optimizer
        self._tapped = tapped
        self._captured: list[tuple[int, keras.Variable | None]] | None = None
        self._drained_until = step_convention.next_step(tapped.optimizer)
        with tf.init_scope():
            self.epoch = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="tb_lr_epoch")
        self._column(Column(LEARNING_RATE, LEARNING_RATE))

    def drain(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Returns `(steps, rows, written, lost)` since the last drain, and empties the ring.

        The steps are those `optimizer.iterations` went through since the
        last drain; rows hold one column per entry of `columns`, and `written`
        says which cells an update (or `record`) wrote. `lost` counts the
        oldest steps overwritten because more than `capacity` ran between two
        drains. Called between executions of the train function, on the
        thread that runs it, so nothing writes while it reads.
        """
        stop = step_convention.next_step(self.optimizer)
        start = self._drained_until
        if stop < start:  # Iterations were reset (a checkpoint restored mid-run).
            start = max(0, stop - self.capacity)
        lost = max(0, stop - start - self.capacity)
        steps = np.arange(start + lost, stop, dtype=np.int64)
        columns = _unwritten((self.capacity, len(self.columns)))
        # Rows last: a value recorded in a branch or loop body earlier in the
        # step than one the update wrote is superseded by it.
        rings = [((index,), ring) for index, ring in self._direct.items()]
        for indices, ring in rings + list(self._rings.items()):
            cells = ring.numpy().reshape(self.capacity, len(indices))
            ring.assign(_unwritten(tuple(ring.shape)))
            filled = cells.view(np.uint32) != _UNWRITTEN_BITS
            columns[:, indices] = np.where(filled, cells, columns[:, indices])
        self._eager_records.clear()  # Recorded by no update (an eager call in a callback).
        self._warn_never_written()
        self._drained_until = stop
        rows = columns[steps % self.capacity]
        written = rows.view(np.uint32) != _UNWRITTEN_BITS
        updated = np.any(written, axis=1)  # Steps with no update (no gradients) have no row.
        return steps[updated], rows[updated], written[updated], lost

    def record(self, name: str, value) -> None:
        """Adds `value` to this step's row as column `name`, written with the update.

        Eagerly, the next eager update takes it; in a `cond` branch or a loop
        body, whose tensors no update outside can take, it is written at once.
        """
        column = self._column(Column(RECORDED, name))
        if column is None:
            return
        value = tf.cast(value, tf.float32)
        if tf.executing_eagerly():
            self._eager_records.setdefault(_replica(), {})[column] = value
            return
        graph = tf.compat.v1.get_default_graph()
        if not keras_internals.is_control_flow_graph(graph):
            self._per_step("records", dict)[column] = value
            return
        # A tensor of a branch or loop body cannot leave it: written now, it
        # supersedes what was recorded under this name earlier in the step.
        while keras_internals.is_control_flow_graph(graph):
            graph = keras_internals.outer_graph(graph)
        _step_state(graph).get((self, _replica(), "records"), {}).pop(column, None)
        self._scatter(self._direct, column, 1, value)

    def learning_rate(self) -> tf.Tensor:
        """The rate the update being traced will apply (for `current_learning_rate`).

        With a schedule, computed once per step and handed to the update
        too (see `optimizer_hooks`): the layer sees the very tensor the update
        applies, and the schedule's ops run once per step, not twice.
        """
        if not isinstance(
            keras_internals.rate_setting(self.optimizer),
            keras.optimizers.schedules.LearningRateSchedule,
        ):
            return self.optimizer.learning_rate  # A variable: reading it is one op.
        return self._per_step("learning_rate", lambda: self.optimizer.learning_rate)

    def shared_learning_rate(self) -> tf.Tensor | None:
        """The rate `learning_rate()` computed earlier in the step being traced, if any."""
        return self._step_tensor("learning_rate")

    def step(self) -> tf.Tensor:
        """The index of the update being traced (for `current_step`)."""
        count = self.micro_batch_count()
        if count is None:  # Keras keeps no micro-batch count we can read: its update count.
            return self._per_step("step", lambda: _as_int64(self.optimizer.iterations))
        k = step_convention.micro_batches_per_update(self.optimizer)
        if k == 1:
            return count
        return self._per_step("step", lambda: step_convention.update_count(count, k))

    def micro_batch_count(self) -> tf.Tensor | None:
        """The count Keras calls a schedule on, read once per traced step (`None` if unknown).

        One read serves the schedule (see `optimizer_hooks`), the ring slot
        and `current_step()`.
        """

        def read():
            counter = keras_internals.micro_batch_counter(self.optimizer)
            return None if counter is None else _as_int64(counter)

        return self._per_step("micro_batch_count", read)

    def _slot(self) -> tf.Tensor:
        """`iterations % capacity`: the ring slot of the update being traced."""
        return self._per_step("slot", lambda: tf.math.floormod(self.step(), self.capacity))

    def _per_step(self, key: str, compute):
        """`compute()` once per traced step and replica, shared until the update.

        What a step computes once (its counter, slot and rate) and what its
        layers recorded are kept on the graph being traced, so they go with
        it. Sound because nothing a step reads changes before its update: the
        optimizer increments `iterations` after it, and `capture` forgets
        them once the update is captured, so a second update traced into the
        same graph computes its own.
        """
        if tf.executing_eagerly():
            return compute()
        tensor = self._step_tensor(key)
        if tensor is None:
            tensor = compute()
            _step_state(tf.compat.v1.get_default_graph())[self, _replica(), key] = tensor
        return tensor

    def _step_tensor(self, key: str):
        if tf.executing_eagerly():
            return None
        replica = _replica()
        for graph in _step_graphs():
            found = _step_state(graph).get((self, replica, key))
            if found is not None:
                return found
        return None

    def _forget_step(self) -> None:
        if not tf.executing_eagerly():
            replica = _replica()
            for graph in _step_graphs():
                state = _step_state(graph)
                for key in [key for key in state if key[:2] == (self, replica)]:
                    del state[key]

    def _scatter(self, rings: dict, key, width: int, value: tf.Tensor) -> None:
        """Writes `value` (`width` cells) into this step's slot of `rings[key]`."""
        ring = rings.get(key)
        if ring is None:
            shape = (self.capacity,) if width == 1 else (self.capacity, width)
            with tf.init_scope():  # An eager variable even when created while tracing.
                ring = tf.Variable(_unwritten(shape), trainable=False, name="tb_lr_ring")
            rings[key] = ring
        ring.scatter_update(tf.IndexedSlices(value, self._slot()))

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

    def _warn_never_written(self) -> None:
        """Warns of `record`s traced where no update of this optimizer took them."""
        written = {index for indices in self._rings for index in indices} | set(self._direct)
        for index, column in enumerate(self.columns):
            if column.kind == RECORDED and index not in written | self._warned_unwritten:
                self._warned_unwritten.add(index)
                warnings.warn(
                    f"tb_lr_plugin: record({column.name.rsplit('/', 1)[-1]!r}) for series "
                    f"'layers/{column.name}' was traced where optimizer {self.optimizer.name!r} "
                    "applies no update (in a tf.function called from Layer.call, or in a "
                    "forward pass traced apart from apply_gradients), so it is not recorded: "
                    "call record() in Layer.call, traced in the same function as the update"
                )

    def capture(self, learning_rate: tf.Tensor | None = None) -> None:
        """Writes this update's row: `learning_rate` (or the rate read now) and the rest.

        Called by the optimizer's hook as each update starts, in the function
        that applies it. Never raises: logging must not stop an update.
        """
        try:
            if self._captured is None:
                self._captured = self._choose_captured(rate_given=learning_rate is not None)
            row = {}
            for column, variable in self._captured:
                value = variable
                if variable is None:  # The rate.
                    value = self.optimizer.learning_rate if learning_rate is None else learning_rate
                row[column] = tf.cast(value, tf.float32)
            # What layers recorded in this step.
            if tf.executing_eagerly():
                row.update(self._eager_records.pop(_replica(), {}))
            else:
                row.update(self._step_tensor("records") or {})
            if row:
                values = list(row.values())
                stacked = values[0] if len(values) == 1 else tf.stack(values)
                self._scatter(self._rings, tuple(row), len(row), stacked)
        except Exception as error:  # Logging must never stop an update.
            warnings.warn(f"tb_lr_plugin: cannot capture the values of this step: {error!r}")
            return
        finally:
            self._forget_step()  # A next update traced into this graph is another step.
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


def _step_graphs() -> list:
    """The graph being traced, then those it is a `cond` branch of.

    A branch (gradient accumulation runs the update in one) runs at most once
    per execution of its outer graph, so the step's tensors there are its
    own; a loop body is not looked through: it runs many steps.
    """
    graph = tf.compat.v1.get_default_graph()
    graphs = [graph]
    while keras_internals.is_cond_branch(graph):
        graph = keras_internals.outer_graph(graph)
        graphs.append(graph)
    return graphs


def _replica() -> tuple[str, int]:
    """Who is tracing: the replica under a strategy with several, else the thread.

    A replica's forward pass and its update may be traced in different
    threads (`LossScaleOptimizer` under `MirroredStrategy` runs the update in
    new replica threads), so replicas are told apart by their id.
    """
    context = tf.distribute.get_replica_context()
    if context is not None and context.num_replicas_in_sync > 1:
        replica = tf.get_static_value(context.replica_id_in_sync_group)
        if replica is not None:
            return "replica", int(replica)
    return "thread", threading.get_ident()


def _step_state(graph) -> dict:
    """The per-step tensors of every tap, kept on the graph they belong to."""
    state = keras_internals.attached(graph, "step")
    if state is None:
        state = {}
        keras_internals.attach(graph, "step", state)
    return state


def _as_int64(counter) -> tf.Tensor:
    return tf.cast(tf.convert_to_tensor(counter), tf.int64)


def _unwritten(shape: tuple[int, ...]) -> np.ndarray:
    return np.full(shape, _UNWRITTEN_BITS, np.uint32).view(np.float32)


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
