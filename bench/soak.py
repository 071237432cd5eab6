"""Soak test: a real `tensorboard` over a log directory whose runs come and go, for minutes.

What a TensorBoard left running for weeks meets (issue 20): new runs arrive, old ones are
deleted, and the tab keeps polling. Over a real `tensorboard` process
(`tests/browser/harness.py`'s `TensorBoardProcess`, `--reload_interval=1` so that a
deletion is seen within seconds), for `--minutes`:

* a writer thread adds a 10,000-step run every `--interval` seconds and deletes the oldest
  beyond `--keep`. A run is written beside the log directory and renamed into it, so
  TensorBoard never finds one half-written. Nothing trains: each run is what the writer
  would write, made with the format module's encoder (`tb_lr_plugin.event_format`) and
  TensorBoard's pure-Python record writer: the applied rate in 4,096-step chunks, the
  configured curve and its description, epoch marks and, on every fourth run, a rate
  halved by hand at step 5,000 (a deviation). Every run's rates differ, so an answer
  served from the wrong run is caught.
* `--clients` threads each loop: `runs`; `series` of a random run of their latest `runs`
  answer (`name=learning_rate`, half the time `max_points=2000`); one time in four
  `schedule` of that run (when it is listed with one); one time in four `deviations` of
  it or `batch` of up to three listed runs. The points of every answer are compared with
  the values written at their steps, and `deviations` with the halving written.
* the resident memory (VmRSS) of the tensorboard process and, with `--load-fast true`,
  of its data-server child is sampled every `--sample-every` seconds.

Errors: a 5xx, a body that is not JSON, a connection error, any status but 200 and 404,
a 404 (or a `batch` entry's error) for a run still on disk, an answer that differs from
what was written, a listed run that was never written, a writer failure, and a listing
that still differs from the runs on disk `--settle` seconds after the end. Expected, and
counted apart: a 404 (or a `batch` entry's error) for a run the writer has already deleted
(`gone`), and a 200 without a single point for one (`gone_empty`: it went between the
plugin's listing of the run's tags and its read of them).

The memory slope is a least-squares line through the samples after the first third of
the soak: the log directory holds `--keep` runs from the start, so its size is steady
throughout, and the first third leaves out the first loads, caches filling and the
allocator's warm-up. The slope over every sample is reported beside it.

From the repository root:

    .venv/bin/python bench/soak.py --load-fast false --json bench/results-soak-python.json
    .venv/bin/python bench/soak.py --load-fast true --json bench/results-soak-rust.json
    .venv/bin/python bench/soak.py --minutes 1 --tensorboard-arg=--lr_cache_mib=64

Prints the results as JSON (progress on stderr) and exits non-zero on any error.
`tests/plugin/test_soak.py` runs `run_soak` for half a minute per loader.
"""

from __future__ import annotations

import argparse
import collections
import dataclasses
import functools
import http.client
import json
import os
import random
import shutil
import subprocess
import sys
import tempfile
import threading
import time
import traceback
import urllib.parse
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import numpy as np
import tensorboard
from tensorboard.compat.proto import event_pb2
from tensorboard.summary.writer.record_writer import RecordWriter

from tb_lr_plugin import event_format

