"""The LR tab's backend: thin werkzeug routes over the `*_impl` methods.

Routes (mounted by TensorBoard at `/data/plugin/lr/`, see docs/HTTP_API.md):
`runs`, `series`, `schedule`, `deviations`, `export`, `batch`,
`update_ratios`, `range_test`, and the frontend's files (`index.js` and
what it imports). Each route parses its query with `http_queries`, calls an
`*_impl` method that returns a JSON-able body, and turns the errors of the
layers below into JSON answers: 400 for bad input, 404 for unknown names,
never a traceback.

This module never imports TensorFlow or Keras: it reads through TensorBoard's
data provider, which works with either loader (`--load_fast=true|false`).
"""

from __future__ import annotations

import dataclasses
import functools
import logging
from collections.abc import Callable
from typing import Any

import numpy as np
from tensorboard import errors as tb_errors
from tensorboard import plugin_util
from tensorboard.backend import http_util
from tensorboard.plugins import base_plugin
from werkzeug import wrappers

from tb_lr_plugin import event_format
from tb_lr_plugin.plugin import (
    decoded_cache,
    deviations,
    downsampling,
    export,
    heat_map,
    http_queries,
    json_encoding,
    range_tests,
    run_catalog,
    run_data,
    static_assets,
)

logger = logging.getLogger(__name__)

TAB_NAME = "LR"
ES_MODULE_PATH = "/index.js"
# Where TensorBoard mounts this plugin's routes (relative to any --path_prefix).
ROUTE_PREFIX = f"/data/plugin/{event_format.PLUGIN_NAME}/"
JSON_TYPE = "application/json"

Body = dict[str, Any]


def _json_response(
    request: wrappers.Request,
    body: Any,
    code: int = 200,
    headers=None,
    arrays: str = http_queries.ARRAYS_AS_LISTS,
):
    """`body` as JSON, its arrays as lists or packed (`arrays`, from the query)."""
    packed = arrays == http_queries.ARRAYS_PACKED
    text = json_encoding.dumps(body, packed_arrays=packed)
    return http_util.Respond(request, text, JSON_TYPE, code=code, headers=headers)


def _error_response(request: wrappers.Request, code: int, message: str, headers=None):
    return _json_response(request, {"error": message}, code=code, headers=headers)


def _answers_errors(handler: Callable) -> Callable:
    """Makes `handler(self, request)` a werkzeug app that answers errors as JSON."""

    @functools.wraps(handler)
    def route(self, request: wrappers.Request):
        if request.method not in ("GET", "HEAD"):
            return _error_response(
                request, 405, f"{request.method} is not allowed; use GET", [("Allow", "GET, HEAD")]
            )
        try:
            return handler(self, request)
        except (http_queries.QueryError, run_catalog.AmbiguousNameError) as error:
            return _error_response(request, 400, str(error))
        except (run_catalog.UnknownNameError, static_assets.AssetNotFoundError) as error:
            return _error_response(request, 404, str(error))
        except tb_errors.PublicError as error:  # From the data provider, e.g. no such experiment.
            return _error_response(request, error.http_code, str(error), error.headers)
        except Exception:
            # A bug or unreadable data, not the client's doing: log it, answer without details.
            logger.exception("LR plugin: %s failed", request.full_path)
            return _error_response(request, 500, "internal error; see TensorBoard's log")

    return wrappers.Request.application(route)


