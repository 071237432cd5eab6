"""Parsing and validating the query strings of the HTTP API.

Every route's parameters are read here, before any data is touched, so that
bad input always ends as a 400 with a message saying what to send instead,
never as an exception deeper down. Each parser takes the request's
`args` (any mapping with `getlist`, e.g. werkzeug's `MultiDict`).
"""

from __future__ import annotations

import dataclasses
import re
from typing import Protocol

# A step is a non-negative int64.
MAX_STEP = 2**63 - 1
# Fewer points than this cannot keep a bucket's shape (see `downsampling`).
MIN_MAX_POINTS = 10
# More than this in one response is a mistake, not a chart.
MAX_MAX_POINTS = 10_000_000
DEFAULT_MAX_EVENTS = 1000
MAX_MAX_EVENTS = 100_000
EXPORT_FORMATS = ("csv", "json")
# The most runs one `batch` request may name (the tab splits longer lists).
MAX_BATCH_RUNS = 1000
# What `batch` answers per run: windowed curves, whole-run marks, whole hyperparameters.
CURVES = "curves"
MARKS = "marks"
HYPERPARAMETERS = "hyperparameters"
BATCH_PARTS = (CURVES, MARKS, HYPERPARAMETERS)
# How `batch` writes the points' arrays: JSON lists, or packed bytes (`json_encoding`).
ARRAYS_AS_LISTS = "lists"
ARRAYS_PACKED = "packed"
ARRAY_ENCODINGS = (ARRAYS_AS_LISTS, ARRAYS_PACKED)

# Columns of the update-ratio heat map: a screen's width at most.
DEFAULT_COLUMNS = 1000
MAX_COLUMNS = 4000

_INTEGER = re.compile(r"\+?[0-9]{1,19}")


class QueryError(ValueError):
    """A missing or malformed query parameter: answered with HTTP 400.

    Example:
        >>> str(QueryError("run is required"))
        'run is required'
    """


class QueryArgs(Protocol):
    """What the parsers need of a request's arguments (werkzeug's `MultiDict`).

    Example:
        >>> from werkzeug.datastructures import MultiDict
        >>> MultiDict([("run", "a"), ("run", "b")]).getlist("run")
        ['a', 'b']
    """

    def getlist(self, key: str) -> list[str]: ...


@dataclasses.dataclass(frozen=True)
class SeriesQuery:
    """`series?run=R&name=S[&start=A&end=B][&max_points=N]`.

    Example:
        >>> SeriesQuery("train", "epoch", start=None, end=None, max_points=None).name
        'epoch'
    """

    run: str
    name: str
    start: int | None
    end: int | None
    max_points: int | None


@dataclasses.dataclass(frozen=True)
class ScheduleQuery:
    """`schedule?run=R[&optimizer=O][&start=A&end=B][&max_points=N]`.

    Example:
        >>> ScheduleQuery("train", "adam", start=0, end=99, max_points=None).optimizer
        'adam'
    """

    run: str
    optimizer: str | None
    start: int | None
    end: int | None
    max_points: int | None


@dataclasses.dataclass(frozen=True)
class DeviationsQuery:
    """`deviations?run=R[&optimizer=O][&max_events=N]`.

    Example:
        >>> DeviationsQuery("train", optimizer=None, max_events=10).max_events
        10
    """

    run: str
    optimizer: str | None
    max_events: int


@dataclasses.dataclass(frozen=True)
class ExportQuery:
    """`export?run=R&name=S&format=csv|json[&start=A&end=B]`.

    Example:
        >>> ExportQuery("train", "learning_rate", "csv", start=None, end=None).format
        'csv'
    """

    run: str
    name: str
    format: str
    start: int | None
    end: int | None


@dataclasses.dataclass(frozen=True)
class UpdateRatiosQuery:
    """`update_ratios?run=R[&start=A&end=B][&columns=N][&arrays=lists|packed]`.

    Example:
        >>> UpdateRatiosQuery("train", start=None, end=None, columns=500).columns
        500
    """

    run: str
    start: int | None
    end: int | None
    columns: int = DEFAULT_COLUMNS
    arrays: str = ARRAYS_AS_LISTS


