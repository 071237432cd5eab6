"""Reading this plugin's records back through TensorBoard's data provider.

The reader never touches event files itself: TensorBoard's loaders (the
Python one or the Rust data server) hand it tensors, and this module turns
chunks back into points. Chunks are merged in the order they were written
(event wall time), so where a run was resumed and steps were written twice,
the latest write wins.
"""

from __future__ import annotations

import collections
import dataclasses
import logging
import threading
from typing import Any

import numpy as np
from tensorboard import errors as tb_errors
from tensorboard.data import provider as data_provider

from tb_lr_plugin import event_format
from tb_lr_plugin.plugin import decoded_cache

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

    Listing what the runs hold is the one cost every request shares, so it is
    made cheap under load: one listing of the whole experiment runs at a
    time, and requests that arrive meanwhile answer from the last finished
    one (a request made alone always sees a fresh listing); a run's tags are
    derived again only when its records changed. Decoded records are kept in
    a `DecodedCache`, whose entries of a run go when a listing no longer has it.

    Args:
        provider: TensorBoard's `DataProvider` (`context.data_provider`).
        cache: Where decoded records are kept; a default-budget one if omitted.

    Example:
        >>> data = RunData(provider=None, cache=decoded_cache.DecodedCache(budget_bytes=0))
        >>> data.cache.budget_bytes
        0
    """

    def __init__(
        self,
        provider: data_provider.DataProvider,
        cache: decoded_cache.DecodedCache | None = None,
    ):
        self._provider = provider
        self.cache = cache if cache is not None else decoded_cache.DecodedCache()
        # Per experiment: held while its whole listing is made, and that listing.
        self._listing_locks: dict[str, threading.Lock] = collections.defaultdict(threading.Lock)
        self._latest: dict[str, tuple[dict[str, dict[str, Tag]], list[Problem]]] = {}
        # Per (experiment, run): what its listing held, and the tags derived from it.
        self._derived: dict[tuple[str, str], tuple[tuple, dict[str, Tag], list[Problem]]] = {}
        self._lock = threading.Lock()

    def tags(
        self, ctx, experiment_id: str, runs: list[str] | None = None
    ) -> tuple[dict[str, dict[str, Tag]], list[Problem]]:
        """All runs (or only `runs`) with their names of this plugin, and what was unreadable.

        A tag whose metadata is not ours or comes from a newer format version
        is left out and described in the problems. Where a name has tags of
        several format versions, its kind is the newest one's.
        """
        lock = self._listing_locks[experiment_id]
        latest = self._latest.get(experiment_id)
        if runs is not None:
            if latest is not None and lock.locked() and all(run in latest[0] for run in runs):
                return {run: latest[0][run] for run in runs}, []
            return self._derive(experiment_id, *self._list_tensors(ctx, experiment_id, runs))
        if not lock.acquire(blocking=latest is None):
            return latest  # A listing is under way: the last one is at most its age behind.
        try:
            if latest is None and experiment_id in self._latest:
                return self._latest[experiment_id]  # Listed while this request waited.
            listed = self._derive(experiment_id, *self._list_tensors(ctx, experiment_id, None))
            self._latest[experiment_id] = listed
            self._forget_runs_except(experiment_id, listed[0])
            return listed
        finally:
            lock.release()

    def _derive(
        self, experiment_id: str, listing: dict[str, dict[str, Any]], problems: list[Problem]
    ) -> tuple[dict[str, dict[str, Tag]], list[Problem]]:
        by_run: dict[str, dict[str, Tag]] = {}
        for run, time_series_by_tag in listing.items():
            # What the listing says of the run; its tags change only with it.
            state = tuple(
                (tag, series.max_step, series.max_wall_time, series.plugin_content)
                for tag, series in sorted(time_series_by_tag.items())
            )
            with self._lock:
                known = self._derived.get((experiment_id, run))
            if known is None or known[0] != state:
                known = (state, *_run_tags(run, state))
                with self._lock:
                    self._derived[(experiment_id, run)] = known
            by_run[run] = known[1]
            problems = problems + known[2]
        return by_run, problems

    def _forget_runs_except(self, experiment_id: str, runs: dict[str, Any]) -> None:
        self.cache.keep_only_runs(experiment_id, runs)
        with self._lock:
            for key in [key for key in self._derived if key[0] == experiment_id]:
                if key[1] not in runs:
                    del self._derived[key]

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
        key = (experiment_id, run, "series", tag.name)
        series = self.cache.get(key, tag.cache_key)
        if series is None:
            series = _merge_chunks(self._read(ctx, experiment_id, run, tag), tag.sampling)
            self.cache.put(key, tag.cache_key, series, _series_bytes(series))
        return series

    def documents(self, ctx, experiment_id: str, run: str, tag: Tag) -> list[Document]:
        """The documents of a name, in the order they were written (cached until it grows)."""
        key = (experiment_id, run, "documents", tag.name)
        documents = self.cache.get(key, tag.cache_key)
        if documents is None:
            decode = _DOCUMENT_DECODERS[tag.kind]
            documents, size = [], 0
            for datum, version in self._read(ctx, experiment_id, run, tag):
                try:
                    payload = _payload(datum)
                    content, problem = decode(payload, version), None
                    size += _DOCUMENT_BYTES_PER_PAYLOAD_BYTE * len(payload)
                except event_format.FormatError as error:
                    # Kept as a placeholder so the route can say what was skipped.
                    content = None
                    problem = Problem(f"record at step {datum.step} unreadable: {error}")
                documents.append(Document(content, problem))
            size += OBJECT_BYTES * (1 + len(documents))
            self.cache.put(key, tag.cache_key, documents, size)
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


# The cache's estimate of what a decoded value weighs beside its arrays: a
# Python object with its fields, and a document's dicts per byte of its JSON.
OBJECT_BYTES = 200
_DOCUMENT_BYTES_PER_PAYLOAD_BYTE = 10


def _series_bytes(series: Series) -> int:
    arrays = series.steps.nbytes + series.values.nbytes + series.wall_times.nbytes
    return arrays + OBJECT_BYTES * (1 + len(series.problems))


def _run_tags(run: str, state: tuple) -> tuple[dict[str, Tag], list[Problem]]:
    """One run's names from what its listing holds: `(tag, max_step, max_wall_time, content)`."""
    names: dict[str, Tag] = {}
    problems = []
    for tag, max_step, max_wall_time, content in state:
        try:
            metadata = event_format.parse_metadata(content)
            name = event_format.name_of(tag, metadata.version)
        except event_format.FormatError as error:
            problems.append(Problem(f"run {run!r}, tag {tag!r}: {error}"))
            continue
        found = Tag(
            name=name,
            kind=metadata.kind,
            sampling=metadata.sampling,
            sources=((tag, metadata.version),),
            cache_key=((max_step, max_wall_time),),
            position=metadata.position,
        )
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
    return names, problems


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
