"""The engine behind `LearningRateLogger` and `LearningRateWriter`.

A `Recorder` owns one run's event file. It is told, cheaply, where the step
count is (`mark`) and when epochs begin (`mark_epoch`); every few thousand
steps or `flush_secs` seconds it drains the optimizers' step taps and writes:

* `learning_rate[/<optimizer>]`: the applied rate at every step;
* `optimizer[/<optimizer>]/<name>`: hyperparameters, at the steps they change;
* `epoch`: the epoch index, at the steps it changes;
* `schedule[/<optimizer>]` and `schedule_config[/<optimizer>]`: the configured
  curve over the planned steps (extended as training outgrows it);
* `assignment[/<optimizer>]`: each eager assignment of the rate and its source.

Wall times are those of the host when the step's execution finished,
interpolated within an execution of several steps.
"""

from __future__ import annotations

import dataclasses
import os
import time
import warnings
from typing import Protocol

import keras
import numpy as np

from tb_lr_plugin import event_format
from tb_lr_plugin.writer import (
    assignment_tracking,
    configured_curves,
    event_sink,
    hyperparameters,
    in_layer,
    keras_internals,
    optimizer_hooks,
    schedule_sampling,
    skipped_updates,
    step_convention,
    step_tap,
)
from tb_lr_plugin.writer.tapped_optimizers import TappedOptimizer, tapped_optimizers

DEFAULT_FLUSH_SECS = 10.0
# Curve points per event, and how far ahead of training an open-ended curve runs.
_CURVE_CHUNK = 65536
_OPEN_ENDED_HORIZON = 4096


class StepRecorder(Protocol):
    """What the callback and the custom-loop writer drive: a `Recorder`, or its
    stand-in on a worker that writes nothing (`distribution.NonChiefRecorder`)."""

    @property
    def step(self) -> int:
        """The step the next update will have."""

    def plan(
        self,
        total_steps: int | None,
        *,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
    ) -> None:
        """Notes the planned length of training, for the configured curves."""

    def mark(self, step: int) -> None:
        """Notes that every update before `step` has run. Cheap: called per batch."""

    def take_loop_state(self, optimizer_values: list) -> None:
        """Takes the values of `optimizer.variables` a stateless loop carries (JAX)."""

    def mark_epoch(self, epoch: int, step: int | None = None) -> None:
        """Notes that epoch `epoch` begins at `step` (default: the next step)."""

    def drain(self) -> None:
        """Writes what was captured so far."""

    def close(self) -> None:
        """Writes what is left and releases the run."""


@dataclasses.dataclass(frozen=True)
class PendingScheduler:
    """A `LearningRateScheduler` seen assigning the rate, whose curve the plan will chain.

    Attributes:
        track: The optimizer whose rate it assigned.
        callback: The scheduler (its `schedule(epoch, lr)` is chained).
        previous_rate: The rate before its first assignment.
        step: The step that assignment applies from.
    """

    track: _Track
    callback: keras.callbacks.LearningRateScheduler
    previous_rate: float
    step: int


@dataclasses.dataclass
class _Track:
    """The state kept for one tapped optimizer."""

    tapped: TappedOptimizer
    tap: step_tap.StepTap
    curve: configured_curves.ConfiguredCurve | None
    curve_end: int = 0
    last_values: dict[str, float] = dataclasses.field(default_factory=dict)
    last_config: dict[str, float] = dataclasses.field(default_factory=dict)
    warned_non_finite: bool = False
    skips: skipped_updates.SkipCounter | None = None

    def name(self, base: str, leaf: str = "") -> str:
        """The name of `base` (`learning_rate`, ...) for this optimizer."""
        return event_format.name_for(base, self.tapped.name, leaf)


