"""A downsample keeps the shape of the full series: each bucket's ends, extremes and jump."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from hypothesis.extra import numpy as hnp

from tb_lr_plugin.plugin import downsampling, http_queries


def check_shape_is_kept(steps, values, max_points):
    """The properties every downsample has, bucket by bucket, against the full series."""
    kept = downsampling.shape_preserving_indices(steps, values, max_points)
    assert len(kept) <= max_points
    assert np.all(np.diff(kept) > 0) and kept[0] == 0 and kept[-1] == len(steps) - 1
    if len(steps) <= max_points:
        assert kept.tolist() == list(range(len(steps)))
        return kept
    starts = downsampling.bucket_starts(steps, max_points)
    for first, stop in zip(starts, np.append(starts[1:], len(steps)), strict=True):
        full = values[first:stop]
        mine = kept[(kept >= first) & (kept < stop)]
        assert first in mine and stop - 1 in mine
        numbers = full[~np.isnan(full)]
        if len(numbers):
            assert np.nanmax(values[mine]) == numbers.max()
            assert np.nanmin(values[mine]) == numbers.min()
        if np.isnan(full).any():
            assert np.isnan(values[mine]).any()
        finite = np.isfinite(full)
        with np.errstate(invalid="ignore"):
            jumps = np.where(finite[1:] & finite[:-1], np.abs(np.diff(full)), 0)
        if len(jumps) and jumps.max() > 0:
            # Some largest jump of the bucket is kept with both of its sides.
            at = first + 1 + np.flatnonzero(jumps == jumps.max())
            assert any(i in mine and i - 1 in mine for i in at)
    return kept


_values = hnp.arrays(
    np.float64,
    st.integers(1, 400),
    elements=st.one_of(
        st.floats(-1, 1, width=32),
        st.sampled_from([0.0, 0.1, 0.1, 0.1, np.nan, np.inf, -np.inf]),
    ),
)


@settings(max_examples=300, deadline=None)
@given(values=_values, max_points=st.integers(10, 120), gaps=st.booleans())
def test_any_series_keeps_its_shape(values, max_points, gaps):
    rng = np.random.default_rng(len(values))
    step_sizes = rng.integers(1, 50, len(values)) if gaps else np.ones(len(values), np.int64)
    steps = np.cumsum(step_sizes) - step_sizes[0]
    check_shape_is_kept(steps, values, max_points)


@settings(max_examples=200, deadline=None)
@given(
    values=hnp.arrays(
        st.sampled_from([np.float32, np.float64]),
        st.integers(1, 3000),
        elements=st.one_of(st.floats(-1, 1, width=32), st.sampled_from([0.0, 0.1, 0.1])),
    ),
    max_points=st.integers(7, 300),
)
def test_consecutive_steps_are_downsampled_as_any_steps(values, max_points):
    """The fast path (one point per step, all finite) keeps what the general one keeps."""
    steps = np.arange(len(values)) + 1000
    width = downsampling.bucket_width(steps, max_points)
    fast = downsampling._kept_in_rows(values, width).tolist()
    assert fast == downsampling._kept_in_buckets(steps, values, max_points).tolist()
    if len(values) > max_points:
        kept = downsampling.shape_preserving_indices(steps, values, max_points)
        assert kept.tolist() == fast


@settings(max_examples=100, deadline=None)
@given(
    length=st.integers(100, 5000),
    spike_at=st.floats(0, 1),
    drop_at=st.floats(0, 1),
    max_points=st.integers(10, 200),
)
def test_a_one_step_spike_and_a_drop_survive(length, spike_at, drop_at, max_points):
    steps = np.arange(length)
    values = np.float32(0.1 * np.cos(np.linspace(0, np.pi / 2, length)))
    drop = 1 + int(drop_at * (length - 2))
    values[drop:] = values[drop:] / 10
    spike = int(spike_at * (length - 1))
    values[spike] = 5.0
    kept = check_shape_is_kept(steps, values.astype(np.float64), max_points)
    assert spike in kept
    starts = downsampling.bucket_starts(steps, max_points)
    bucket_of_spike, bucket_of_drop = np.searchsorted(starts, [spike, drop], side="right")
    if bucket_of_spike != bucket_of_drop:
        # The drop is its bucket's largest jump (a bucket keeps one jump whole).
        assert drop - 1 in kept and drop in kept


def test_the_smallest_max_points_a_query_may_ask_holds_a_whole_bucket():
    assert http_queries.MIN_MAX_POINTS >= downsampling.POINTS_PER_BUCKET


def test_warm_up_corner_is_kept():
    steps = np.arange(10_000)
    values = np.where(steps < 1234, steps / 1234 * 0.2, 0.2 - (steps - 1234) * 1e-6)
    kept = downsampling.shape_preserving_indices(steps, values, 100)
    # The peak is the maximum of its bucket: the corner is exact.
    assert np.argmax(values) in kept


def test_points_are_never_invented():
    steps = np.arange(0, 30_000, 3)
    values = np.sin(steps / 500.0)
    kept = downsampling.shape_preserving_indices(steps, values, 500)
    assert set(kept.tolist()) <= set(range(len(steps)))


@pytest.mark.parametrize("max_points", [0, 6])
def test_too_few_points_is_refused(max_points):
    with pytest.raises(ValueError, match="at least"):
        downsampling.shape_preserving_indices(np.arange(100), np.zeros(100), max_points)


def test_window_bounds_are_inclusive():
    steps = np.array([0, 2, 4, 6])
    assert downsampling.window(steps, 2, 4) == slice(1, 3)
    assert downsampling.window(steps, 3, 3) == slice(2, 2)
    assert downsampling.window(steps, None, None) == slice(0, 4)


@pytest.mark.slow
def test_downsample_of_the_long_run_keeps_its_shape(long_server):
    """The served downsample against the full served series, bucket by bucket."""
    full = long_server.json("series", run="long", name="learning_rate")
    body = long_server.json("series", run="long", name="learning_rate", max_points=2000)
    assert body["total"] == full["total"] == 100_000
    steps, values = np.array(full["steps"]), np.array(full["values"])
    kept = check_shape_is_kept(steps, values, 2000)
    assert body["steps"] == steps[kept].tolist()
    assert body["values"] == values[kept].tolist()
    # The warm-up corner (the curve's peak) is there at its exact step.
    assert int(np.argmax(values)) in body["steps"]
