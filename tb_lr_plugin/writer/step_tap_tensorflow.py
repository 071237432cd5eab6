"""The TensorFlow step tap: an in-place scatter into `tf.Variable` rings.

Under `tf.function` (and XLA, where summary ops do not compile) each update
writes its row with one stack and one scatter, however many values: every
value a compiled function writes costs an op, and every variable it writes an
input, per step. With `steps_per_execution > 1` every step runs `apply`.

The tap also keeps what a step computes once (its counter, ring slot and
rate) for everything traced in that step: the layers' accessors, the schedule
and the update. It is kept on the graph being traced, keyed by replica.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator

import keras
import numpy as np
import tensorflow as tf

from tb_lr_plugin.writer import keras_internals, step_convention, step_tap
from tb_lr_plugin.writer.step_tap import RECORDED, Column
from tb_lr_plugin.writer.tapped_optimizers import TappedOptimizer


def create(tapped: TappedOptimizer, capacity: int) -> step_tap.StepTap:
    """A TensorFlow tap for one optimizer (see `step_tap.create`)."""
    return TensorFlowStepTap(tapped, capacity)


class TensorFlowStepTap(step_tap.StepTap):
    """Rings of `tf.Variable`s, one per set of columns an update writes."""

    def __init__(self, tapped: TappedOptimizer, capacity: int = step_tap.DEFAULT_CAPACITY):
        # The rows updates write, one ring per set of columns, keyed by their
        # indices: `capacity` rows of one cell per column (a vector for one).
        self._rings: dict[tuple[int, ...], tf.Variable] = {}
        # Columns recorded where no update can take them (a `cond` branch, a
        # loop body) are written there, into a ring of their own.
        self._direct: dict[int, tf.Variable] = {}
        with tf.init_scope():
            self.epoch = tf.Variable(tf.constant(0, tf.int64), trainable=False, name="tb_lr_epoch")
        super().__init__(tapped, capacity)

    def _take_rings(self, steps: np.ndarray) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
        # Rows last: a value recorded in a branch or loop body earlier in the
        # step than one the update wrote is superseded by it.
        rings = [((index,), ring) for index, ring in self._direct.items()]
        for indices, ring in rings + list(self._rings.items()):
            cells = ring.numpy().reshape(self.capacity, len(indices))
            ring.assign(step_tap.unwritten(tuple(ring.shape)))
            yield indices, cells

    def record(self, name: str, value, kind: str = RECORDED) -> None:
        """Adds `value` to this step's row as column `name`, written with the update.

        Eagerly, the next eager update takes it; in a `cond` branch or a loop
        body, whose tensors no update outside can take, it is written at once.
        """
        column = self._column(Column(kind, name))
        if column is None:
            return
        value = tf.cast(value, tf.float32)
        replicas = tf.distribute.get_replica_context()
        if replicas is not None and replicas.num_replicas_in_sync > 1:
            # One value per step: the mean over replicas, not whichever wrote last.
            value = replicas.all_reduce(tf.distribute.ReduceOp.MEAN, value)
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
        """The rate the update being traced will apply, float32 (for `current_learning_rate`).

        With a schedule, computed once per step and handed to the update
        too (see `optimizer_hooks`): the layer sees the very tensor the update
        applies, and the schedule's ops run once per step, not twice.
        """
        if not isinstance(
            keras_internals.rate_setting(self.optimizer),
            keras.optimizers.schedules.LearningRateSchedule,
        ):
            rate = self.optimizer.learning_rate  # A variable: reading it is one op.
        else:
            rate = self._per_step("learning_rate", lambda: self.optimizer.learning_rate)
        return keras.ops.cast(rate, "float32")

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

    def update_slot(self) -> tf.Tensor:
        """The ring slot of the update about to run (shared with its `capture`)."""
        return self._slot()

    def write_measures(self, slot, columns: list[int], measures) -> None:
        """Writes an update's measures into row `slot`: one more scatter per step."""
        self._scatter(self._rings, tuple(columns), len(columns), measures, slot)

    def prepare(self, recorded=()) -> None:
        """Creates the ring of an update's row with `recorded` columns, before any trace.

        Rings are otherwise created in the first trace that writes them, and
        `tf.function` traces again a function whose first trace created
        variables: a second trace of the whole train step.
        """
        columns = [index for index, _ in self._captured_columns(self.rate_given)]
        columns += [self._column(column) for column in recorded]
        if columns and None not in columns:
            self._ring(self._rings, tuple(columns), len(columns))

    def _ring(self, rings: dict, key, width: int) -> tf.Variable:
        """`rings[key]`, created (`capacity` rows of `width` cells) if missing."""
        ring = rings.get(key)
        if ring is None:
            shape = (self.capacity,) if width == 1 else (self.capacity, width)
            with tf.init_scope():  # An eager variable even when created while tracing.
                ring = tf.Variable(step_tap.unwritten(shape), trainable=False, name="tb_lr_ring")
            rings[key] = ring
        return ring

    def _scatter(self, rings: dict, key, width: int, value: tf.Tensor, slot=None) -> None:
        """Writes `value` (`width` cells) into row `slot` (this step's) of `rings[key]`."""
        ring = self._ring(rings, key, width)
        ring.scatter_update(tf.IndexedSlices(value, self._slot() if slot is None else slot))

    def capture(self, learning_rate: tf.Tensor | None = None) -> None:
        """Writes this update's row: `learning_rate` (or the rate read now) and the rest.

        Called by the optimizer's hook as each update starts, in the function
        that applies it. Never raises: logging must not stop an update.
        """
        try:
            row = {}
            for column, variable in self._captured_columns(learning_rate is not None):
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
