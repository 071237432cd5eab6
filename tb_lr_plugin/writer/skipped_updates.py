"""Updates a `LossScaleOptimizer` skipped on overflow, read back from its loss scale.

A skipped update is no step (`iterations` does not advance), so nothing is
captured for it. Its trace is in the two variables the step tap already
records at every step: the wrapper halves `dynamic_scale` at each skip, and
doubles it (resetting `step_counter`) after `dynamic_growth_steps` applied
updates in a row. Between two steps the scale therefore changes by exactly
`2 ** (doubled - skipped)`, where `doubled` is whether the earlier step's
counter reached `dynamic_growth_steps - 1`: the count is exact, costs no
device work, and needs nothing of Keras' private code.

Example:
    >>> counter = SkipCounter(growth_steps=2, scale=4.0)  # a run's first step
    >>> # Skip, step 0, step 1 (then doubled), skip, skip, step 2.
    >>> counter.skipped_before(np.float64([2.0, 2.0, 1.0]), np.float64([0, 1, 0])).tolist()
    [1, 1, 3]
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np

# The wrapper's variables, as the step tap names their columns (`hyperparameters`).
SCALE = "dynamic_scale"
COUNTER = "step_counter"


@dataclasses.dataclass
class SkipCounter:
    """Counts the updates skipped before each step, across drains of the step tap.

    Attributes:
        growth_steps: The wrapper's `dynamic_growth_steps`.
        scale: The scale in force at the last step seen (the initial scale
            before a run's first step); `None` when unknown, as before a
            resumed run's first step: skips before it are not counted.
        doubled: Whether the last step seen doubled the scale after it.
        total: Updates skipped so far.
    """

    growth_steps: int
    scale: float | None
    doubled: bool = False
    total: int = 0

    @classmethod
    def of(cls, wrapper: keras.optimizers.Optimizer | None, first_step: int) -> SkipCounter | None:
        """A counter for `wrapper` (a dynamic `LossScaleOptimizer`), else `None`.

        Example:
            >>> SkipCounter.of(None, 0) is None
            True
        """
        if not isinstance(wrapper, keras.optimizers.LossScaleOptimizer):
            return None
        initial = float(wrapper.initial_scale) if first_step == 0 else None
        return cls(growth_steps=int(wrapper.dynamic_growth_steps), scale=initial)

    def skipped_before(self, scales: np.ndarray, counters: np.ndarray) -> np.ndarray:
        """The updates skipped since the run began, before each of these steps.

        Args:
            scales: `dynamic_scale` at each step, in step order, contiguous
                with the steps seen before.
            counters: `step_counter` at each step.

        Returns:
            int64, one count per step.
        """
        scales = np.asarray(scales, np.float64)
        counters = np.asarray(counters, np.float64)
        previous = np.r_[np.nan if self.scale is None else self.scale, scales[:-1]]
        doubled = np.r_[self.doubled, counters[:-1] == self.growth_steps - 1]
        with np.errstate(divide="ignore", invalid="ignore", over="ignore"):
            halvings = np.log2(previous * np.where(doubled, 2.0, 1.0) / scales)
        # A scale that overflowed or underflowed says nothing: no skip counted.
        skips = np.where(np.isfinite(halvings), np.maximum(np.rint(halvings), 0), 0).astype(
            np.int64
        )
        counts = self.total + np.cumsum(skips)
        if len(scales):
            self.scale = float(scales[-1])
            self.doubled = bool(counters[-1] == self.growth_steps - 1)
            self.total = int(counts[-1])
        return counts