# Run as a script, bench/ is on the path already; imported by a test, it is not.
sys.path.append(str(Path(__file__).resolve().parent))
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests"))
sys.path.append(str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
import harness  # tests/browser: the TensorBoard process
import process_stats  # bench/: /proc readings and percentiles, shared with load_test.py
import raw_records  # tests/: this plugin's events, built without TensorFlow

REPO_ROOT = Path(__file__).resolve().parents[1]

STEPS = 10_000
CHUNK_STEPS = 4096  # As the writer drains its ring.
STEPS_PER_EPOCH = 1000
BASE_WALL_TIME = 1_750_000_000.0
MAX_POINTS = 2000
BATCH_RUNS = 3
ROUTES = ("runs", "series", "schedule", "deviations", "batch")
FIRST_ERRORS = 10  # Messages kept per client; every error is counted.


@dataclasses.dataclass(frozen=True)
class SoakConfig:
    """What `run_soak` does; the command line's options."""

    load_fast: str = "false"  # TensorBoard's --load_fast: "false" Python loader, "true" Rust.
    minutes: float = 10.0
    interval: float = 3.0  # Seconds between new runs.
    keep: int = 20  # Runs on disk; the oldest beyond it is deleted.
    clients: int = 4
    steps: int = STEPS
    sample_every: float = 5.0  # Seconds between memory samples.
    reload_interval: float = 1.0  # Whole seconds: the Rust data server takes an integer.
    settle: float = 60.0  # Seconds the listing may take to match the disk after the end.
    tensorboard_args: tuple[str, ...] = ()
    seed: int = 0


# -- The runs: what is written is the ground truth every answer is checked against. --


def run_name(index: int) -> str:
    return f"run_{index:06d}"


def run_index(name: str) -> int | None:
    """The index `run_name` made `name` from, or None for a name it does not make."""
    prefix, _, digits = name.partition("_")
    return int(digits) if prefix == "run" and digits.isdigit() else None


def schedule_kind(index: int) -> str:
    return "CosineDecay" if index % 2 == 0 else "ExponentialDecay"


def peak_rate(index: int) -> float:
    # Each run its own peak: an answer served from another run does not match.
    return 0.1 * (1 + index / 1000)


@functools.lru_cache(maxsize=256)
def schedule_curve(index: int, steps: int) -> np.ndarray:
    """Run `index`'s configured curve, float32, one value per step (read-only).

    Even runs warm up over a tenth of the run, then follow a cosine down to zero;
    odd runs decay exponentially.
    """
    step = np.arange(steps)
    peak = peak_rate(index)
    if index % 2 == 0:
        warmup = steps // 10
        progress = np.clip(step - warmup, 0, None) / (steps - warmup)
        curve = np.where(
            step < warmup, peak * step / warmup, 0.5 * peak * (1 + np.cos(np.pi * progress))
        )
    else:
        curve = peak * 0.9 ** (step / (steps // 20))
    return _read_only(curve.astype(np.float32))


def assignment_step(index: int, steps: int) -> int | None:
    """Where run `index`'s rate was halved by hand: every fourth run, half way through."""
    return steps // 2 if index % 4 == 3 else None


@functools.lru_cache(maxsize=256)
def applied_rate(index: int, steps: int) -> np.ndarray:
    """Run `index`'s `learning_rate` series: its curve, halved from its assignment on."""
    values = schedule_curve(index, steps).copy()
    at = assignment_step(index, steps)
    if at is not None:
        values[at:] /= np.float32(2)
    return _read_only(values)


def wall_times(index: int, steps: int) -> np.ndarray:
    return BASE_WALL_TIME + index * 3600 + np.arange(steps) * 0.01


def _read_only(array: np.ndarray) -> np.ndarray:
    # Cached and shared by every client thread: nothing may change it.
    array.setflags(write=False)
    return array


def run_records(index: int, steps: int) -> Iterator[tuple]:
    """Run `index`'s records, as `raw_records.plugin_event` takes them.

    The applied rate comes first, then the curve's description before the curve:
    TensorBoard's Python loader serves a run while it is still reading its file,
    and a run listed at all then has its `learning_rate` (a 404 for it would be an
    error), and a run listed with a schedule has its kind.
    """
    step = np.arange(steps)
    times = wall_times(index, steps)
    applied, curve = applied_rate(index, steps), schedule_curve(index, steps)
    chunks = [slice(first, first + CHUNK_STEPS) for first in range(0, steps, CHUNK_STEPS)]
    for part in chunks:
        chunk = event_format.Chunk(step[part], applied[part], times[part])
        yield (
            event_format.LEARNING_RATE,
            part.start,
            event_format.encode_chunk(chunk),
            event_format.KIND_SERIES,
        )
    config = event_format.ScheduleConfig(
        schedule_kind(index), "LearningRateSchedule", {"peak": peak_rate(index)}, steps
    )
    yield (
        event_format.SCHEDULE_CONFIG,
        0,
        event_format.encode_document(config),
        event_format.KIND_SCHEDULE_CONFIG,
    )
    for part in chunks:
        chunk = event_format.Chunk(step[part], curve[part])
        yield (
            event_format.SCHEDULE,
            part.start,
            event_format.encode_chunk(chunk),
            event_format.KIND_SCHEDULE,
        )
    at = assignment_step(index, steps)
    if at is not None:
        change = event_format.Assignment(
            at, float(curve[at]), float(applied[at]), event_format.MANUAL, float(times[at])
        )
        yield (
            event_format.ASSIGNMENT,
            at,
            event_format.encode_document(change),
            event_format.KIND_ASSIGNMENT,
        )
    epochs = step[::STEPS_PER_EPOCH]
    marks = event_format.Chunk(
        epochs, (epochs // STEPS_PER_EPOCH).astype(np.float32), times[epochs]
    )
    yield (
        event_format.EPOCH,
        0,
        event_format.encode_chunk(marks),
        event_format.KIND_SERIES,
        event_format.SAMPLED_ON_CHANGE,
    )


def stage_run(staging: Path, index: int, steps: int) -> Path:
    """Writes run `index` into `staging/<name>`; returns that directory, to rename into place.

    TensorBoard's `EventFileWriter` opens files through `tensorboard.compat.tf`,
    which imports TensorFlow where it is installed (seconds, and its threads in
    this process); its pure-Python `RecordWriter` over a plain file writes the
    same bytes.
    """
    directory = staging / run_name(index)
    directory.mkdir()
    times = wall_times(index, steps)
    path = directory / f"events.out.tfevents.{int(times[0]):010d}.soak.{index}"
    with path.open("wb") as file:
        records = RecordWriter(file)
        header = event_pb2.Event(wall_time=float(times[0]), file_version="brain.Event:2")
        records.write(header.SerializeToString())
        for record in run_records(index, steps):
            event = raw_records.plugin_event(record, float(times[record[1]]))
            records.write(event.SerializeToString())
    return directory


# -- The state shared by the writer and the clients. --


class Ledger:
    """The runs on disk, the deleted ones, and when TensorBoard's listing caught up.

    Times are `time.monotonic()`. A run is recorded before it is renamed into
    place and marked deleted before its files go, so that a listing or a 404
    is never seen before the ledger knows why.
    """

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._on_disk: collections.deque[str] = collections.deque()
        self._written: set[str] = set()
        self._deleted: dict[str, float] = {}
        self._awaiting_listing: dict[str, float] = {}  # Added during the soak, not yet listed.
        self._awaiting_unlisting: dict[str, float] = {}  # Deleted, still listed.
        self._strangers: set[str] = set()
        self.listed_after: list[float] = []  # Seconds from a run's rename to its first listing.
        self.unlisted_after: list[float] = []  # From a deletion to the first listing without it.
        self.never_listed: list[str] = []  # Deleted before any listing showed them.
        self.added_during_soak: list[str] = []

    def add(self, name: str, *, initial: bool = False) -> None:
        with self._lock:
            self._on_disk.append(name)
            self._written.add(name)
            if not initial:
                self._awaiting_listing[name] = time.monotonic()
                self.added_during_soak.append(name)

    def pop_oldest(self, keep: int) -> str | None:
        """The oldest run, now marked deleted, when more than `keep` are on disk."""
        with self._lock:
            if len(self._on_disk) <= keep:
                return None
            name = self._on_disk.popleft()
            self._deleted[name] = time.monotonic()
            self._awaiting_unlisting[name] = self._deleted[name]
            if self._awaiting_listing.pop(name, None) is not None:
                self.never_listed.append(name)
            return name

    def is_deleted(self, name: str) -> bool:
        with self._lock:
            return name in self._deleted

    def on_disk(self) -> list[str]:
        with self._lock:
            return sorted(self._on_disk)

    def deleted(self) -> list[str]:
        """Deleted runs, oldest deletion first."""
        with self._lock:
            return list(self._deleted)

    def observe(self, listed: set[str], sent_at: float) -> list[str]:
        """Notes a `runs` answer to a request sent at `sent_at`; returns listed strangers.

        A stranger is a run never written (a staging directory would be one), each
        returned once.
        """
        now = time.monotonic()
        with self._lock:
            for name in listed:
                created = self._awaiting_listing.pop(name, None)
                if created is not None:
                    self.listed_after.append(now - created)
            for name, deleted in list(self._awaiting_unlisting.items()):
                # Only a request sent after the deletion began can be expected to miss it.
                if deleted <= sent_at and name not in listed:
                    del self._awaiting_unlisting[name]
                    self.unlisted_after.append(now - deleted)
            strangers = sorted(listed - self._written - self._strangers)
            self._strangers.update(strangers)
            return strangers


class Writer:
    """Adds a run every `interval` seconds and deletes the oldest beyond `keep`."""

    def __init__(self, logdir: Path, staging: Path, ledger: Ledger, config: SoakConfig):
        self._logdir, self._staging, self._ledger, self._config = logdir, staging, ledger, config
        self._next_index = 0
        self.created = 0  # During the soak; the initial runs are not counted.
        self.deleted = 0
        self.errors: list[str] = []

    def add_run(self, *, initial: bool = False) -> str:
        index = self._next_index
        self._next_index += 1
        staged = stage_run(self._staging, index, self._config.steps)
        name = run_name(index)
        self._ledger.add(name, initial=initial)
        # Same file system: the rename is atomic, the run appears whole.
        staged.rename(self._logdir / name)
        return name

    def run(self, stop: threading.Event) -> None:
        next_at = time.monotonic() + self._config.interval
        while not stop.wait(max(0.0, next_at - time.monotonic())):
            next_at += self._config.interval
            try:
                self.add_run()
                self.created += 1
                while (oldest := self._ledger.pop_oldest(self._config.keep)) is not None:
                    shutil.rmtree(self._logdir / oldest)
                    self.deleted += 1
            except Exception:  # Reported as an error of the soak; the writer goes on.
                self.errors.append(traceback.format_exc(limit=3))


# -- The clients. --


@dataclasses.dataclass
class Tally:
    """What one client saw; each client has its own, merged at the end."""

    requests: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    answered: collections.Counter = dataclasses.field(default_factory=collections.Counter)  # 200s
    latencies: dict[str, list[float]] = dataclasses.field(
        default_factory=lambda: collections.defaultdict(list)
    )
    errors: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    first_errors: list[str] = dataclasses.field(default_factory=list)
    gone: int = 0  # 404s (and `batch` entries) for runs already deleted: expected.
    gone_empty: int = 0  # 200s without a point for runs already deleted: see `record_check`.
    answered_after_deletion: int = 0  # 200s for runs already deleted, before a reload.
    partial: int = 0  # `series` answers of fewer steps than written (a run still loading).
    checked: collections.Counter = dataclasses.field(default_factory=collections.Counter)
    points_checked: int = 0

    def error(self, kind: str, message: str) -> None:
        self.errors[kind] += 1
        if len(self.first_errors) < FIRST_ERRORS:
            self.first_errors.append(f"{kind}: {message}")

    def merge(self, other: Tally) -> None:
        self.requests.update(other.requests)
        self.answered.update(other.answered)
        for route, values in other.latencies.items():
            self.latencies[route] += values
        self.errors.update(other.errors)
        self.first_errors += other.first_errors[: FIRST_ERRORS - len(self.first_errors)]
        self.gone += other.gone
        self.gone_empty += other.gone_empty
        self.answered_after_deletion += other.answered_after_deletion
        self.partial += other.partial
        self.checked.update(other.checked)
        self.points_checked += other.points_checked


def check_points(answer: dict, expected: np.ndarray, max_points: int | None) -> str | None:
    """Why `answer` (`series`, `schedule`) does not hold `expected` at its steps; None if it does.

    `expected` holds the values written, one per step from 0. The points sent
    must be original points (downsampling only drops points), in step order,
    each the written float32 widened to float64 exactly.
    """
    steps, values, total = answer.get("steps"), answer.get("values"), answer.get("total")
    if not isinstance(steps, list) or not isinstance(values, list) or len(steps) != len(values):
        return "steps and values are not lists of one length"
    if not isinstance(total, int) or not len(steps) <= total <= len(expected):
        return f"total {total!r} for {len(steps)} points sent of {len(expected)} written"
    if max_points is not None and len(steps) > max_points:
        return f"{len(steps)} points for max_points={max_points}"
    if not answer.get("downsampled") and len(steps) != total:
        return f"{len(steps)} points of {total}, not downsampled"
    if not steps:
        return None
    at = np.asarray(steps)
    if at.dtype.kind != "i" or at[0] < 0 or at[-1] >= len(expected) or np.any(np.diff(at) <= 0):
        return f"steps not increasing integers from 0 to {len(expected) - 1}: {steps[:5]}..."
    got = np.array(values, dtype=np.float64)  # A null (non-finite) is NaN: never written here.
    wrong = np.flatnonzero(got != expected[at].astype(np.float64))
    if wrong.size:
        first = int(wrong[0])
        written = float(expected[at[first]])
        return (
            f"{wrong.size} differ; at step {steps[first]}: {values[first]!r}, written {written!r}"
        )
    return None


def check_series(answer: dict, run: str, max_points: int | None, steps: int) -> str | None:
    """`check_points` for a `learning_rate` answer of `run`, which must hold points."""
    if answer.get("run") != run or answer.get("name") != event_format.LEARNING_RATE:
        return f"answered {answer.get('run')!r}/{answer.get('name')!r}"
    if not answer.get("total"):
        return "no points for a listed run"
    return check_points(answer, applied_rate(run_index(run), steps), max_points)


def check_schedule(answer: dict, run: str, max_points: int | None, steps: int) -> str | None:
    index = run_index(run)
    if answer.get("run") != run or answer.get("kind") != schedule_kind(index):
        return f"answered run {answer.get('run')!r} of kind {answer.get('kind')!r}"
    return check_points(answer, schedule_curve(index, steps), max_points)


def fully_compared(answer: dict, steps: int) -> bool:
    """Whether a `deviations` answer compared every step written (the run is loaded whole)."""
    compared = answer.get("compared") or []
    return len(compared) == 1 and compared[0].get("compared_steps") == steps


def check_deviations(answer: dict, run: str, steps: int) -> str | None:
    """Whether the events found are the halving written (or none), once all steps are compared."""
    if not fully_compared(answer, steps):
        return None  # Loaded in part so far: what deviates depends on what is there.
    events = answer.get("events") or []
    at = assignment_step(run_index(run), steps)
    if at is None:
        return (
            None
            if not events
            else f"events at steps {[e['step'] for e in events[:5]]}, none written"
        )
    if not events or events[0].get("step") != at:
        return f"first event at {events[0].get('step') if events else None}, halved at {at}"
    if events[0].get("source", {}).get("kind") != event_format.SOURCE_MANUAL:
        return f"the halving's source is {events[0].get('source')!r}"
    return None


class Client:
    """One polling client: a keep-alive connection, its own random choices and tally."""

    def __init__(self, port: int, ledger: Ledger, steps: int, seed: int):
        self._port, self._ledger, self._steps = port, ledger, steps
        self._rng = random.Random(seed)
        self._connection: http.client.HTTPConnection | None = None
        self._listed: list[dict] = []
        self.tally = Tally()

    def run(self, stop: threading.Event) -> None:
        try:
            while not stop.is_set():
                self.poll_once()
        except Exception:  # A bug here must not pass as a quiet client.
            self.tally.error("client", traceback.format_exc(limit=3))
        finally:
            if self._connection is not None:
                self._connection.close()

    def poll_once(self) -> None:
        self._poll_runs()
        if not self._listed:
            time.sleep(0.1)
            return
        entry = self._rng.choice(self._listed)
        run = entry["name"]
        self._poll_series(run)
        if entry.get("schedule") and self._rng.random() < 0.25:
            self._poll_schedule(run)
        if self._rng.random() < 0.25:
            if self._rng.random() < 0.5:
                self._poll_deviations(run)
            else:
                names = [e["name"] for e in self._listed]
                self._poll_batch(self._rng.sample(names, min(BATCH_RUNS, len(names))))

    def _poll_runs(self) -> None:
        sent_at = time.monotonic()
        answer = self._get("runs", [], [])
        if answer is None:
            return
        self._listed = [run for run in answer.get("runs", []) if run_index(run["name"]) is not None]
        listed = {run["name"] for run in answer.get("runs", [])}
        for stranger in self._ledger.observe(listed, sent_at):
            self.tally.error("stranger", f"listed {stranger!r}, never written")

    def _poll_series(self, run: str) -> None:
        params = [("run", run), ("name", event_format.LEARNING_RATE)]
        max_points = MAX_POINTS if self._rng.random() < 0.5 else None
        if max_points is not None:
            params.append(("max_points", str(max_points)))
        answer = self._get("series", params, [run])
        if answer is not None:
            self.tally.partial += answer.get("total", 0) < self._steps
            problem = check_series(answer, run, max_points, self._steps)
            self.record_check("series", run, [(problem, answer)])

    def _poll_schedule(self, run: str) -> None:
        answer = self._get("schedule", [("run", run), ("max_points", str(MAX_POINTS))], [run])
        if answer is not None:
            problem = check_schedule(answer, run, MAX_POINTS, self._steps)
            self.record_check("schedule", run, [(problem, answer)])

    def _poll_deviations(self, run: str) -> None:
        answer = self._get("deviations", [("run", run)], [run])
        if answer is not None:
            self.tally.checked["deviations_fully_compared"] += fully_compared(answer, self._steps)
            self.record_check(
                "deviations", run, [(check_deviations(answer, run, self._steps), None)]
            )

    def _poll_batch(self, runs: list[str]) -> None:
        params = [("run", run) for run in runs] + [("max_points", str(MAX_POINTS))]
        answer = self._get("batch", params, runs)
        if answer is None:
            return
        entries = answer.get("runs")
        if not isinstance(entries, list) or [e.get("run") for e in entries] != runs:
            self.tally.error("mismatch", f"batch of {runs}: runs {entries!r:.200}")
            return
        for entry in entries:
            self._verify_batch_entry(entry)

    def _verify_batch_entry(self, entry: dict) -> None:
        run = entry["run"]
        if "error" in entry:
            self._not_found("batch", run, entry["error"])
            return
        rates, schedules = entry.get("learning_rates") or [], entry.get("schedules") or []
        checks = [(check_series(a, run, MAX_POINTS, self._steps), a) for a in rates]
        checks += [(check_schedule(a, run, MAX_POINTS, self._steps), a) for a in schedules]
        if not rates:
            checks.append(("no learning rate", None))
        if entry.get("deviations") is not None:
            checks.append((check_deviations(entry["deviations"], run, self._steps), None))
        self.record_check("batch", run, checks)

    def record_check(
        self, what: str, run: str, checks: list[tuple[str | None, dict | None]]
    ) -> None:
        """Tallies one checked answer about `run`: `(problem or None, the curve checked)` pairs.

        A problem with a curve (a `series` or `schedule` answer) that holds no point,
        for a run already deleted, is `gone_empty`, not an error: the run went
        between the plugin's listing of its tags and its read of them. Wrong values
        are never excused, nor a problem about no curve (`None`: a `deviations`
        answer, which a deletion leaves partial, not wrong).
        """
        self.tally.checked[what] += 1
        self.tally.points_checked += sum(
            len(curve.get("steps") or []) for _, curve in checks if curve
        )
        deleted = self._ledger.is_deleted(run)
        self.tally.answered_after_deletion += deleted
        problems = [(problem, curve) for problem, curve in checks if problem is not None]
        if not problems:
            return
        if deleted and all(curve is not None and not curve.get("steps") for _, curve in problems):
            self.tally.gone_empty += 1
            return
        state = "deleted" if deleted else "on disk"
        self.tally.error("mismatch", f"{what} of {run} ({state}): {problems[0][0]}")

    def _not_found(self, route: str, run: str, message: str) -> None:
        if self._ledger.is_deleted(run):
            self.tally.gone += 1
        else:
            self.tally.error("not_found_on_disk", f"{route} of {run} (on disk): {message:.200}")

    def _get(self, route: str, params: list[tuple[str, str]], runs: list[str]) -> Any | None:
        """GETs `route`: its decoded answer when 200; else None, the failure tallied."""
        path = f"/data/plugin/{harness.PLUGIN}/{route}"
        if params:
            path += "?" + urllib.parse.urlencode(params)
        self.tally.requests[route] += 1
        started = time.perf_counter()
        try:
            status, body = self._fetch(path)
        except (OSError, http.client.HTTPException) as error:
            self._connection = None  # Reconnect on the next request.
            self.tally.error("connection", f"{path}: {error!r}")
            return None
        self.tally.latencies[route].append(time.perf_counter() - started)
        if status >= 500:
            self.tally.error("http_5xx", f"{path}: HTTP {status} {body[:200]!r}")
            return None
        try:
            answer = json.loads(body)
        except ValueError:
            self.tally.error("not_json", f"{path}: HTTP {status} {body[:200]!r}")
            return None
        if status == 200:
            self.tally.answered[route] += 1
            return answer
        if status == 404 and len(runs) == 1:
            self._not_found(route, runs[0], str(answer))
        else:
            self.tally.error(f"http_{status}", f"{path}: {body[:200]!r}")
        return None

    def _fetch(self, path: str) -> tuple[int, bytes]:
        if self._connection is None:
            self._connection = http.client.HTTPConnection("127.0.0.1", self._port, timeout=60)
        try:
            self._connection.request("GET", path)
            response = self._connection.getresponse()
            return response.status, response.read()
        except BaseException:
            self._connection.close()
            raise


# -- Memory. --


class MemorySampler:
    """VmRSS of tensorboard and of its children (the Rust data server), every `every` s."""

    def __init__(self, pid: int, every: float):
        self._pid, self._every = pid, every
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._loop, name="memory-sampler", daemon=True)
        self._started_at = 0.0
        self.samples: list[dict[str, float | None]] = []

    def start(self, started_at: float) -> None:
        self._started_at = started_at
        self.sample()
        self._thread.start()

    def stop(self) -> None:
        self._stop.set()
        self._thread.join()
        self.sample()

    def sample(self) -> None:
        tensorboard_kib = process_stats.rss_kib(self._pid)
        children = [process_stats.rss_kib(c) for c in process_stats.children(self._pid)]
        server_kib = sum(k for k in children if k) if children else None
        self.samples.append(
            {
                "t_s": round(time.monotonic() - self._started_at, 1),
                "tensorboard_mib": _mib(tensorboard_kib),
                "data_server_mib": _mib(server_kib),
            }
        )

    def peaks(self) -> dict[str, float | None]:
        """VmHWM of tensorboard and each child, by name: the kernel's peak, between samples too."""
        peaks = {f"tensorboard (pid {self._pid})": _mib(process_stats.peak_rss_kib(self._pid))}
        for child in process_stats.children(self._pid):
            name = process_stats.process_name(child)
            peaks[f"{name} (pid {child})"] = _mib(process_stats.peak_rss_kib(child))
        return peaks

    def _loop(self) -> None:
        while not self._stop.wait(self._every):
            self.sample()


def _mib(kib: int | None) -> float | None:
    return None if kib is None else round(kib / 1024, 1)


def memory_summary(samples: list[dict], warm_up_s: float) -> dict[str, Any]:
    """Start, end, sampled peak and slopes of each process's RSS, and of their sum."""
    rows = [dict(s, total_mib=_total(s)) for s in samples]
    summary: dict[str, Any] = {}
    for key in ("tensorboard_mib", "data_server_mib", "total_mib"):
        points = [(row["t_s"], row[key]) for row in rows if row[key] is not None]
        if not points:
            continue
        after = [(t, v) for t, v in points if t >= warm_up_s]
        summary[key.removesuffix("_mib")] = {
            "start_mib": points[0][1],
            "end_mib": points[-1][1],
            "peak_sampled_mib": max(v for _, v in points),
            "slope_mib_per_min": _slope(after),
            "slope_all_samples_mib_per_min": _slope(points),
        }
    return summary


def _total(sample: dict) -> float | None:
    if sample["tensorboard_mib"] is None:
        return None
    return round(sample["tensorboard_mib"] + (sample["data_server_mib"] or 0.0), 1)


def _slope(points: list[tuple[float, float]]) -> float | None:
    slope = process_stats.least_squares_slope([t / 60 for t, _ in points], [v for _, v in points])
    return None if slope is None else round(slope, 3)


# -- The soak. --


def run_soak(
    config: SoakConfig,
    scratch: Path | None = None,
    progress: Callable[[str], None] | None = None,
) -> dict[str, Any]:
    """Runs the soak described in this module's docstring; returns its results.

    `scratch`: where the log directory is made (a temporary directory is made in
    it, and removed); `progress`: called with a line about once a minute.
    """
    with tempfile.TemporaryDirectory(prefix="lr-soak-", dir=scratch) as temporary:
        logdir, staging = Path(temporary) / "logs", Path(temporary) / "staging"
        logdir.mkdir()
        staging.mkdir()
        ledger = Ledger()
        writer = Writer(logdir, staging, ledger, config)
        for _ in range(config.keep):
            writer.add_run(initial=True)
        flags = [
            f"--load_fast={config.load_fast}",
            f"--reload_interval={config.reload_interval:g}",
            *config.tensorboard_args,
        ]
        source = source_state()
        with harness.TensorBoardProcess(logdir, *flags) as board:
            board.wait_for_runs(config.keep, timeout=300)
            result = _soak(board, ledger, writer, config, progress or (lambda line: None))
        return {
            "config": dataclasses.asdict(config),
            "tensorboard_flags": flags,
            **source,
            **result,
        }


def _soak(
    board: harness.TensorBoardProcess,
    ledger: Ledger,
    writer: Writer,
    config: SoakConfig,
    progress: Callable[[str], None],
) -> dict[str, Any]:
    sampler = MemorySampler(board._process.pid, config.sample_every)  # As load_test.py does.
    clients = [
        Client(board.port, ledger, config.steps, config.seed * 100 + n)
        for n in range(config.clients)
    ]
    stop = threading.Event()
    threads = [threading.Thread(target=writer.run, args=(stop,), name="writer")]
    threads += [
        threading.Thread(target=c.run, args=(stop,), name=f"client-{n}")
        for n, c in enumerate(clients)
    ]
    load_before = os.getloadavg()
    started = time.monotonic()
    sampler.start(started)
    for thread in threads:
        thread.start()
    _wait(started, config.minutes * 60, clients, writer, sampler, progress)
    stop.set()
    for thread in threads:
        thread.join()
    duration = time.monotonic() - started
    sampler.stop()
    peaks = sampler.peaks()
    settled_after, final_listing = settle(board, ledger, config.settle)
    tally = Tally()
    for client in clients:
        tally.merge(client.tally)
    return summarise(
        config,
        tally,
        ledger,
        writer,
        sampler.samples,
        duration,
        settled_after=settled_after,
        final_listing=final_listing,
        peaks=peaks,
        load_average=[load_before, os.getloadavg()],
    )


def _wait(
    started: float,
    seconds: float,
    clients: list[Client],
    writer: Writer,
    sampler: MemorySampler,
    progress: Callable[[str], None],
) -> None:
    """Sleeps until `seconds` after `started`, reporting progress once a minute."""
    while (left := started + seconds - time.monotonic()) > 0:
        time.sleep(min(60.0, left))
        requests = sum(sum(c.tally.requests.values()) for c in clients)
        errors = sum(sum(c.tally.errors.values()) for c in clients)
        memory = sampler.samples[-1]
        progress(
            f"{time.monotonic() - started:5.0f} s: {requests} requests, {errors} errors, "
            f"{writer.created} runs created, {writer.deleted} deleted, RSS tensorboard "
            f"{memory['tensorboard_mib']} MiB, data server {memory['data_server_mib']} MiB"
        )


def settle(
    board: harness.TensorBoardProcess, ledger: Ledger, timeout: float
) -> tuple[float | None, list[str]]:
    """Polls `runs` until it lists exactly the runs on disk.

    Returns the seconds that took (None if it never did within `timeout`) and the
    last listing.
    """
    started = time.monotonic()
    listed: list[str] = []
    while True:
        sent_at = time.monotonic()
        try:
            listed = sorted(run["name"] for run in board.get_json("runs")["runs"])
        except (OSError, ValueError, KeyError):
            listed = []
        ledger.observe(set(listed), sent_at)
        if listed == ledger.on_disk():
            return round(time.monotonic() - started, 1), listed
        if time.monotonic() - started > timeout:
            return None, listed
        time.sleep(0.5)


def summarise(
    config: SoakConfig,
    tally: Tally,
    ledger: Ledger,
    writer: Writer,
    samples: list[dict],
    duration: float,
    *,
    settled_after: float | None,
    final_listing: list[str],
    peaks: dict[str, float | None],
    load_average: list[tuple[float, float, float]],
) -> dict[str, Any]:
    """The results: requests, errors, runs, memory."""
    for failure in writer.errors:
        tally.error("writer", failure)
    on_disk = ledger.on_disk()
    if settled_after is None:
        tally.error(
            "listing_not_settled",
            f"still listed but deleted: {sorted(set(final_listing) - set(on_disk))}; "
            f"on disk, not listed: {sorted(set(on_disk) - set(final_listing))}",
        )
    deleted = ledger.deleted()
    total_requests = sum(tally.requests.values())
    warm_up = duration / 3
    return {
        "duration_s": round(duration, 1),
        "requests": {route: tally.requests[route] for route in ROUTES},
        "requests_total": total_requests,
        "requests_per_s": round(total_requests / duration, 1),
        "answered_200": {route: tally.answered[route] for route in ROUTES},
        "latency": {route: process_stats.percentiles(tally.latencies[route]) for route in ROUTES},
        "errors": {
            "count": sum(tally.errors.values()),
            "by_kind": dict(tally.errors),
            "first": tally.first_errors,
        },
        "gone": tally.gone,
        "gone_empty": tally.gone_empty,
        "answered_after_deletion": tally.answered_after_deletion,
        "partial_series_answers": tally.partial,
        "checked": {**dict(tally.checked), "points": tally.points_checked},
        "runs": {
            "initial": config.keep,
            "created": writer.created,
            "deleted": writer.deleted,
            "listed": len(ledger.listed_after),
            "oldest_deleted": deleted[0] if deleted else None,
            "newest_created": ledger.added_during_soak[-1] if ledger.added_during_soak else None,
            "listed_after_creation": process_stats.percentiles(ledger.listed_after),
            "unlisted_after_deletion": process_stats.percentiles(ledger.unlisted_after),
            "deleted_before_listed": ledger.never_listed,
            "on_disk_at_end": on_disk,
            "final_listing": final_listing,
            "listing_settled_after_s": settled_after,
        },
        "memory": {
            "sample_every_s": config.sample_every,
            "samples": len(samples),
            "slope_window": f"samples after the first third of the soak (t >= {warm_up:.0f} s)",
            **memory_summary(samples, warm_up),
            "peak_vmhwm_mib": peaks,
            "series": [[s["t_s"], s["tensorboard_mib"], s["data_server_mib"]] for s in samples],
        },
        "load_average_start_end": [[round(x, 2) for x in load] for load in load_average],
    }


def source_state() -> dict[str, Any]:
    """The commit, uncommitted changes under tb_lr_plugin/, and versions: what was measured."""

    def git(*arguments: str) -> str | None:
        try:
            return subprocess.run(
                ["git", "-C", str(REPO_ROOT), *arguments],
                capture_output=True,
                text=True,
                check=True,
            ).stdout
        except (OSError, subprocess.CalledProcessError):
            return None

    commit = git("rev-parse", "--short", "HEAD")
    changes = git("status", "--short", "--", "tb_lr_plugin")
    return {
        "commit": commit.strip() if commit else None,
        "tb_lr_plugin_uncommitted": changes.splitlines() if changes is not None else None,
        "tensorboard_version": tensorboard.__version__,
        "python": sys.version.split()[0],
        "cpus": os.cpu_count(),
    }


def parse_args(argv: list[str] | None = None) -> tuple[SoakConfig, Path | None]:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    defaults = SoakConfig()
    parser.add_argument("--load-fast", choices=["true", "false"], default=defaults.load_fast)
    parser.add_argument("--minutes", type=float, default=defaults.minutes)
    parser.add_argument(
        "--interval", type=float, default=defaults.interval, help="seconds between new runs"
    )
    parser.add_argument("--keep", type=int, default=defaults.keep, help="runs kept on disk")
    parser.add_argument("--clients", type=int, default=defaults.clients)
    parser.add_argument("--steps", type=int, default=defaults.steps, help="steps per run")
    parser.add_argument("--sample-every", type=float, default=defaults.sample_every, help="seconds")
    parser.add_argument(
        "--settle",
        type=float,
        default=defaults.settle,
        help="seconds the listing may take to match the disk after the end",
    )
    parser.add_argument(
        "--tensorboard-arg",
        action="append",
        default=[],
        help="passed to tensorboard as is (repeatable): --tensorboard-arg=--lr_cache_mib=64",
    )
    parser.add_argument("--seed", type=int, default=defaults.seed)
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    config = SoakConfig(
        load_fast=args.load_fast,
        minutes=args.minutes,
        interval=args.interval,
        keep=args.keep,
        clients=args.clients,
        steps=args.steps,
        sample_every=args.sample_every,
        settle=args.settle,
        tensorboard_args=tuple(args.tensorboard_arg),
        seed=args.seed,
    )
    return config, args.json


def main(argv: list[str] | None = None) -> int:
    config, json_path = parse_args(argv)
    result = run_soak(config, progress=lambda line: print(line, file=sys.stderr, flush=True))
    text = json.dumps(result, indent=2)
    print(text)
    if json_path is not None:
        json_path.write_text(text + "\n")
    return 1 if result["errors"]["count"] else 0


if __name__ == "__main__":
    sys.exit(main())
