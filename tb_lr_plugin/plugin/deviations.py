"""Where the applied learning rate departs from the configured curve, and why.

A step deviates when its applied rate (`learning_rate[/<optimizer>]`) and
the curve (`schedule[/<optimizer>]`) disagree beyond float32 rounding, as
`event_format.rates_agree` decides with the curve's peak as floor. Deviating
steps are grouped into events: a run of consecutive deviating steps is one
event, split where the rate was assigned (an `assignment` record) and where
the applied value jumps, so that two `ReduceLROnPlateau` drops are two
events even when the rate never returns to the curve between them.

Each event names its source: the assignment in force at its first step
(the latest one at or before it) when the rate applied there is the value
that assignment set, else `unknown` (a change made inside a compiled
function, or a curve that does not describe what the optimizer does).

Example:
    >>> steps = np.arange(6)
    >>> curve = np.full(6, 0.1)
    >>> applied = np.array([0.1, 0.1, 0.1, 0.05, 0.05, 0.05])
    >>> plateau = event_format.AssignmentSource.of_callback("ReduceLROnPlateau")
    >>> found = compare("learning_rate", steps, applied, steps, curve,
    ...                 [event_format.Assignment(3, 0.1, 0.05, plateau, 0.0)])
    >>> [(e.step, e.end_step, e.source.callback) for e in found.events]
    [(3, 5, 'ReduceLROnPlateau')]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Iterable
from typing import Any

import numpy as np

from tb_lr_plugin import event_format

# A change of the applied rate is a jump when it is at least this fraction of
# the rate, and this many times larger than the changes on either side of it
# (so a smooth curve that differs from the schedule is one event, however
# steep, while a drop or a restart starts a new one).
JUMP_RELATIVE_SIZE = 1e-3
JUMP_ISOLATION = 4.0


@dataclasses.dataclass(frozen=True)
class DeviationEvent:
    """Consecutive steps whose applied rate departs from the curve for one reason.

    Attributes:
        series: The applied-rate series, e.g. `learning_rate/adam`.
        step: The first deviating step.
        end_step: The last deviating step (inclusive).
        steps: How many steps the event holds.
        applied: The rate applied at `step`.
        expected: The curve's rate at `step`.
        source: What set the rate (see the module docstring).
        assignment_step: The step of the assignment named by `source`, if any.
        largest_step: The step of the event farthest from the curve.
        largest_applied: The applied rate there.
        largest_expected: The curve's rate there.

    Example:
        >>> DeviationEvent("learning_rate", 3, 5, 3, 0.05, 0.1, event_format.UNKNOWN, None,
        ...                3, 0.05, 0.1).steps
        3
    """

    series: str
    step: int
    end_step: int
    steps: int
    applied: float
    expected: float
    source: event_format.AssignmentSource
    assignment_step: int | None
    largest_step: int
    largest_applied: float
    largest_expected: float

    def to_json(self) -> dict[str, Any]:
        """The event as the `deviations` route sends it.

        Example:
            >>> event = DeviationEvent("learning_rate", 3, 5, 3, 0.05, 0.1, event_format.UNKNOWN,
            ...                        None, 3, 0.05, 0.1)
            >>> event.to_json()["source"]
            {'kind': 'unknown', 'callback': None}
        """
        return {
            "series": self.series,
            "step": self.step,
            "end_step": self.end_step,
            "steps": self.steps,
            "applied": self.applied,
            "expected": self.expected,
            "source": dataclasses.asdict(self.source),
            "assignment_step": self.assignment_step,
            "largest_deviation": {
                "step": self.largest_step,
                "applied": self.largest_applied,
                "expected": self.largest_expected,
            },
        }


@dataclasses.dataclass(frozen=True)
class Comparison:
    """The applied rate of one optimizer checked against its curve.

    Attributes:
        series: The applied-rate series.
        compared_steps: Steps with both an applied rate and a curve value.
        uncompared_steps: Applied steps outside the curve (nothing to check).
        deviating_steps: Compared steps that deviate.
        events: The first deviation events, in step order.
        total_events: How many events there are in all.

    Example:
        >>> Comparison("learning_rate", 10, 0, 0, [], 0).deviating_steps
        0
    """

    series: str
    compared_steps: int
    uncompared_steps: int
    deviating_steps: int
    events: list[DeviationEvent]
    total_events: int


def in_force(assignments: Iterable[event_format.Assignment]) -> list[event_format.Assignment]:
    """The assignment in force at each assigned step (the last written there), by step.

    Example:
        >>> first = event_format.Assignment(4, 0.1, 0.5, event_format.MANUAL, 0.0)
        >>> second = dataclasses.replace(first, value=0.25)
        >>> [a.value for a in in_force([second, dataclasses.replace(first, step=2), second])]
        [0.5, 0.25]
    """
    by_step = {assignment.step: assignment for assignment in assignments}
    return [by_step[step] for step in sorted(by_step)]


def value_jumps(values: np.ndarray) -> np.ndarray:
    """Whether each point's value jumped from the previous point's.

    A jump is a change of at least `JUMP_RELATIVE_SIZE` of the rate that is
    also `JUMP_ISOLATION` times the change into the previous point and out of
    the next one, or a change between a number and a non-finite value.

    Example:
        >>> value_jumps(np.array([1.0, 1.0, 0.5, 0.5])).tolist()
        [False, False, True, False]
        >>> value_jumps(np.linspace(1.0, 0.0, 4)).tolist()  # steep but smooth
        [False, False, False, False]
    """
    values = np.asarray(values, dtype=np.float64)
    jumps = np.zeros(len(values), dtype=bool)
    if len(values) < 2:
        return jumps
    finite = np.isfinite(values)
    both_finite = finite[1:] & finite[:-1]
    with np.errstate(invalid="ignore"):
        change = np.where(both_finite, np.abs(np.diff(values)), 0.0)
    size = np.where(both_finite, np.maximum(np.abs(values[1:]), np.abs(values[:-1])), 0.0)
    before = np.concatenate([[0.0], change[:-1]])
    after = np.concatenate([change[1:], [0.0]])
    isolated = change > JUMP_ISOLATION * np.maximum(before, after)
    jumps[1:] = ((change > JUMP_RELATIVE_SIZE * size) & isolated) | (finite[1:] != finite[:-1])
    return jumps


def compare(
    series: str,
    applied_steps: np.ndarray,
    applied_values: np.ndarray,
    curve_steps: np.ndarray,
    curve_values: np.ndarray,
    assignments: list[event_format.Assignment],
    max_events: int | None = None,
) -> Comparison:
    """Finds the deviation events of one optimizer's applied rate.

    Args:
        series: The applied-rate series name, copied into each event.
        applied_steps: Sorted steps of the applied rate.
        applied_values: The applied rate at each of them.
        curve_steps: Sorted steps of the configured curve.
        curve_values: The curve at each of them.
        assignments: From `in_force`: one per step, sorted by step.
        max_events: Keep only the first this many events (all when `None`).

    Returns:
        The comparison, with events in step order.

    Example:
        >>> s = np.arange(4)
        >>> compare("learning_rate", s, np.full(4, 0.1), s, np.full(4, 0.1), []).events
        []
    """
    applied_steps = np.asarray(applied_steps, dtype=np.int64)
    applied_values = np.asarray(applied_values, dtype=np.float64)
    curve_steps = np.asarray(curve_steps, dtype=np.int64)
    curve_values = np.asarray(curve_values, dtype=np.float64)
    if len(curve_steps):
        where = np.searchsorted(curve_steps, applied_steps)
        clipped = np.minimum(where, len(curve_steps) - 1)
        covered = (where < len(curve_steps)) & (curve_steps[clipped] == applied_steps)
    else:
        clipped = np.zeros(len(applied_steps), dtype=np.int64)
        covered = np.zeros(len(applied_steps), dtype=bool)
    steps = applied_steps[covered]
    applied = applied_values[covered]
    expected = curve_values[clipped[covered]]
    peak = _peak(curve_values)
    deviating = np.flatnonzero(~event_format.rates_agree(applied, expected, peak=peak))
    uncompared = int(len(applied_steps) - len(steps))
    if not len(deviating):
        return Comparison(series, len(steps), uncompared, 0, [], 0)

    assigned_steps = np.array([a.step for a in assignments], dtype=np.int64)
    starts_event = np.ones(len(deviating), dtype=bool)
    starts_event[1:] = (
        (np.diff(deviating) != 1)
        | (np.diff(steps[deviating]) != 1)
        | value_jumps(applied)[deviating[1:]]
        | np.isin(steps[deviating[1:]], assigned_steps)
    )
    firsts = np.flatnonzero(starts_event)
    lasts = np.append(firsts[1:], len(deviating)) - 1
    with np.errstate(invalid="ignore"):
        distance = np.abs(applied[deviating] - expected[deviating])
    largest = _first_argmax_per_group(np.where(np.isnan(distance), np.inf, distance), firsts)
    total_events = len(firsts)
    if max_events is not None:
        firsts, lasts, largest = firsts[:max_events], lasts[:max_events], largest[:max_events]

    events = []
    for first, last, far in zip(firsts.tolist(), lasts.tolist(), largest.tolist(), strict=True):
        at, far_at = deviating[first], deviating[far]
        step = int(steps[at])
        source, assignment_step = _source(step, float(applied[at]), assignments, peak)
        events.append(
            DeviationEvent(
                series=series,
                step=step,
                end_step=int(steps[deviating[last]]),
                steps=last - first + 1,
                applied=float(applied[at]),
                expected=float(expected[at]),
                source=source,
                assignment_step=assignment_step,
                largest_step=int(steps[far_at]),
                largest_applied=float(applied[far_at]),
                largest_expected=float(expected[far_at]),
            )
        )
    return Comparison(series, len(steps), uncompared, len(deviating), events, total_events)


def _peak(curve_values: np.ndarray) -> float:
    magnitudes = np.abs(curve_values[np.isfinite(curve_values)])
    return float(magnitudes.max()) if len(magnitudes) else 0.0


def _first_argmax_per_group(values: np.ndarray, starts: np.ndarray) -> np.ndarray:
    # Groups are contiguous and cover `values`; the first index of each maximum.
    lengths = np.diff(np.append(starts, len(values)))
    is_max = values == np.repeat(np.maximum.reduceat(values, starts), lengths)
    return np.minimum.reduceat(np.where(is_max, np.arange(len(values)), len(values)), starts)


def _source(
    step: int, applied: float, assignments: list[event_format.Assignment], peak: float
) -> tuple[event_format.AssignmentSource, int | None]:
    # The latest assignment at or before `step` explains it if it set this value.
    low, high = 0, len(assignments)
    while low < high:
        middle = (low + high) // 2
        if assignments[middle].step <= step:
            low = middle + 1
        else:
            high = middle
    if low == 0:
        return event_format.UNKNOWN, None
    assignment = assignments[low - 1]
    if event_format.rates_agree(np.array([applied]), np.array([assignment.value]), peak)[0]:
        return assignment.source, assignment.step
    return event_format.UNKNOWN, None