class Recorder:
    """Records one optimizer's learning rate and hyperparameters into a run.

    Args:
        log_dir: The directory TensorBoard is pointed at.
        run_name: The run; its directory is created if missing. Where it
            holds another training's steps, the next numbered run is used
            (`step_convention.claim_run`); `run_dir` says which.
        optimizer: The model's optimizer; wrappers are unwrapped.
        schedule: A schedule that overrides the optimizer's own as the
            configured curve (for loops that assign the rate by hand).
        flush_secs: The longest time written data waits before a flush.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        run_name: str,
        optimizer: keras.optimizers.Optimizer,
        *,
        schedule: keras.optimizers.schedules.LearningRateSchedule | None = None,
        flush_secs: float = DEFAULT_FLUSH_SECS,
    ):
        self._optimizer = optimizer
        self._tracks: list[_Track] = []
        self._drained_step = self.step
        # A resumed run (restored iterations) starts here, not at step 0.
        self._first_step = self._drained_step
        self.run_dir = step_convention.claim_run(log_dir, run_name, optimizer, self._first_step)
        self._sink = event_sink.EventSink(self.run_dir)
        self._flush_secs = flush_secs
        for tapped in tapped_optimizers(optimizer):
            curve = configured_curves.ScheduleCurve(schedule) if schedule else None
            self._tracks.append(
                _Track(
                    tapped=tapped,
                    tap=optimizer_hooks.tap_for(tapped),
                    curve=curve or configured_curves.curve_of(tapped.optimizer),
                    skips=skipped_updates.SkipCounter.of(tapped.wrapper, self._first_step),
                )
            )
            self._tracks[-1].tap.drain()  # Starts empty: what ran before is not this run's.
        self._taps = [track.tap for track in self._tracks]
        self._drain_every = min(tap.capacity for tap in self._taps) // 2
        self._drain_at = self._drained_step + self._drain_every
        self._flush_at = time.time() + flush_secs
        self._anchor_steps = [self._drained_step]
        self._anchor_times = [time.time()]
        self._epoch_steps: list[int] = []
        self._epochs: list[int] = []
        self._epoch_times: list[float] = []
        self._epoch = None
        self._open_ended = True
        self._pending_scheduler: PendingScheduler | None = None
        self._watched = []
        # Each measured layer's place in the model, across optimizers: the tab's row order.
        self._layer_positions: dict[str, int] = {}
        for track in self._tracks:
            variable = keras_internals.rate_setting(track.tapped.optimizer)
            if keras_internals.is_variable(variable):
                listener = self._assignment_listener(track)
                assignment_tracking.watch(variable, listener)
                self._watched.append((variable, listener))
        self._write_config_hyperparameters(self._drained_step)
        in_layer.activate(self._tracks[0].tap)

    @property
    def step(self) -> int:
        """The step the next update will have: the optimizer's iterations."""
        if self._tracks:
            return self._tracks[0].tap.next_step()
        return step_convention.next_step(self._optimizer)

    def plan(
        self,
        total_steps: int | None,
        *,
        epochs: int | None = None,
        steps_per_epoch: int | None = None,
    ) -> None:
        """Writes the configured curves over `[0, total_steps)`.

        With `total_steps=None` the curves are written a few thousand steps
        ahead and extended as training goes. Call after the epoch has been
        marked, so a `LearningRateScheduler` can be chained from it.
        """
        pending = self._pending_scheduler
        if pending is not None and epochs and steps_per_epoch:
            try:
                pending.track.curve = configured_curves.EpochCurve(
                    pending.callback.schedule,
                    pending.previous_rate,
                    first_epoch=self._epoch or 0,
                    epochs=epochs,
                    first_step=pending.step,
                    steps_per_epoch=steps_per_epoch,
                )
            except Exception as error:  # The user's epoch function.
                warnings.warn(
                    f"tb_lr_plugin: chaining the LearningRateScheduler's function raised "
                    f"{error!r}; the configured curve stays the initial rate"
                )
        self._pending_scheduler = None
        self._open_ended = total_steps is None
        for track in self._tracks:
            # From this run's first step: a run resumed with another schedule
            # must not overwrite the curve the steps before it were trained
            # on (the latest write of a step wins).
            track.curve_end = self._first_step
            self._write_curve(track, total_steps or self.step + _OPEN_ENDED_HORIZON, describe=True)

    def mark(self, step: int) -> None:
        """Notes that every update before `step` has run. Cheap: call per batch."""
        for tap in self._taps:
            tap.discard_pending_records()
        now = time.time()
        self._anchor_steps.append(step)
        self._anchor_times.append(now)
        # One clock read per batch: a step of the wall clock moves a flush by
        # time, and the drain by step count still comes on time.
        if step >= self._drain_at or now >= self._flush_at:
            self.drain()

    def take_loop_state(self, optimizer_values: list) -> None:
        """Takes the values of `optimizer.variables` a stateless loop carries (JAX).

        Raises:
            ValueError: when they are not one per variable of the optimizer.
        """
        variables = self._optimizer.variables
        if len(optimizer_values) != len(variables):
            raise ValueError(
                f"log(optimizer_variables=...) got {len(optimizer_values)} values; optimizer "
                f"{self._optimizer.name!r} has {len(variables)} variables. Pass the list "
                "stateless_apply returned, and collect optimizer.variables after creating "
                "the writer (on JAX it adds its own)"
            )
        values = dict(zip(map(id, variables), optimizer_values, strict=True))
        for track in self._tracks:
            track.tap.take_loop_state(values)

    def mark_epoch(self, epoch: int, step: int | None = None) -> None:
        """Notes that epoch `epoch` begins at `step` (default: the next step)."""
        self._epoch = epoch
        self._epoch_steps.append(self.step if step is None else step)
        self._epochs.append(epoch)
        self._epoch_times.append(time.time())
        for track in self._tracks:
            track.tap.set_epoch(epoch)

    def drain(self) -> None:
        """Reads every tap and writes what it held, then flushes the file."""
        for track in self._tracks:
            track.tap.sync()
        now = time.time()
        step_now = self.step
        anchor_steps = np.array([*self._anchor_steps, step_now], np.float64)
        anchor_times = np.array([*self._anchor_times, now], np.float64)
        order = np.argsort(anchor_steps, kind="stable")
        anchor_steps, anchor_times = anchor_steps[order], anchor_times[order]
        last_step = self._drained_step - 1
        for track in self._tracks:
            steps, rows, written, lost = track.tap.drain()
            if lost:
                warnings.warn(
                    f"tb_lr_plugin: {lost} steps ran between two reads of the step tap "
                    f"(capacity {track.tap.capacity}) and were not recorded; call "
                    "LearningRateWriter.log() after every update"
                )
            if len(steps):
                wall_times = np.interp(
                    step_convention.finished_count(steps.astype(np.float64)),
                    anchor_steps,
                    anchor_times,
                )
                self._write_rows(track, steps, rows, written, wall_times)
                last_step = max(last_step, int(steps[-1]))
        self._write_config_hyperparameters(step_now)
        if self._epochs:
            # An epoch with no update shares its step with the next: the last mark wins.
            steps, last = np.unique(np.array(self._epoch_steps)[::-1], return_index=True)
            epochs = event_format.Chunk(
                steps,
                np.array(self._epochs[::-1], np.float64)[last],
                np.array(self._epoch_times[::-1])[last],
            )
            self._sink.write_points(
                event_format.EPOCH, epochs, sampling=event_format.SAMPLED_ON_CHANGE
            )
            self._epoch_steps, self._epochs, self._epoch_times = [], [], []
        if self._open_ended:
            for track in self._tracks:
                if last_step + _OPEN_ENDED_HORIZON // 2 >= track.curve_end:
                    self._write_curve(track, 2 * (last_step + _OPEN_ENDED_HORIZON))
        self._sink.flush()
        step_convention.logged(self.run_dir, step_convention.finished_count(last_step))
        self._drained_step = step_now
        self._drain_at = step_now + self._drain_every
        self._anchor_steps, self._anchor_times = [step_now], [now]
        self._flush_at = now + self._flush_secs

    def close(self) -> None:
        """Drains, flushes and closes the event file; stops watching assignments."""
        try:
            self.drain()
        finally:
            in_layer.deactivate(self._tracks[0].tap)
            for variable, listener in self._watched:
                assignment_tracking.unwatch(variable, listener)
            self._watched = []
            self._sink.close()

    def _write_rows(self, track, steps, rows, written, wall_times) -> None:
        for index, column in enumerate(track.tap.columns[: rows.shape[1]]):
            mask = written[:, index]
            if not np.any(mask):
                continue
            values = rows[mask, index]
            position = None
            if column.kind == step_tap.LEARNING_RATE:
                self._check_finite(track, steps[mask], values)
                name = track.name(event_format.LEARNING_RATE)
            elif column.kind == step_tap.GRADIENT_NORM:
                name = track.name(event_format.GRADIENT_NORM)
            elif column.kind == step_tap.UPDATE_RATIO:
                name = event_format.name_for(event_format.UPDATE_RATIO, leaf=column.name)
                position = self._layer_positions.setdefault(name, len(self._layer_positions))
            elif column.kind == step_tap.RECORDED:
                name = event_format.name_for(event_format.LAYERS, leaf=column.name)
            else:  # A hyperparameter: written where it changes.
                name = track.name(event_format.OPTIMIZER, column.name)
                self._write_changes(track, name, steps[mask], values, wall_times[mask])
                continue
            self._write_dense(name, steps[mask], values, wall_times[mask], position)
        self._write_skipped_updates(track, steps, rows, written, wall_times)

    def _write_skipped_updates(self, track, steps, rows, written, wall_times) -> None:
        """With update measures on, how many updates the loss scaling skipped before each step."""
        if track.skips is None:
            return
        tap = track.tap
        scale = tap.index_of(step_tap.Column(step_tap.HYPERPARAMETER, skipped_updates.SCALE))
        counter = tap.index_of(step_tap.Column(step_tap.HYPERPARAMETER, skipped_updates.COUNTER))
        measured = tap.index_of(step_tap.Column(step_tap.GRADIENT_NORM, step_tap.GRADIENT_NORM))
        if measured is None or scale is None or counter is None:
            return
        mask = written[:, scale] & written[:, counter]
        if not np.any(mask):
            return
        counts = track.skips.skipped_before(rows[mask, scale], rows[mask, counter])
        name = track.name(event_format.SKIPPED_UPDATES)
        self._write_changes(track, name, steps[mask], counts.astype(np.float64), wall_times[mask])

    def _check_finite(self, track: _Track, steps: np.ndarray, rates: np.ndarray) -> None:
        if not track.warned_non_finite and not np.all(np.isfinite(rates)):
            track.warned_non_finite = True
            first = int(steps[np.flatnonzero(~np.isfinite(rates))[0]])
            warnings.warn(f"tb_lr_plugin: the learning rate is not finite from step {first}")

    def _write_dense(self, name, steps, values, wall_times, position=None) -> None:
        # One chunk per contiguous run of steps keeps steps implicit (8 bytes a step).
        breaks = np.flatnonzero(np.diff(steps) != 1) + 1
        for run in np.split(np.arange(len(steps)), breaks):
            chunk = event_format.Chunk(steps[run], values[run], wall_times[run])
            self._sink.write_points(name, chunk, position=position)

    def _write_changes(self, track, name, steps, values, wall_times) -> None:
        """Writes series `name` where its value changes (and at its first step)."""
        previous = track.last_values.get(name)
        before = np.r_[np.nan if previous is None else previous, values[:-1]]
        changed = ~_same(values, before)
        if previous is None:
            changed[0] = True
        if np.any(changed):
            self._sink.write_points(
                name,
                event_format.Chunk(steps[changed], values[changed], wall_times[changed]),
                sampling=event_format.SAMPLED_ON_CHANGE,
            )
        track.last_values[name] = values[-1]

    def _write_config_hyperparameters(self, step: int) -> None:
        for track in self._tracks:
            current = hyperparameters.config_hyperparameters(track.tapped)
            # A scalar variable's value comes from the ring, per step.
            variables = hyperparameters.scalar_variables(track.tapped)
            for name, value in current.items():
                if track.last_config.get(name) != value and name not in variables:
                    point = event_format.Chunk(
                        np.array([step]), np.array([value], np.float64), np.array([time.time()])
                    )
                    self._sink.write_points(
                        track.name(event_format.OPTIMIZER, name),
                        point,
                        sampling=event_format.SAMPLED_ON_CHANGE,
                    )
            track.last_config = current

    def _write_curve(self, track: _Track, stop: int, *, describe: bool = False) -> None:
        if track.curve is None:
            return
        try:
            if describe:
                self._sink.write_document(
                    track.name(event_format.SCHEDULE_CONFIG),
                    track.curve_end,
                    dataclasses.replace(
                        track.curve.describe(), total_steps=None if self._open_ended else stop
                    ),
                )
            write_curve(self._sink, track.curve, track.curve_end, stop, optimizer=track.tapped.name)
            track.curve_end = stop
        except schedule_sampling.ScheduleSamplingError as error:
            warnings.warn(f"tb_lr_plugin: no configured curve is drawn: {error}")
            track.curve = None

    def _assignment_listener(self, track: _Track):
        def on_assignment(change: assignment_tracking.RateChange) -> None:
            step = step_convention.assignment_update(
                step_convention.next_step(track.tapped.optimizer)
            )
            if (
                isinstance(change.callback, keras.callbacks.LearningRateScheduler)
                and not isinstance(track.curve, configured_curves.EpochCurve)
                and self._pending_scheduler is None
            ):
                self._pending_scheduler = PendingScheduler(
                    track, change.callback, change.previous, step
                )
            self._sink.write_document(
                track.name(event_format.ASSIGNMENT),
                step,
                event_format.Assignment(
                    step, change.previous, change.value, change.source, time.time()
                ),
            )

        return on_assignment


def write_curve(
    sink: event_sink.EventSink,
    curve: configured_curves.ConfiguredCurve,
    start: int,
    stop: int,
    *,
    optimizer: str = "",
) -> None:
    """Writes `curve` over `[start, stop)` as schedule chunks of `optimizer`.

    Raises:
        schedule_sampling.ScheduleSamplingError: when the curve cannot be evaluated.
    """
    values = curve.sample(start, stop)
    for offset in range(0, len(values), _CURVE_CHUNK):
        chunk = values[offset : offset + _CURVE_CHUNK]
        steps = np.arange(start + offset, start + offset + len(chunk))
        sink.write_points(
            event_format.name_for(event_format.SCHEDULE, optimizer),
            event_format.Chunk(steps, chunk),
            kind=event_format.KIND_SCHEDULE,
        )


def _same(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    return (a == b) | (np.isnan(a) & np.isnan(b))
