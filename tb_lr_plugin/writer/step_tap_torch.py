"""The PyTorch step tap: an in-place write into a ring tensor on the optimizer's device.

Keras runs PyTorch's updates eagerly (or through `torch.compile`), so the tap
writes each update's row with one `index_copy_` at slot `iterations %
capacity`, computed on the device: no value comes back to the host per step.
The ring is a plain tensor, not a Keras variable: nothing of it is saved.

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

from tb_lr_plugin.writer import step_tap
from tb_lr_plugin.writer.step_tap import RECORDED, Column
from tb_lr_plugin.writer.tapped_optimizers import TappedOptimizer


def create(tapped: TappedOptimizer, capacity: int) -> step_tap.StepTap:
    """A PyTorch tap for one optimizer (see `step_tap.create`)."""
    return TorchStepTap(tapped, capacity)


class TorchStepTap(step_tap.StepTap):
    """One `(capacity, MAX_COLUMNS)` float32 ring tensor, written in place."""

    def __init__(self, tapped: TappedOptimizer, capacity: int = step_tap.DEFAULT_CAPACITY):
        device = keras.ops.convert_to_tensor(tapped.optimizer.iterations).device
        blank = step_tap.unwritten((capacity, step_tap.MAX_COLUMNS))
        self._ring = torch.from_numpy(blank).to(device)
        self._blank_row = torch.from_numpy(blank[0]).to(device)
        self.epoch = keras.Variable(0, dtype="int64", trainable=False, name="tb_lr_epoch")
        self._written: set[int] = set()
        super().__init__(tapped, capacity)

    def _take_rings(self, steps: np.ndarray) -> Iterator[tuple[tuple[int, ...], np.ndarray]]:
        cells = self._ring.cpu().numpy().copy()
        self._ring.copy_(torch.from_numpy(step_tap.unwritten(cells.shape)))
        indices = tuple(sorted(self._written))
        yield indices, cells[:, indices]

    @torch.compiler.disable
    def record(self, name: str, value: Any) -> None:
        column = self._column(Column(RECORDED, name))
        if column is not None:
            tensor = keras.ops.convert_to_tensor(value, "float32").detach()
            self._eager_records.setdefault(threading.get_ident(), {})[column] = tensor

    def learning_rate(self) -> Any:
        return self.optimizer.learning_rate

    def step(self) -> Any:
        return keras.ops.convert_to_tensor(self.optimizer.iterations)

    @torch.compiler.disable
    def capture(self, learning_rate: Any = None) -> None:
        try:
            columns, values = [], []
            for column, variable in self._captured_columns(learning_rate is not None):
                value = variable
                if variable is None:  # The rate.
                    value = self.optimizer.learning_rate if learning_rate is None else learning_rate
                columns.append(column)
                values.append(keras.ops.convert_to_tensor(value, "float32").detach())
            records = self._eager_records.pop(threading.get_ident(), {})
            columns.extend(records)
            values.extend(records.values())
            if not columns:
                return
            self._written.update(columns)
            row = self._blank_row.clone()
            row[columns] = torch.stack([v.to(row.device).reshape(()) for v in values])
            iterations = keras.ops.convert_to_tensor(self.optimizer.iterations)
            slot = torch.remainder(iterations, self.capacity).reshape(1).long()
            self._ring.index_copy_(0, slot, row[None, :])
        except Exception as error:  # Logging must never stop an update.
            warnings.warn(f"tb_lr_plugin: cannot capture the values of this step: {error!r}")
            return
        # Run eagerly even under `torch.compile`: nothing needs retracing for the tap.
        self.traced = True
