"""Capturing, inside the train step, the values each optimizer update applied.

Reading `optimizer.learning_rate` on the host after a step costs a device
sync per step and gives the *next* step's rate. Instead a tap hooks the
optimizer (`optimizer_hooks`) so that, as update `s` runs and inside the same
compiled function, it writes the rate that update applies, the optimizer's
scalar variables and the values layers `record`ed earlier in the step, as one
row, into slot `s % capacity` of a ring buffer on the device. The host reads
the ring every few thousand steps: one copy for all of them.

This module holds what every backend shares (the columns, and turning rings
into rows); the ring's write differs per backend, in `step_tap_tensorflow`
(an in-place scatter, under `tf.function` and XLA), `step_tap_jax` (an
optimizer variable the stateless train step carries) and `step_tap_torch`
(an in-place write into a tensor). `create` picks the one of the backend
Keras runs on, importing no other backend.
"""

from __future__ import annotations

import abc
import contextlib
import dataclasses
import importlib
import warnings
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from tb_lr_plugin.writer import hyperparameters, step_convention
from tb_lr_plugin.writer.tapped_optimizers import TappedOptimizer

BACKENDS = ("tensorflow", "jax", "torch")
DEFAULT_CAPACITY = 8192
# Columns of a ring: the rate, the optimizer's scalar variables, recorded values
# (an update's measures, one per layer, come on top: every layer is measured).
MAX_COLUMNS = 64
# A NaN with a payload no arithmetic produces marks a cell nothing wrote since
# the last drain, so a recorded NaN stays distinguishable from "not recorded".
UNWRITTEN_BITS = 0x7FC0DEAD
UNWRITTEN = np.uint32(UNWRITTEN_BITS).view(np.float32)  # One such cell.

LEARNING_RATE = "learning_rate"
HYPERPARAMETER = "hyperparameter"
RECORDED = "recorded"
UPDATE_RATIO = "update_ratio"  # Named by the layer's path.
GRADIENT_NORM = "gradient_norm"
LOSS = "loss"  # The batch's loss, as the train step hands it to the optimizer (a range test).


class NoStepValues(Exception):
    """Raised by an accessor of a tap where the step's values cannot be known.

    The accessors of `in_layer` then return their `default`.
    """


@dataclasses.dataclass(frozen=True)
class Column:
    """What one column of the ring holds: its kind and series-relative name."""

    kind: str  # LEARNING_RATE, HYPERPARAMETER, RECORDED, UPDATE_RATIO or GRADIENT_NORM
    name: str