@dataclasses.dataclass(frozen=True)
class RangeTestQuery:
    """`range_test?run=R`.

    Example:
        >>> RangeTestQuery("range_test").run
        'range_test'
    """

    run: str


def series_query(args: QueryArgs) -> SeriesQuery:
    """Reads the parameters of the `series` route.

    Raises:
        QueryError: when a parameter is missing, repeated or malformed.

    Example:
        >>> series_query({"run": ["train"], "name": ["learning_rate"], "max_points": ["2000"]})
        SeriesQuery(run='train', name='learning_rate', start=None, end=None, max_points=2000)
    """
    args = _ListArgs.of(args)
    start, end = _step_range(args)
    return SeriesQuery(
        run=_required(args, "run"),
        name=_required(args, "name"),
        start=start,
        end=end,
        max_points=_max_points(args),
    )


def schedule_query(args: QueryArgs) -> ScheduleQuery:
    """Reads the parameters of the `schedule` route.

    Raises:
        QueryError: when a parameter is missing, repeated or malformed.

    Example:
        >>> schedule_query({"run": ["train"]}).optimizer is None
        True
    """
    args = _ListArgs.of(args)
    start, end = _step_range(args)
    return ScheduleQuery(
        run=_required(args, "run"),
        optimizer=_optional(args, "optimizer"),
        start=start,
        end=end,
        max_points=_max_points(args),
    )


def deviations_query(args: QueryArgs) -> DeviationsQuery:
    """Reads the parameters of the `deviations` route.

    Raises:
        QueryError: when a parameter is missing, repeated or malformed.

    Example:
        >>> deviations_query({"run": ["train"]}).max_events
        1000
    """
    args = _ListArgs.of(args)
    max_events = _integer(args, "max_events", minimum=1, maximum=MAX_MAX_EVENTS)
    return DeviationsQuery(
        run=_required(args, "run"),
        optimizer=_optional(args, "optimizer"),
        max_events=DEFAULT_MAX_EVENTS if max_events is None else max_events,
    )


def export_query(args: QueryArgs) -> ExportQuery:
    """Reads the parameters of the `export` route.

    Raises:
        QueryError: when a parameter is missing, repeated or malformed.

    Example:
        >>> export_query({"run": ["train"], "name": ["epoch"], "format": ["CSV"]}).format
        'csv'
    """
    args = _ListArgs.of(args)
    run, name = _required(args, "run"), _required(args, "name")
    output_format = _required(args, "format").lower()
    if output_format not in EXPORT_FORMATS:
        raise QueryError(
            f"format must be one of {', '.join(EXPORT_FORMATS)}; got {output_format!r}"
        )
    start, end = _step_range(args)
    return ExportQuery(run=run, name=name, format=output_format, start=start, end=end)


def update_ratios_query(args: QueryArgs) -> UpdateRatiosQuery:
    """Reads the parameters of the `update_ratios` route.

    Raises:
        QueryError: when a parameter is missing, repeated or malformed.

    Example:
        >>> update_ratios_query({"run": ["train"], "columns": ["300"]}).columns
        300
    """
    args = _ListArgs.of(args)
    start, end = _step_range(args)
    columns = _integer(args, "columns", minimum=1, maximum=MAX_COLUMNS)
    return UpdateRatiosQuery(
        run=_required(args, "run"),
        start=start,
        end=end,
        columns=DEFAULT_COLUMNS if columns is None else columns,
        arrays=_arrays(args),
    )


def range_test_query(args: QueryArgs) -> RangeTestQuery:
    """Reads the parameters of the `range_test` route.

    Raises:
        QueryError: when `run` is missing, empty or repeated.

    Example:
        >>> range_test_query({"run": ["sweep"]})
        RangeTestQuery(run='sweep')
    """
    return RangeTestQuery(run=_required(_ListArgs.of(args), "run"))


@dataclasses.dataclass(frozen=True)
class BatchQuery:
    """`batch?run=R1&run=R2...[&window=A:B...][&max_points=N][&include=...][&arrays=...]`.

    Example:
        >>> BatchQuery(("a",), ((None, None),), None, frozenset({"curves"})).runs
        ('a',)
    """

    runs: tuple[str, ...]
    windows: tuple[tuple[int | None, int | None], ...]  # One `(start, end)` per run.
    max_points: int | None
    include: frozenset[str]
    arrays: str = ARRAYS_AS_LISTS