class LearningRatePlugin(base_plugin.TBPlugin):
    """Serves the learning rates, schedules and deviations of the LR tab.

    Args:
        context: TensorBoard's `TBContext`; only its `data_provider` is used.
        cache_bytes: The memory budget of decoded records (`--lr_cache_mib`).

    Example:
        >>> plugin = LearningRatePlugin(base_plugin.TBContext(data_provider=None))
        >>> plugin.frontend_metadata().tab_name, sorted(plugin.get_plugin_apps())[:3]
        ('LR', ['/*', '/batch', '/deviations'])
    """

    plugin_name = event_format.PLUGIN_NAME

    def __init__(
        self,
        context: base_plugin.TBContext,
        cache_bytes: int = decoded_cache.DEFAULT_BUDGET_MIB * decoded_cache.MIB,
    ):
        self._data = run_data.RunData(
            context.data_provider, decoded_cache.DecodedCache(budget_bytes=cache_bytes)
        )
        # Per experiment, each run's `runs` entry and the tags it was made from.
        self._run_summaries: dict[str, dict[str, tuple[dict, Body]]] = {}

    def get_plugin_apps(self) -> dict[str, Callable]:
        """The routes, relative to `/data/plugin/lr` (see docs/HTTP_API.md)."""
        return {
            "/runs": self._serve_runs,
            "/series": self._serve_series,
            "/schedule": self._serve_schedule,
            "/deviations": self._serve_deviations,
            "/export": self._serve_export,
            "/batch": self._serve_batch,
            "/update_ratios": self._serve_update_ratios,
            "/range_test": self._serve_range_test,
            # The frontend's files, at the plugin's root, where index.js's
            # relative imports resolve.
            ES_MODULE_PATH: self._serve_static,
            "/*": self._serve_static,
        }

    def is_active(self) -> bool:
        """Always `False`: TensorBoard itself marks the tab active (see below).

        TensorBoard's listing shows the tab when its data provider lists
        `data_plugin_names()` in the logdir, which costs no scan here.
        """
        return False

    def data_plugin_names(self) -> tuple[str, ...]:
        """The plugin name whose data makes the tab active: `("lr",)`."""
        return (event_format.PLUGIN_NAME,)

    def frontend_metadata(self) -> base_plugin.FrontendMetadata:
        """The tab: named `LR`, an ES module (`/index.js`) in an iframe."""
        return base_plugin.FrontendMetadata(es_module_path=ES_MODULE_PATH, tab_name=TAB_NAME)

    # -- Logic, one method per route: (ctx, experiment, query) -> body. --

    def runs_impl(self, ctx, experiment: str) -> Body:
        """`{"runs": [{"name", "series", "schedule", "optimizers", "range_test"}], "problems"}`."""
        tags_by_run, problems = self._data.tags(ctx, experiment)
        known = self._run_summaries.get(experiment, {})
        summaries = {}
        for entry in run_catalog.catalog(tags_by_run):
            # A run's tags are the same object until its records change.
            summary = known.get(entry.name)
            if summary is None or summary[0] is not entry.tags:
                summary = (entry.tags, _run_summary(entry))
            summaries[entry.name] = summary
        self._run_summaries[experiment] = summaries  # Deleted runs go with the old dict.
        return {
            "runs": [summary for _, summary in summaries.values()],
            "problems": _problems(problems),
        }

    def series_impl(self, ctx, experiment: str, query: http_queries.SeriesQuery) -> Body:
        """The points of one series in a window, maybe downsampled.

        Raises:
            run_catalog.UnknownNameError: for an unknown run or series.
        """
        return self._series_body(ctx, experiment, self._run(ctx, experiment, query.run), query)

    def _series_body(
        self, ctx, experiment: str, entry: run_catalog.RunEntry, query: http_queries.SeriesQuery
    ) -> Body:
        series = self._data.series(ctx, experiment, query.run, entry.series_tag(query.name))
        return {
            "run": query.run,
            "name": query.name,
            "sampling": series.sampling,
            **_points(series, query.start, query.end, query.max_points),
            # Records the reader skipped (a corrupt chunk): the points above are
            # the readable rest, and the tab says what is missing.
            "problems": _problems(series.problems),
        }

    def schedule_impl(self, ctx, experiment: str, query: http_queries.ScheduleQuery) -> Body:
        """The configured curve of one optimizer and what configured it.

        Raises:
            run_catalog.UnknownNameError: for an unknown run or optimizer, or no schedule.
            run_catalog.AmbiguousNameError: when the optimizer must be named.
        """
        return self._schedule_body(ctx, experiment, self._run(ctx, experiment, query.run), query)

    def _schedule_body(
        self, ctx, experiment: str, entry: run_catalog.RunEntry, query: http_queries.ScheduleQuery
    ) -> Body:
        optimizer = entry.schedule_optimizer(query.optimizer)
        description = event_format.ScheduleConfig(kind=None, source=None, config={})
        problems: list[run_data.Problem] = []
        config_tag = entry.tag(event_format.SCHEDULE_CONFIG, optimizer)
        if config_tag is not None and config_tag.kind == event_format.KIND_SCHEDULE_CONFIG:
            documents = self._data.documents(ctx, experiment, query.run, config_tag)
            problems += [document.problem for document in documents if document.problem]
            readable = [document for document in documents if document.content is not None]
            if readable:
                description = readable[-1].content  # The latest readable plan wins.
        curve_tag = entry.tag(event_format.SCHEDULE, optimizer)
        if curve_tag is not None and curve_tag.kind == event_format.KIND_SCHEDULE:
            curve = self._data.series(ctx, experiment, query.run, curve_tag)
        else:
            curve = _EMPTY_SERIES
        problems += curve.problems
        total_steps = description.total_steps
        if total_steps is not None and len(curve.steps) and curve.steps[-1] >= total_steps:
            # Points past the latest plan are left from an earlier, longer guess.
            keep = curve.steps < total_steps
            curve = dataclasses.replace(
                curve,
                steps=curve.steps[keep],
                values=curve.values[keep],
                wall_times=curve.wall_times[keep],
            )
        points = _points(curve, query.start, query.end, query.max_points)
        del points["wall_times"]  # A curve is computed, not timed.
        return {
            "run": query.run,
            "optimizer": optimizer or None,
            "series": event_format.name_for(event_format.LEARNING_RATE, optimizer),
            "kind": description.kind,
            "source": description.source,
            "config": description.config,
            "total_steps": total_steps,
            **points,
            "problems": _problems(problems),
        }

    def deviations_impl(self, ctx, experiment: str, query: http_queries.DeviationsQuery) -> Body:
        """The deviation events of every optimizer (or one) of a run.

        Raises:
            run_catalog.UnknownNameError: for an unknown run or optimizer.
        """
        return self._deviations_body(ctx, experiment, self._run(ctx, experiment, query.run), query)

    def _deviations_body(
        self, ctx, experiment: str, entry: run_catalog.RunEntry, query: http_queries.DeviationsQuery
    ) -> Body:
        optimizers = entry.optimizers()
        if query.optimizer is not None:
            if query.optimizer not in optimizers:
                raise run_catalog.UnknownNameError(
                    f"run {query.run!r} has no optimizer {query.optimizer!r}; it has {optimizers}"
                )
            optimizers = [query.optimizer]
        comparisons = [
            comparison
            for optimizer in optimizers
            if (comparison := self._compare(ctx, experiment, entry, optimizer, query.max_events))
        ]
        events = sorted(
            (event for comparison in comparisons for event in comparison.events),
            key=lambda event: (event.step, event.series),
        )[: query.max_events]
        total_events = sum(comparison.total_events for comparison in comparisons)
        return {
            "run": query.run,
            "events": [event.to_json() for event in events],
            "total_events": total_events,
            "truncated": total_events > len(events),
            "compared": [
                {
                    "series": comparison.series,
                    "compared_steps": comparison.compared_steps,
                    "uncompared_steps": comparison.uncompared_steps,
                    "deviating_steps": comparison.deviating_steps,
                    "events": comparison.total_events,
                }
                for comparison in comparisons
            ],
        }

    def update_ratios_impl(
        self, ctx, experiment: str, query: http_queries.UpdateRatiosQuery
    ) -> Body:
        """Every layer's update ratios binned into the same step columns: the heat map.

        Layers come in model order; each cell holds its column's lowest and
        highest finite ratio (`heat_map`). The window is clipped to the
        steps the run has.

        Raises:
            run_catalog.UnknownNameError: for an unknown run, or one logged
                without `update_ratios=True`.
        """
        entry = self._run(ctx, experiment, query.run)
        prefix = event_format.UPDATE_RATIO + "/"
        names = [name for name in entry.series_names() if name.startswith(prefix)]
        if not names:
            raise run_catalog.UnknownNameError(
                f"run {query.run!r} has no update ratios (log it with update_ratios=True)"
            )
        every = [self._data.series(ctx, experiment, query.run, entry.series_tag(n)) for n in names]
        ranges = [(int(s.steps[0]), int(s.steps[-1])) for s in every if len(s.steps)]
        whole = [min(r[0] for r in ranges), max(r[1] for r in ranges)] if ranges else None
        first, last = whole or (0, -1)
        first = max(first, query.start or 0)
        last = last if query.end is None else min(last, query.end)
        columns = heat_map.Columns.spanning(first, last, query.columns)
        layers = []
        for name, series in zip(names, every, strict=True):
            cells = columns.extremes(series.steps, series.values)
            layers.append(
                {
                    "name": name,
                    "layer": name[len(prefix) :],
                    "low": cells.low,
                    "high": cells.high,
                    "nonfinite": np.flatnonzero(cells.nonfinite),
                }
            )
        return {
            "run": query.run,
            "window": [columns.first, columns.last] if columns.count else None,
            "steps": columns.first_steps(),
            "width": columns.width,
            "step_range": whole,
            "layers": layers,
            "problems": _problems(problem for series in every for problem in series.problems),
        }

    def range_test_impl(self, ctx, experiment: str, query: http_queries.RangeTestQuery) -> Body:
        """A run's learning-rate range test: its sweep, each rule's suggestion, the divergence.

        The latest readable record wins (each `find_learning_rate` into the
        run writes one); damaged ones are named in `problems`.

        Raises:
            run_catalog.UnknownNameError: for an unknown run, or one without a range test.
        """
        entry = self._run(ctx, experiment, query.run)
        tag = entry.range_test_tag()
        if tag is None:
            raise run_catalog.UnknownNameError(
                f"run {query.run!r} has no range test; make one with "
                "tb_lr_plugin.find_learning_rate(model, x, y, log_dir=...)"
            )
        documents = self._data.documents(ctx, experiment, query.run, tag)
        return {
            "run": query.run,
            **range_tests.latest_fields(documents),
            "problems": _problems(document.problem for document in documents if document.problem),
        }

    def batch_impl(self, ctx, experiment: str, query: http_queries.BatchQuery) -> Body:
        """What the tab draws of several runs, in one answer: `{"runs": [...]}`.

        Per run, in the order asked: its learning rates and configured curves
        in its window (`curves`), its epochs and deviations (`marks`), its
        hyperparameters whole (`hyperparameters`), each the body its own route
        answers; a run that cannot be answered has an `error` instead, and the
        others are still answered.
        """
        tags_by_run, _ = self._data.tags(ctx, experiment, runs=list(query.runs))
        answers = []
        for run, (start, end) in zip(query.runs, query.windows, strict=True):
            try:
                entry = run_catalog.find_run(tags_by_run, run)
                answers.append(
                    {"run": run, **self._batch_parts(ctx, experiment, entry, query, start, end)}
                )
            except (run_catalog.UnknownNameError, run_catalog.AmbiguousNameError) as error:
                answers.append({"run": run, "error": str(error)})
        return {"runs": answers}

    def _batch_parts(
        self,
        ctx,
        experiment: str,
        entry: run_catalog.RunEntry,
        query: http_queries.BatchQuery,
        start: int | None,
        end: int | None,
    ) -> Body:
        run = entry.name
        parts: Body = {}

        def series(name: str, start=None, end=None, max_points=None) -> Body:
            series_query = http_queries.SeriesQuery(run, name, start, end, max_points)
            return self._series_body(ctx, experiment, entry, series_query)

        if http_queries.CURVES in query.include:
            parts["learning_rates"] = [
                series(
                    event_format.name_for(event_format.LEARNING_RATE, optimizer),
                    start,
                    end,
                    query.max_points,
                )
                for optimizer in entry.optimizers()
                if entry.tag(event_format.LEARNING_RATE, optimizer) is not None
            ]
            parts["schedules"] = [
                self._schedule_body(
                    ctx,
                    experiment,
                    entry,
                    http_queries.ScheduleQuery(run, optimizer, start, end, query.max_points),
                )
                for optimizer in entry.schedule_optimizers()
            ]
        if http_queries.MARKS in query.include:
            has_epoch = event_format.EPOCH in entry.series_names()
            parts["epoch"] = series(event_format.EPOCH) if has_epoch else None
            deviations_query = http_queries.DeviationsQuery(
                run, None, http_queries.DEFAULT_MAX_EVENTS
            )
            parts["deviations"] = (
                self._deviations_body(ctx, experiment, entry, deviations_query)
                if entry.schedule_optimizers()
                else None
            )
        if http_queries.HYPERPARAMETERS in query.include:
            prefix = event_format.OPTIMIZER + "/"
            parts["hyperparameters"] = [
                series(name, max_points=query.max_points)
                for name in entry.series_names()
                if name.startswith(prefix)
            ]
        return parts

    def export_impl(
        self, ctx, experiment: str, query: http_queries.ExportQuery
    ) -> tuple[str, str, str]:
        """`(body, content type, file name)` of one series, every point.

        Raises:
            run_catalog.UnknownNameError: for an unknown run or series.
        """
        entry = self._run(ctx, experiment, query.run)
        series = self._data.series(ctx, experiment, query.run, entry.series_tag(query.name))
        part = downsampling.window(series.steps, query.start, query.end)
        steps, values, wall_times = series.steps[part], series.values[part], series.wall_times[part]
        if query.format == "csv":
            body = export.csv_body(steps, values, wall_times)
        else:
            body = export.json_body(query.run, query.name, steps, values, wall_times)
        name = export.filename(query.run, query.name, query.format)
        return body, export.CONTENT_TYPES[query.format], name

    # -- Routes: parse, call the logic, respond. --

    @_answers_errors
    def _serve_runs(self, request):
        ctx, experiment = _request_context(request)
        return _json_response(request, self.runs_impl(ctx, experiment))

    @_answers_errors
    def _serve_series(self, request):
        query = http_queries.series_query(request.args)
        ctx, experiment = _request_context(request)
        return _json_response(request, self.series_impl(ctx, experiment, query))

    @_answers_errors
    def _serve_schedule(self, request):
        query = http_queries.schedule_query(request.args)
        ctx, experiment = _request_context(request)
        return _json_response(request, self.schedule_impl(ctx, experiment, query))

    @_answers_errors
    def _serve_deviations(self, request):
        query = http_queries.deviations_query(request.args)
        ctx, experiment = _request_context(request)
        return _json_response(request, self.deviations_impl(ctx, experiment, query))

    @_answers_errors
    def _serve_update_ratios(self, request):
        query = http_queries.update_ratios_query(request.args)
        ctx, experiment = _request_context(request)
        body = self.update_ratios_impl(ctx, experiment, query)
        return _json_response(request, body, arrays=query.arrays)

    @_answers_errors
    def _serve_range_test(self, request):
        query = http_queries.range_test_query(request.args)
        ctx, experiment = _request_context(request)
        return _json_response(request, self.range_test_impl(ctx, experiment, query))

    @_answers_errors
    def _serve_batch(self, request):
        query = http_queries.batch_query(request.args)
        ctx, experiment = _request_context(request)
        body = self.batch_impl(ctx, experiment, query)
        return _json_response(request, body, arrays=query.arrays)

    @_answers_errors
    def _serve_export(self, request):
        query = http_queries.export_query(request.args)
        ctx, experiment = _request_context(request)
        body, content_type, name = self.export_impl(ctx, experiment, query)
        disposition = [("Content-Disposition", f'attachment; filename="{name}"')]
        return http_util.Respond(request, body, content_type, headers=disposition)

    @_answers_errors
    def _serve_static(self, request):
        path = request.path
        if ROUTE_PREFIX not in path:
            raise static_assets.AssetNotFoundError(f"no static file {path!r}")
        relative = path.split(ROUTE_PREFIX, 1)[1]
        body, content_type = static_assets.read_asset(relative)
        return http_util.Respond(request, body, content_type)

    # -- Helpers. --

    def _run(self, ctx, experiment: str, run: str) -> run_catalog.RunEntry:
        tags_by_run, _ = self._data.tags(ctx, experiment, runs=[run])
        return run_catalog.find_run(tags_by_run, run)

    def _compare(
        self, ctx, experiment: str, entry: run_catalog.RunEntry, optimizer: str, max_events: int
    ) -> deviations.Comparison | None:
        applied_tag = entry.tag(event_format.LEARNING_RATE, optimizer)
        curve_tag = entry.tag(event_format.SCHEDULE, optimizer)
        if applied_tag is None or curve_tag is None:
            return None
        assignment_tag = entry.tag(event_format.ASSIGNMENT, optimizer)
        if assignment_tag is not None and assignment_tag.kind != event_format.KIND_ASSIGNMENT:
            assignment_tag = None
        key = (experiment, entry.name, "comparison", optimizer, max_events)
        version = (
            applied_tag.cache_key,
            curve_tag.cache_key,
            None if assignment_tag is None else assignment_tag.cache_key,
        )
        cached = self._data.cache.get(key, version)
        if cached is not None:
            return cached
        applied = self._data.series(ctx, experiment, entry.name, applied_tag)
        curve = self._data.series(ctx, experiment, entry.name, curve_tag)
        documents = (
            []
            if assignment_tag is None
            else self._data.documents(ctx, experiment, entry.name, assignment_tag)
        )
        comparison = deviations.compare(
            applied_tag.name,
            applied.steps,
            applied.values,
            curve.steps,
            curve.values,
            deviations.in_force(
                document.content for document in documents if document.content is not None
            ),
            max_events=max_events,
        )
        size = run_data.OBJECT_BYTES * (1 + _EVENT_OBJECTS * len(comparison.events))
        self._data.cache.put(key, version, comparison, size)
        return comparison