class StepTap(abc.ABC):
    """Rings of per-step values filled inside one optimizer's updates.

    Attributes:
        columns: What each ring column holds, in column order.
        capacity: Steps a ring holds between two drains.
        traced: Whether a train function traced now keeps writing through this
            tap (on PyTorch, whose capture runs eagerly, after any capture).
        epoch: A variable holding the current epoch, for `current_epoch()`,
            set by `set_epoch` (TensorFlow and PyTorch; JAX keeps it in its ring).
        measures_in_branches: Whether, with a stride, the two halves of the
            measure run in `keras.ops.cond` branches, so that a step not due
            copies nothing (JAX's tap computes every step's measures and
            writes the due ones; its branches are left for later).
        measure_updates: Whether updates traced from now on write their
            measures (`update_measures`), at every `measure_every`th step;
            `measures_traced` says what the last traced update did (`None`:
            none traced), so that a logger that wants otherwise has the train
            function traced again.
    """

    epoch: Any
    measures_in_branches = True

    def __init__(self, tapped: TappedOptimizer, capacity: int = DEFAULT_CAPACITY):
        self.capacity = capacity
        self.traced = False
        self.columns: list[Column] = []  # The rate first, then in order of first use.
        self._column_indices: dict[Column, int] = {}  # Looked up per eager `record`.
        self.optimizer = tapped.optimizer
        self._tapped = tapped
        self._captured: list[tuple[int, Any]] | None = None
        self._warned_unwritten: set[int] = set()
        # Values recorded eagerly, per thread (per replica on TensorFlow), until
        # the eager update takes them.
        self._eager_records: dict[Any, dict[int, Any]] = {}
        self._drained_until = step_convention.next_step(tapped.optimizer)
        self.rate_given = False  # Whether the update hands its rate to `capture`.
        self.measure_updates = False
        self.measure_every = 1
        self.measures_traced: tuple[bool, int] | None = None
        self._warned_measures = False
        self._column(Column(LEARNING_RATE, LEARNING_RATE))

    # --- What each backend provides -------------------------------------------

    @abc.abstractmethod
    def capture(self, learning_rate: Any = None) -> None:
        """Writes this update's row: `learning_rate` (or the rate read now) and the rest.

        Called by the optimizer's hook as each update starts, in the function
        that applies it. Never raises: logging must not stop an update.
        """

    @abc.abstractmethod
    def record(self, name: str, value: Any, kind: str = RECORDED) -> None:
        """Adds float32 scalar `value` to this step's row as column `(kind, name)`."""

    def recordable(self, name: str, value: Any) -> Any:
        """`value` as `record` stores it: a float32 scalar (a tensor: its mean, and a warning)."""
        value = keras.ops.cast(value, "float32")
        shape = tuple(keras.ops.shape(value))
        if shape:
            warn_recording_mean(name, shape)
            value = keras.ops.mean(value)
        return value

    @abc.abstractmethod
    def learning_rate(self) -> Any:
        """The rate the update being computed will apply, as a float32 tensor.

        For `current_learning_rate`.
        """

    def shared_learning_rate(self) -> Any:
        """The rate `learning_rate()` computed earlier in the step, if any."""
        return None

    @abc.abstractmethod
    def step(self) -> Any:
        """The index of the update being computed (for `current_step`)."""

    def current_epoch(self) -> Any:
        """The epoch of the step being computed (for `current_epoch`)."""
        return keras.ops.convert_to_tensor(self.epoch)

    def set_epoch(self, epoch: int) -> None:
        """Sets the epoch the next steps read (called at each epoch's start)."""
        self.epoch.assign(epoch)

    def micro_batch_count(self) -> Any:
        """The count Keras calls a schedule on, read once per step (`None` if not shared)."""
        return None

    @abc.abstractmethod
    def _take_rings(self, steps: np.ndarray) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
        """Each ring's column indices and `(capacity, len(indices))` cells, emptied.

        `steps` are the steps being drained (at most `capacity`, one per slot).

        A ring's indices are the columns some update or `record` has written
        into it; rings recorded outside the update come first, so that the
        update's rows win.
        """

    @abc.abstractmethod
    def update_slot(self) -> Any:
        """The ring slot of the update about to run, read before it runs."""

    @abc.abstractmethod
    def write_measures(self, slot: Any, columns: list[int], measures: Any) -> None:
        """Writes an update's measures into `columns` of row `slot`.

        `measures` is a float32 vector: each layer's ratio, then the gradient norm.
        """

    def prepare(self, recorded: list[Column] | tuple[Column, ...] = ()) -> None:  # noqa: B027
        """Creates, before a train function is traced, the storage of the rows it will write.

        `recorded`: the columns recorded in each step besides the update's
        own. Only TensorFlow's tap has something to do: a `tf.function`
        whose first trace creates variables is traced a second time.
        """

    def measuring(self) -> contextlib.AbstractContextManager:
        """Where the measures are computed (PyTorch: out of autograd's sight)."""
        return contextlib.nullcontext()

    def attach_to_model(self, model: keras.Model, *, serve_layers: bool) -> bool:
        """Follows `model`'s `fit`, where the backend keeps the step's state apart (JAX).

        With `serve_layers`, this tap is the one the layers' accessors and
        `record` read and write. Returns whether the model's train function
        must be traced again.
        """
        return False

    def discard_pending_records(self) -> None:
        """Forgets values recorded eagerly that no update took (a step skipped, a callback's call).

        Called between steps, so they never land on the next step's row.
        """
        self._eager_records.clear()

    def take_loop_state(self, values: dict[int, Any]) -> None:  # noqa: B027 (JAX's only)
        """Takes the optimizer variables' values (by id) a stateless loop carries (JAX)."""

    def next_step(self) -> int:
        """The step the optimizer's next update will have (its `iterations`, on the host)."""
        return step_convention.next_step(self.optimizer)

    def sync(self) -> None:  # noqa: B027 (most backends have nothing to do)
        """Makes the optimizer's variables current on the host, where JAX keeps them apart.

        Called before anything reads them between steps: `drain`, and the
        recorder's own reads of the step count.
        """

    # --- Shared ---------------------------------------------------------------

    def measure_columns(self, layers: list[str]) -> list[int]:
        """The columns of an update's measures: each layer's ratio, then the gradient norm.

        Not limited to `MAX_COLUMNS`: every layer is measured.
        """
        columns = [self._column(Column(UPDATE_RATIO, layer), limited=False) for layer in layers]
        return [*columns, self._column(Column(GRADIENT_NORM, GRADIENT_NORM), limited=False)]

    def warn_measures(self, error: Exception) -> None:
        """Says, once, that this optimizer's updates are not measured, and why."""
        if not self._warned_measures:
            self._warned_measures = True
            warnings.warn(f"tb_lr_plugin: update ratios are not recorded: {error}")

    def drain(self) -> tuple[np.ndarray, np.ndarray, np.ndarray, int]:
        """Returns `(steps, rows, written, lost)` since the last drain, and empties the rings.

        The steps are those `optimizer.iterations` went through since the
        last drain; rows hold one column per entry of `columns`, and `written`
        says which cells an update (or `record`) wrote. `lost` counts the
        oldest steps overwritten because more than `capacity` ran between two
        drains. Called between executions of the train function, on the
        thread that runs it, so nothing writes while it reads.
        """
        self.sync()
        stop = self.next_step()
        start = self._drained_until
        if stop < start:  # Iterations were reset (a checkpoint restored mid-run).
            start = max(0, stop - self.capacity)
        lost = max(0, stop - start - self.capacity)
        steps = np.arange(start + lost, stop, dtype=np.int64)
        columns = unwritten((self.capacity, len(self.columns)))
        written_columns = set()
        for indices, cells in self._take_rings(steps):
            filled = cells.view(np.uint32) != UNWRITTEN_BITS
            columns[:, indices] = np.where(filled, cells, columns[:, indices])
            written_columns.update(indices)
        self.discard_pending_records()  # Recorded by no update (an eager call in a callback).
        self._warn_never_written(written_columns)
        self._drained_until = stop
        rows = columns[steps % self.capacity]
        written = rows.view(np.uint32) != UNWRITTEN_BITS
        updated = np.any(written, axis=1)  # Steps with no update (no gradients) have no row.
        return steps[updated], rows[updated], written[updated], lost

    def _hyperparameter_variables(self) -> dict[str, Any]:
        """The scalar variables each update writes into its row, by name."""
        return hyperparameters.scalar_variables(self._tapped)

    def index_of(self, column: Column) -> int | None:
        """The ring column holding `column`, or `None` when nothing has written it."""
        return self._column_indices.get(column)

    def _column(self, column: Column, *, limited: bool = True) -> int | None:
        index = self._column_indices.get(column)
        if index is not None:
            return index
        if limited and len(self.columns) - self._measures_counted() >= MAX_COLUMNS:
            warnings.warn(
                f"tb_lr_plugin: more than {MAX_COLUMNS} values per step; "
                f"{column.kind} {column.name!r} is not recorded"
            )
            return None
        self.columns.append(column)
        self._column_indices[column] = len(self.columns) - 1
        return len(self.columns) - 1

    def _measures_counted(self) -> int:
        return sum(column.kind in (UPDATE_RATIO, GRADIENT_NORM) for column in self.columns)

    def _warn_never_written(self, written: set[int]) -> None:
        """Warns, once per series, of `record`s no update took."""
        for index, column in enumerate(self.columns):
            if column.kind == RECORDED and index not in written | self._warned_unwritten:
                self._warned_unwritten.add(index)
                warnings.warn(
                    f"tb_lr_plugin: record({column.name.rsplit('/', 1)[-1]!r}) for series "
                    f"'layers/{column.name}' was called where optimizer "
                    f"{self.optimizer.name!r} applies no update (in a function of your own "
                    "called from Layer.call, or in a forward pass traced apart from the "
                    "update), so it is not recorded: call record() in Layer.call, in the "
                    "same train step as the update"
                )

    def _captured_columns(self, rate_given: bool) -> list[tuple[int, Any]]:
        """The columns an update fills: the rate (`None`, if readable), then scalar variables."""
        if self._captured is None:
            captured = []
            if rate_given or learning_rate_is_readable(self.optimizer):
                captured.append((self._column(Column(LEARNING_RATE, LEARNING_RATE)), None))
            for name, variable in self._hyperparameter_variables().items():
                index = self._column(Column(HYPERPARAMETER, name))
                if index is not None:
                    captured.append((index, variable))
            self._captured = captured
        return self._captured


