"""Choosing which points of a long series to send: windows and shape-preserving downsamples.

A learning-rate curve is mostly smooth, and what matters in it is where it is
not: a one-step spike, the corner where warm-up ends, a warm restart, the drop
of `ReduceLROnPlateau`. Random or stride sampling (what TensorBoard does to
scalars) loses exactly those. Here the steps are cut into equal-width buckets
and each bucket keeps the points that fix its shape on screen (the idea of the
M4 aggregation used by time-series databases, plus the largest jump):

* its first and last point, so lines join buckets as in the full series;
* its minimum and maximum, so spikes and dips of any width survive;
* both sides of its largest jump between consecutive points, so a drop or a
  restart keeps its exact step and stays vertical;
* its first NaN, so a learning rate that is not a number is never hidden
  (infinities are extremes already).

That is at most `POINTS_PER_BUCKET` points per bucket, so a downsample never
holds more than the points asked for.

Example:
    >>> steps = np.arange(1000)
    >>> values = np.where(steps < 500, 0.1, 0.01)
    >>> values[123] = 5.0  # a one-step spike
    >>> kept = shape_preserving_indices(steps, values, max_points=70)
    >>> len(kept) <= 70, 123 in kept, {499, 500} <= set(kept.tolist())
    (True, True, True)
"""

from __future__ import annotations

import numpy as np

# first, last, min, max, jump before, jump after, first NaN.
POINTS_PER_BUCKET = 7


def window(steps: np.ndarray, start: int | None = None, end: int | None = None) -> slice:
    """The slice of `steps` (sorted) that lies in `[start, end]`, both inclusive.

    Args:
        steps: Sorted steps of a series.
        start: First step wanted; `None` for the beginning.
        end: Last step wanted; `None` for the end.

    Example:
        >>> window(np.array([0, 5, 10, 15]), start=5, end=12)
        slice(1, 3, None)
    """
    lo = 0 if start is None else int(np.searchsorted(steps, start, side="left"))
    hi = len(steps) if end is None else int(np.searchsorted(steps, end, side="right"))
    return slice(lo, max(lo, hi))


