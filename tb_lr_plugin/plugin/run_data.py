"""Reading this plugin's records back through TensorBoard's data provider.

The reader never touches event files itself: TensorBoard's loaders (the
Python one or the Rust data server) hand it tensors, and this module turns
chunks back into points. Chunks are merged in the order they were written
(event wall time), so where a run was resumed and steps were written twice,
the latest write wins.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from typing import Any

import numpy as np
from tensorboard import errors as tb_errors
from tensorboard.data import provider as data_provider

from tb_lr_plugin import event_format

logger = logging.getLogger(__name__)

# Records per tag to ask the provider for: every one (a chunk holds thousands of steps).
_ALL_RECORDS = 1 << 30


@dataclasses.dataclass(frozen=True)
class Problem:
    """Something the reader could not read, said in the answer rather than lost.

    Attributes:
        message: What and why, for a person.
        step_range: `[first, last]` steps it concerns, when it concerns steps.
    """

    message: str
    step_range: tuple[int, int] | None = None


@dataclasses.dataclass(frozen=True)
class Series:
    """The points of one series, sorted by step, one point per step.

    Attributes:
        steps: int64 steps.
        values: float64 values (NaN where not finite).
        wall_times: float64 seconds since the epoch; NaN where not recorded.
        sampling: `step` (a point per step) or `change` (a point where the
            value changes, holding until the next).
        problems: Records that could not be read; their steps are left out.
    """

    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray
    sampling: str
    problems: tuple[Problem, ...] = ()


@dataclasses.dataclass(frozen=True)
class Tag:
    """One name of this plugin in a run, and where its records are.

    Attributes:
        name: The name (`learning_rate`, `schedule/adam`, ...).
        kind: Its records' kind (`event_format.KINDS`).
        sampling: For series, how points are sampled.
        sources: `(tag, format version)` of each tag holding its records: a
            run resumed under a newer format has one tag per version.
        cache_key: Changes when any of those tags gets records.
        position: Its place in its group (a layer's in the model), if written.
    """

    name: str
    kind: str
    sampling: str
    sources: tuple[tuple[str, int], ...]
    cache_key: tuple[Any, ...]
    position: int | None = None


@dataclasses.dataclass(frozen=True)
class Document:
    """One document record; `content` is `None` when unreadable, and `problem` says why."""

    content: event_format.ScheduleConfig | event_format.Assignment | event_format.RangeTest | None
    problem: Problem | None = None


class RunData:
    """Access to this plugin's data in an experiment, with a decode cache.

    Args:
        provider: TensorBoard's `DataProvider` (`context.data_provider`).
    """

    def __init__(self, provider: data_provider.DataProvider):
        self._provider = provider
        self._cache: dict[tuple[str, str, str], tuple[tuple[Any, ...], Series]] = {}
        self._documents_cache: dict[tuple[str, str, str], tuple[tuple[Any, ...], list]] = {}
        self._lock = threading.Lock()

    def tags(
        self, ctx, experiment_id: str, runs: list[str] | None = None
    ) -> tuple[dict[str, dict[str, Tag]], list[Problem]]:
        """All runs (or only `runs`) with their names of this plugin, and what was unreadable.

        A tag whose metadata is not ours or comes from a newer format version
        is left out and described in the problems. Where a name has tags of
        several format versions, its kind is the newest one's.
        """
        listing, problems = self._list_tensors(ctx, experiment_id, runs)
        by_run: dict[str, dict[str, Tag]] = {}
        for run, time_series_by_tag in listing.items():
            for tag, time_series in sorted(time_series_by_tag.items()):
                try:
                    metadata = event_format.parse_metadata(time_series.plugin_content)
                    name = event_format.name_of(tag, metadata.version)
                except event_format.FormatError as error:
                    problems.append(Problem(f"run {run!r}, tag {tag!r}: {error}"))
                    continue
                found = Tag(
                    name=name,
                    kind=metadata.kind,
                    sampling=metadata.sampling,
                    sources=((tag, metadata.version),),
                    cache_key=((time_series.max_step, time_series.max_wall_time),),
                    position=metadata.position,
                )
                names = by_run.setdefault(run, {})
                known = names.get(name)
                if known is not None:
                    if (found.kind, found.sampling) != (known.kind, known.sampling):
                        problems.append(
                            Problem(
                                f"run {run!r}: {name!r} is a {known.kind} in one format "
                                f"version and a {found.kind} in another; the newest is shown"
                            )
                        )
                    found = _merged(known, found)
                names[name] = found
        return by_run, problems

    def _list_tensors(
        self, ctx, experiment_id: str, runs: list[str] | None
    ) -> tuple[dict[str, dict[str, Any]], list[Problem]]:
        try:
            return self._list_runs_tensors(ctx, experiment_id, runs), []
        except tb_errors.PublicError:
            raise
        except Exception:
            # TensorBoard's Python loader raises (KeyError) for a whole listing
            # when one tag has this plugin's metadata but no tensor (a damaged
            # or foreign event). One such run must not hide every other run:
            # list run by run and name the runs that fail.
            pass
        if runs is None:
            runs = [
                run.run_name for run in self._provider.list_runs(ctx, experiment_id=experiment_id)
            ]
        listing: dict[str, dict[str, Any]] = {}
        problems = []
        for run in runs:
            try:
                listing.update(self._list_runs_tensors(ctx, experiment_id, [run]))
            except tb_errors.PublicError:
                raise
            except Exception as error:
                logger.warning("LR plugin: TensorBoard could not list run %r: %r", run, error)
                problems.append(
                    Problem(
                        f"run {run!r}: TensorBoard could not list its records "
                        f"({type(error).__name__}: {error}); a damaged event file?"
                    )
                )
        return listing, problems

    def _list_runs_tensors(self, ctx, experiment_id: str, runs: list[str] | None) -> dict:
        return self._provider.list_tensors(
            ctx,
            experiment_id=experiment_id,
            plugin_name=event_format.PLUGIN_NAME,
            run_tag_filter=None if runs is None else data_provider.RunTagFilter(runs=runs),
        )

    def series(self, ctx, experiment_id: str, run: str, tag: Tag) -> Series:
        """The merged points of a `series` or `schedule` name (cached until it grows)."""
        key = (experiment_id, run, tag.name)
        with self._lock:
            cached = self._cache.get(key)
        if cached is not None and cached[0] == tag.cache_key:
            return cached[1]
        series = _merge_chunks(self._read(ctx, experiment_id, run, tag), tag.sampling)
        with self._lock:
            self._cache[key] = (tag.cache_key, series)
        return series

    def documents(self, ctx, experiment_id: str, run: str, tag: Tag) -> list[Document]:
        """The documents of a name, in the order they were written (cached until it grows)."""
        key = (experiment_id, run, tag.name)
        with self._lock:
            cached = self._documents_cache.get(key)
        if cached is not None and cached[0] == tag.cache_key:
            return list(cached[1])
        decode = _DOCUMENT_DECODERS[tag.kind]
        documents = []
        for datum, version in self._read(ctx, experiment_id, run, tag):
            try:
                content, problem = decode(_payload(datum), version), None
            except event_format.FormatError as error:
                # Kept as a placeholder so the route can say what was skipped.
                content = None
                problem = Problem(f"record at step {datum.step} unreadable: {error}")
            documents.append(Document(content, problem))
        with self._lock:
            self._documents_cache[key] = (tag.cache_key, documents)
        return list(documents)

    def _read(self, ctx, experiment_id: str, run: str, tag: Tag) -> list[tuple[Any, int]]:
        versions = dict(tag.sources)
        result = self._provider.read_tensors(
            ctx,
            experiment_id=experiment_id,
            plugin_name=event_format.PLUGIN_NAME,
            downsample=_ALL_RECORDS,
            run_tag_filter=data_provider.RunTagFilter(runs=[run], tags=list(versions)),
        )
        data = [
            (datum, versions[source])
            for source, records in result.get(run, {}).items()
            if source in versions
            for datum in records
        ]
        # Write order; a stable sort keeps the provider's order for equal times.
        return sorted(data, key=lambda item: item[0].wall_time)


_DOCUMENT_DECODERS = {
    event_format.KIND_SCHEDULE_CONFIG: event_format.decode_schedule_config,
    event_format.KIND_ASSIGNMENT: event_format.decode_assignment,
    event_format.KIND_RANGE_TEST: event_format.decode_range_test,
}


def _merged(known: Tag, found: Tag) -> Tag:
    newest = max(known, found, key=lambda tag: max(version for _, version in tag.sources))
    return dataclasses.replace(
        newest,
        sources=known.sources + found.sources,
        cache_key=known.cache_key + found.cache_key,
    )


def _payload(datum) -> bytes:
    value = np.asarray(datum.numpy).reshape(-1)
    if value.size != 1 or not isinstance(value[0], bytes):
        raise event_format.FormatError("record is not a scalar string tensor")
    return value[0]


def _merge_chunks(data: list[tuple[Any, int]], sampling: str) -> Series:
    steps, values, wall_times, problems = [], [], [], []
    for datum, version in data:
        try:
            chunk = event_format.decode_chunk(_payload(datum), version)
        except event_format.ChecksumError as error:
            first, last = error.step_range or (datum.step, datum.step)
            problems.append(
                Problem(f"record at step {datum.step} left out: {error}", (int(first), int(last)))
            )
            continue
        except event_format.FormatError as error:
            problems.append(Problem(f"record at step {datum.step} unreadable: {error}"))
            continue
        steps.append(chunk.steps)
        values.append(chunk.values.astype(np.float64))
        wall_times.append(
            chunk.wall_times if chunk.wall_times is not None else np.full(len(chunk.steps), np.nan)
        )
    if not steps:
        empty = np.zeros(0)
        return Series(empty.astype(np.int64), empty, empty, sampling, tuple(problems))
    steps_all = np.concatenate(steps)
    values_all = np.concatenate(values)
    wall_all = np.concatenate(wall_times)
    if len(steps_all) > 1 and not np.all(np.diff(steps_all) > 0):
        # Overlaps (a resumed run): keep each step's last write, in step order.
        reversed_steps = steps_all[::-1]
        unique_steps, first_in_reversed = np.unique(reversed_steps, return_index=True)
        last_written = len(steps_all) - 1 - first_in_reversed
        steps_all, values_all, wall_all = (
            unique_steps,
            values_all[last_written],
            wall_all[last_written],
        )
    return Series(steps_all, values_all, wall_all, sampling, tuple(problems))
