"""The update-ratio heat map: every layer's series binned into the same step columns.

A heat map has one row per layer and one column per bucket of steps, all
rows on the same buckets so that a column is one moment of training. A
bucket is a whole number of steps wide (as in `downsampling`), and each
cell keeps its bucket's extremes: the lowest and highest finite ratio, and
whether any was not finite. A one-step spike therefore colours its column
however wide the bucket is; averaging would dilute it.

Example:
    >>> grid = Columns.spanning(first=0, last=9, count=4)
    >>> grid.width, grid.first_steps().tolist()
    (3, [0, 3, 6, 9])
    >>> cells = grid.extremes(np.arange(10), np.float64([1, 2, 3, 4, 9, 6, 7, 8, np.nan, 5]))
    >>> cells.low.tolist(), cells.high.tolist(), cells.nonfinite.tolist()
    ([1.0, 4.0, 7.0, 5.0], [3.0, 9.0, 8.0, 5.0], [False, False, True, False])
"""

from __future__ import annotations

import dataclasses

import numpy as np


@dataclasses.dataclass(frozen=True)
class Cells:
    """One row of the heat map.

    Attributes:
        low: Per column, the lowest finite value (NaN where it has none).
        high: Per column, the highest finite value (NaN where it has none).
        nonfinite: Per column, whether any value was NaN or infinite.
    """

    low: np.ndarray
    high: np.ndarray
    nonfinite: np.ndarray


@dataclasses.dataclass(frozen=True)
class Columns:
    """Buckets of `width` whole steps covering `[first, last]`: column `k` holds
    steps `first + k * width` to `first + (k + 1) * width - 1` (the last
    column stops at `last`).

    Attributes:
        first: The first column's first step.
        last: The last column's last step; `first - 1` for no column.
        width: Steps per column.
    """

    first: int
    last: int
    width: int

    @classmethod
    def spanning(cls, first: int, last: int, count: int) -> Columns:
        """At most `count` columns of equal whole width covering `[first, last]`.

        Example:
            >>> Columns.spanning(first=100, last=104, count=1000)
            Columns(first=100, last=104, width=1)
        """
        span = max(0, last - first + 1)
        return cls(
            first=first, last=first + span - 1, width=-(-span // max(1, min(count, span))) or 1
        )

    @property
    def count(self) -> int:
        """How many columns."""
        return -(-(self.last - self.first + 1) // self.width)

    def first_steps(self) -> np.ndarray:
        """Each column's first step."""
        return self.first + self.width * np.arange(self.count, dtype=np.int64)

    def extremes(self, steps: np.ndarray, values: np.ndarray) -> Cells:
        """Bins one series (sorted `steps`, NaN and infinities allowed) into the columns.

        Steps outside the columns are left out.
        """
        inside = slice(
            int(np.searchsorted(steps, self.first, side="left")),
            int(np.searchsorted(steps, self.last, side="right")),
        )
        steps, values = steps[inside], np.asarray(values[inside], np.float64)
        low = np.full(self.count, np.nan)
        high = np.full(self.count, np.nan)
        nonfinite = np.zeros(self.count, bool)
        if len(steps):
            # Where each non-empty column's points begin: a `reduceat` segment each.
            column = (steps - self.first) // self.width
            starts = np.flatnonzero(np.r_[True, np.diff(column) != 0])
            occupied = column[starts]
            finite = np.isfinite(values)
            numbers = np.where(finite, values, np.nan)  # fmin/fmax skip NaN.
            low[occupied] = np.fmin.reduceat(numbers, starts)
            high[occupied] = np.fmax.reduceat(numbers, starts)
            nonfinite[occupied] = np.logical_or.reduceat(~finite, starts)
        return Cells(low=low, high=high, nonfinite=nonfinite)