# Objects per deviation event, for the cache's estimate (the event and its JSON-able parts).
_EVENT_OBJECTS = 4

_EMPTY_SERIES = run_data.Series(
    steps=np.zeros(0, np.int64),
    values=np.zeros(0),
    wall_times=np.zeros(0),
    sampling=event_format.SAMPLED_EVERY_STEP,
)


def _run_summary(entry: run_catalog.RunEntry) -> Body:
    return {
        "name": entry.name,
        "series": entry.series_names(),
        "schedule": bool(entry.schedule_optimizers()),
        "optimizers": [name for name in entry.optimizers() if name],
        "range_test": entry.range_test_tag() is not None,
    }


def _problems(problems) -> list[Body]:
    return [dataclasses.asdict(problem) for problem in problems]


def _request_context(request: wrappers.Request) -> tuple[Any, str]:
    return plugin_util.context(request.environ), plugin_util.experiment_id(request.environ)


def _points(
    series: run_data.Series, start: int | None, end: int | None, max_points: int | None
) -> Body:
    kept, total = downsampling.select(
        series.steps,
        series.values,
        start=start,
        end=end,
        max_points=max_points,
        carry_in=series.sampling == event_format.SAMPLED_ON_CHANGE,
    )
    return {
        "steps": series.steps[kept],
        "values": series.values[kept],
        "wall_times": series.wall_times[kept],
        "total": total,
        "downsampled": len(kept) < total,
        "step_range": (
            [int(series.steps[0]), int(series.steps[-1])] if len(series.steps) else None
        ),
    }