def create(tapped: TappedOptimizer, capacity: int = DEFAULT_CAPACITY) -> StepTap:
    """The tap of the backend Keras runs on, for one optimizer.

    Example:
        >>> tap = create(TappedOptimizer(keras.optimizers.SGD()))
        >>> [column.name for column in tap.columns]
        ['learning_rate']
    """
    backend = keras.backend.backend()
    if backend not in BACKENDS:
        raise NotImplementedError(
            f"tb_lr_plugin logs on the {', '.join(BACKENDS)} backends of Keras, not on "
            f"{backend!r}: nothing is logged"
        )
    return importlib.import_module(f"tb_lr_plugin.writer.step_tap_{backend}").create(
        tapped, capacity
    )


def warn_recording_mean(name: str, shape: tuple[int, ...]) -> None:
    """Says that `record(name, ...)` got a tensor of `shape` and records its mean."""
    warnings.warn(f"tb_lr_plugin: record({name!r}) got shape {shape}; recording its mean")


def unwritten(shape: tuple[int, ...]) -> np.ndarray:
    """Float32 cells that say "nothing written here"."""
    return np.full(shape, UNWRITTEN_BITS, np.uint32).view(np.float32)


def learning_rate_is_readable(optimizer: keras.optimizers.Optimizer) -> bool:
    """Whether the optimizer's rate is a scalar number; warns where it is not."""
    try:
        rate = keras.ops.convert_to_tensor(optimizer.learning_rate)
    except Exception as error:
        warnings.warn(
            f"tb_lr_plugin: optimizer {optimizer.name!r} has no readable learning rate "
            f"({error!r}); its hyperparameters are still logged"
        )
        return False
    return len(keras.ops.shape(rate)) == 0
