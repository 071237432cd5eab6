"""The PyTorch step tap: an in-place write into a ring tensor on the optimizer's device.

Keras runs PyTorch's updates eagerly (or through `torch.compile`), so the tap
writes each update's row with one `index_put_` at slot `iterations %
capacity`, computed on the device: no value comes back to the host per step.
The ring is a plain tensor, not a Keras variable: nothing of it is saved.

Every eager op costs microseconds of Python dispatch here, per step, so the
tap uses torch tensors as they come (no `keras.ops` conversion of a float32
tensor) and a schedule's rate a layer asked for (`current_learning_rate()`)
is handed to the update instead of being computed twice.

Under `torch.compile` the tap's methods run eagerly between the compiled
graphs (`torch.compiler.disable`): TorchDynamo would otherwise guard on the
tap's Python bookkeeping. That costs a graph break per step, never a
recompilation.
"""

from __future__ import annotations

import threading
import warnings
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np
import torch

from tb_lr_plugin.writer import keras_internals, step_tap
from tb_lr_plugin.writer.step_tap import RECORDED, Column
from tb_lr_plugin.writer.tapped_optimizers import TappedOptimizer


def create(tapped: TappedOptimizer, capacity: int) -> step_tap.StepTap:
    """A PyTorch tap for one optimizer (see `step_tap.create`)."""
    return TorchStepTap(tapped, capacity)


def _tensor(value: Any) -> Any:
    """A variable's torch tensor (no copy), anything else as it is."""
    return value.value if isinstance(value, keras.Variable) else value


def _float32(value: Any) -> torch.Tensor:
    """`value` as a float32 tensor, detached, without `keras.ops` dispatch for a tensor."""
    value = _tensor(value)
    if not isinstance(value, torch.Tensor):
        value = keras.ops.convert_to_tensor(value, "float32")
    elif value.dtype != torch.float32:
        value = value.to(torch.float32)
    return value.detach()


class TorchStepTap(step_tap.StepTap):
    """One `(capacity, MAX_COLUMNS)` float32 ring tensor, written in place.

    Measures of many layers (`update_ratios`) widen it, once, eagerly.
    """

    def __init__(self, tapped: TappedOptimizer, capacity: int = step_tap.DEFAULT_CAPACITY):
        device = keras.ops.convert_to_tensor(tapped.optimizer.iterations).device
        self._ring = torch.from_numpy(step_tap.unwritten((capacity, step_tap.MAX_COLUMNS)))
        self._ring = self._ring.to(device)
        self.epoch = keras.Variable(0, dtype="int64", trainable=False, name="tb_lr_epoch")
        self._written: set[int] = set()
        self._column_tensors: dict[tuple[int, ...], torch.Tensor] = {}
        # A schedule's rate `learning_rate()` computed in this step, with the
        # version of the counter it was computed from: the update takes it.
        self._step_rate: tuple[int, Any] | None = None
        # Created with the optimizer: looked up once, read twice per step.
        self._counter = keras_internals.micro_batch_counter(tapped.optimizer)
        super().__init__(tapped, capacity)

    def _take_rings(self, steps: np.ndarray) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
        cells = self._ring.cpu().numpy().copy()
        self._ring.copy_(torch.from_numpy(step_tap.unwritten(cells.shape)))
        indices = tuple(sorted(self._written))
        yield indices, cells[:, indices]

    def update_slot(self) -> torch.Tensor:
        return torch.remainder(_tensor(self.optimizer.iterations), self.capacity)

    def write_measures(self, slot, columns: list[int], measures) -> None:
        self._write_row(slot, columns, measures)

    def measuring(self):
        return torch.no_grad()

    def _write_row(self, slot: torch.Tensor, columns: list[int], values: torch.Tensor) -> None:
        """Writes `values` into `columns` of row `slot`, with one `index_put_`."""
        key = tuple(columns)
        if key not in self._column_tensors:
            if max(columns) >= self._ring.shape[1]:
                # Measures of many layers: the ring grows (eagerly, between updates).
                wider = torch.from_numpy(step_tap.unwritten((self.capacity, max(columns) + 1)))
                wider = wider.to(self._ring.device)
                wider[:, : self._ring.shape[1]] = self._ring
                self._ring = wider
            self._written.update(columns)
            self._column_tensors[key] = torch.tensor(columns, device=self._ring.device)
        self._ring.index_put_(
            (slot.expand(len(columns)), self._column_tensors[key]), values.to(self._ring.device)
        )

    def discard_pending_records(self) -> None:
        super().discard_pending_records()
        self._step_rate = None

    def recordable(self, name: str, value: Any) -> Any:
        value = _float32(value)  # Called per step: no `keras.ops` dispatch for a tensor.
        if value.dim():
            step_tap.warn_recording_mean(name, tuple(value.shape))
            value = value.mean()
        return value

    @torch.compiler.disable
    def record(self, name: str, value: Any, kind: str = RECORDED) -> None:
        column = self._column(Column(kind, name))
        if column is not None:
            # Already detached float32 (`recordable`).
            self._eager_records.setdefault(threading.get_ident(), {})[column] = value

    def learning_rate(self) -> Any:
        rate = self.optimizer.learning_rate
        # Shared eagerly only: in a compiled graph the schedule's ops are fused
        # anyway, and the version check would break the graph inside them.
        if not torch.compiler.is_compiling() and isinstance(
            keras_internals.rate_setting(self.optimizer),
            keras.optimizers.schedules.LearningRateSchedule,
        ):
            self._step_rate = (self._counter_version(), rate)
        return _float32(rate)

    def shared_learning_rate(self) -> Any:
        # Compiled: never look at `_step_rate`, or TorchDynamo guards on it.
        if torch.compiler.is_compiling() or self._step_rate is None:
            return None
        version, rate = self._step_rate
        return rate if version is not None and version == self._counter_version() else None

    def step(self) -> Any:
        return _tensor(self.optimizer.iterations)

    def _counter_version(self) -> int | None:
        # Bumped by every in-place write of the counter: an update, a restore.
        if self._counter is None:
            return None
        return keras_internals.torch_write_count(self._counter)

    @torch.compiler.disable
    def capture(self, learning_rate: Any = None) -> None:
        try:
            columns, values = [], []
            for column, variable in self._captured_columns(learning_rate is not None):
                value = variable
                if variable is None:  # The rate.
                    value = self.optimizer.learning_rate if learning_rate is None else learning_rate
                columns.append(column)
                values.append(_float32(value).reshape(()))
            records = self._eager_records.pop(threading.get_ident(), {})
            columns.extend(records)
            values.extend(records.values())
            self._step_rate = None
            if not columns:
                return
            self._write_row(self.update_slot(), columns, torch.stack(values))
        except Exception as error:  # Logging must never stop an update.
            warnings.warn(f"tb_lr_plugin: cannot capture the values of this step: {error!r}")
            return
        # Run eagerly even under `torch.compile`: nothing needs retracing for the tap.
        self.traced = True