def batch_query(args: QueryArgs) -> BatchQuery:
    """Reads the parameters of the `batch` route.

    `window` is given once (every run's) or once per run, in the order of
    `run`; `A:B`, `A:`, `:B` or empty (the whole run).

    Raises:
        QueryError: when a parameter is missing, repeated or malformed.

    Example:
        >>> batch_query({"run": ["a", "b"], "window": ["10:20", ""]}).windows
        ((10, 20), (None, None))
    """
    args = _ListArgs.of(args)
    runs = args.getlist("run")
    if not runs or "" in runs:
        raise QueryError("run is required (once per run), and may not be empty")
    if len(runs) > MAX_BATCH_RUNS:
        raise QueryError(f"at most {MAX_BATCH_RUNS} runs per request; got {len(runs)}")
    if len(set(runs)) < len(runs):
        raise QueryError("a run was given twice")
    texts = args.getlist("window")
    if len(texts) not in (0, 1, len(runs)):
        raise QueryError(
            f"window must be given once or once per run ({len(runs)}); got {len(texts)}"
        )
    windows = [_window(text) for text in texts] or [(None, None)]
    include = _optional(args, "include")
    parts = frozenset(BATCH_PARTS if include is None else include.split(","))
    if not parts or not parts <= set(BATCH_PARTS):
        raise QueryError(f"include must be a comma-separated subset of {', '.join(BATCH_PARTS)}")
    return BatchQuery(
        runs=tuple(runs),
        windows=tuple(windows * len(runs) if len(windows) == 1 else windows),
        max_points=_max_points(args),
        include=parts,
        arrays=_arrays(args),
    )


def _arrays(args: QueryArgs) -> str:
    arrays = _optional(args, "arrays") or ARRAYS_AS_LISTS
    if arrays not in ARRAY_ENCODINGS:
        raise QueryError(f"arrays must be one of {', '.join(ARRAY_ENCODINGS)}; got {arrays!r}")
    return arrays


def _window(text: str) -> tuple[int | None, int | None]:
    if text == "":
        return None, None
    if text.count(":") != 1:
        raise QueryError(f"window must be START:END (either may be empty); got {text!r}")
    start_text, end_text = text.split(":")
    start, end = _step_range(
        _ListArgs(
            {"start": [start_text] if start_text else [], "end": [end_text] if end_text else []}
        )
    )
    return start, end


class _ListArgs:
    """Adapts a plain `{name: [values]}` dict (handy in tests) to `getlist`."""

    def __init__(self, mapping: dict[str, list[str]]):
        self._mapping = mapping

    def getlist(self, key: str) -> list[str]:
        return list(self._mapping.get(key, []))

    @classmethod
    def of(cls, args) -> QueryArgs:
        return args if hasattr(args, "getlist") else cls(args)


def _optional(args: QueryArgs, name: str) -> str | None:
    values = args.getlist(name)
    if len(values) > 1:
        raise QueryError(f"{name} was given {len(values)} times; give it once")
    return values[0] if values else None


def _required(args: QueryArgs, name: str) -> str:
    value = _optional(args, name)
    if value is None or value == "":
        raise QueryError(f"{name} is required")
    return value


def _integer(args: QueryArgs, name: str, *, minimum: int, maximum: int) -> int | None:
    text = _optional(args, name)
    if text is None:
        return None
    if not _INTEGER.fullmatch(text):
        raise QueryError(f"{name} must be an integer from {minimum} to {maximum}; got {text!r}")
    value = int(text)
    if not minimum <= value <= maximum:
        raise QueryError(f"{name} must be from {minimum} to {maximum}; got {value}")
    return value


def _step_range(args: QueryArgs) -> tuple[int | None, int | None]:
    start = _integer(args, "start", minimum=0, maximum=MAX_STEP)
    end = _integer(args, "end", minimum=0, maximum=MAX_STEP)
    if start is not None and end is not None and start > end:
        raise QueryError(f"start ({start}) must not be after end ({end})")
    return start, end


def _max_points(args: QueryArgs) -> int | None:
    return _integer(args, "max_points", minimum=MIN_MAX_POINTS, maximum=MAX_MAX_POINTS)