def bucket_width(steps: np.ndarray, max_points: int) -> int:
    """How many steps wide each bucket is, for `max_points` points.

    The step range `[steps[0], steps[-1]]` is cut into at most `max_points //
    POINTS_PER_BUCKET` buckets of the same whole number of steps (the last
    may be narrower): widths in steps, not in points, so that gaps in the
    steps stay gaps, as on a chart's x axis.

    Example:
        >>> bucket_width(np.arange(10), max_points=14)
        5
    """
    buckets = max(1, max_points // POINTS_PER_BUCKET)
    span = int(steps[-1]) - int(steps[0]) + 1
    return -(-span // buckets)


def bucket_starts(steps: np.ndarray, max_points: int) -> np.ndarray:
    """Index of the first point of every non-empty bucket, for `max_points` points.

    Args:
        steps: Sorted steps, at least one.
        max_points: The point budget, at least `POINTS_PER_BUCKET`.

    Example:
        >>> bucket_starts(np.array([0, 1, 2, 9, 10, 11, 12]), max_points=14).tolist()
        [0, 3]
    """
    width = bucket_width(steps, max_points)
    first, last = int(steps[0]), int(steps[-1])
    # A Python range: `last + 1` may not fit in int64, the edges always do.
    edges = np.fromiter(range(first, last + 1, width), dtype=np.int64)
    starts = np.unique(np.searchsorted(steps, edges, side="left"))
    return starts[starts < len(steps)]


def shape_preserving_indices(steps: np.ndarray, values: np.ndarray, max_points: int) -> np.ndarray:
    """Indices of the points to keep so that the series keeps its shape.

    Every point is kept when there are no more than `max_points`. Otherwise
    each bucket of `bucket_starts` keeps its first, last, minimum, maximum,
    both sides of its largest jump and its first NaN: never more
    than `max_points` in all, each an original point (exact step and value).

    Args:
        steps: Sorted steps of the series.
        values: One value per step; NaN and infinities allowed.
        max_points: The most points to keep; at least `POINTS_PER_BUCKET`.

    Returns:
        Sorted int64 indices into `steps` and `values`.

    Raises:
        ValueError: when `max_points` is smaller than `POINTS_PER_BUCKET`.

    Example:
        >>> shape_preserving_indices(np.arange(5), np.zeros(5), max_points=10).tolist()
        [0, 1, 2, 3, 4]
    """
    if max_points < POINTS_PER_BUCKET:
        raise ValueError(f"max_points must be at least {POINTS_PER_BUCKET}, got {max_points}")
    count = len(steps)
    if count <= max_points:
        return np.arange(count, dtype=np.int64)
    contiguous = int(steps[-1]) - int(steps[0]) == count - 1
    if contiguous and np.isfinite([values.min(), values.max()]).all():
        # What a logger writes: one point per step, all numbers.
        return _kept_in_rows(values, bucket_width(steps, max_points))
    return _kept_in_buckets(steps, values, max_points)


def _kept_in_rows(values: np.ndarray, width: int) -> np.ndarray:
    """`shape_preserving_indices` of finite values at consecutive steps.

    A bucket is then `width` consecutive points: the full buckets are rows of
    a reshaped view, and each rule is one reduction along the rows, with no
    temporary the size of the series but the jumps.
    """
    count = len(values)
    full = count // width
    blocks = [(0, values[: full * width].reshape(full, width))]
    if count > full * width:
        blocks.append((full * width, values[full * width :].reshape(1, -1)))
    kept = [
        np.arange(0, count, width),
        np.append(np.arange(width - 1, count - 1, width), count - 1),
    ]
    for offset, rows in blocks:
        first = offset + width * np.arange(len(rows))
        kept += [first + rows.argmin(axis=1), first + rows.argmax(axis=1)]
        if rows.shape[1] > 1:
            jumps = np.subtract(rows[:, 1:], rows[:, :-1], dtype=np.float64)
            np.abs(jumps, out=jumps)
            largest = jumps.argmax(axis=1)
            has_jump = jumps[np.arange(len(rows)), largest] > 0
            after_jump = (first + largest + 1)[has_jump]
            kept += [after_jump, after_jump - 1]
    return np.unique(np.concatenate(kept))


def _kept_in_buckets(steps: np.ndarray, values: np.ndarray, max_points: int) -> np.ndarray:
    """`shape_preserving_indices` of any series: buckets of any number of points."""
    count = len(steps)
    values = np.asarray(values, dtype=np.float64)
    starts = bucket_starts(steps, max_points)
    lengths = np.diff(np.append(starts, count))
    nan = np.isnan(values)
    any_nan = bool(nan.any())
    # fmin/fmax skip NaN (infinities count as extremes); a bucket of NaN only gives NaN.
    lowest = _first_index_per_bucket(
        values == np.repeat(np.fmin.reduceat(values, starts), lengths), starts
    )
    highest = _first_index_per_bucket(
        values == np.repeat(np.fmax.reduceat(values, starts), lengths), starts
    )
    # Jumps between consecutive finite points of one bucket. Those between
    # buckets are kept already (last and first points); a NaN by its own rule.
    jumps = np.empty(count)
    jumps[0] = 0.0
    with np.errstate(invalid="ignore"):
        np.abs(np.subtract(values[1:], values[:-1], out=jumps[1:]), out=jumps[1:])
    if any_nan or np.isinf(values).any():
        finite = np.isfinite(values)
        jumps[1:][~(finite[1:] & finite[:-1])] = 0.0
    jumps[starts] = 0.0
    largest = np.repeat(np.maximum.reduceat(jumps, starts), lengths)
    after_jump = _first_index_per_bucket((jumps == largest) & (largest > 0), starts)
    kept = [starts, starts + lengths - 1, lowest, highest, after_jump, after_jump - 1]
    if any_nan:
        kept.append(_first_index_per_bucket(nan, starts))
    kept = np.unique(np.concatenate(kept))
    return kept[kept >= 0]


def _first_index_per_bucket(mask: np.ndarray, starts: np.ndarray) -> np.ndarray:
    """The first index where `mask` holds in each bucket that has one."""
    hits = np.flatnonzero(mask)
    position = np.searchsorted(hits, starts)
    found = hits[np.minimum(position, len(hits) - 1)] if len(hits) else position
    ends = np.append(starts[1:], len(mask))
    return found[(position < len(hits)) & (found < ends)]


def select(
    steps: np.ndarray,
    values: np.ndarray,
    *,
    start: int | None = None,
    end: int | None = None,
    max_points: int | None = None,
    carry_in: bool = False,
) -> tuple[np.ndarray, int]:
    """The indices of the points to send for a window, and how many it holds.

    Args:
        steps: Sorted steps of a series.
        values: Its values.
        start: First step of the window (inclusive); `None` for the beginning.
        end: Last step of the window (inclusive); `None` for the end.
        max_points: Downsample (shape-preserving) when the window holds more;
            `None` sends every point.
        carry_in: For a series sampled on change: also send the last point
            before `start`, whose value is still in force at `start`.

    Returns:
        `(indices, total)`: sorted indices to send, and the number of points
        in the window before downsampling.

    Example:
        >>> select(np.array([0, 10, 20]), np.zeros(3), start=15, carry_in=True)[0].tolist()
        [1, 2]
    """
    part = window(steps, start, end)
    low, high = part.start, part.stop
    if carry_in and start is not None and low > 0 and (low == len(steps) or steps[low] > start):
        low -= 1
    total = high - low
    if max_points is None:
        return np.arange(low, high, dtype=np.int64), total
    return low + shape_preserving_indices(steps[low:high], values[low:high], max_points), total
