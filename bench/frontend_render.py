"""How fast the LR tab renders a large logdir in headless Chromium.

What is measured (a benchmark, never a timed assertion in a test):
100 runs of 100,000 steps each, written with the format module's encoder (what the writer
writes, without training: about 2 s a run here), served by a real `tensorboard` process,
opened in Debian's `chromium` driven by Playwright.

* `first full render`: from navigation start of the plugin's page to the moment the
  frontend has drawn the main chart, its deviation markers and list and the schedule
  panels of every selected run (its `lr:first-render` performance mark). Measured on the
  plugin's iframe page (`/data/plugin_entry.html?name=lr`, what TensorBoard's LR tab
  loads) and, for context, through TensorBoard's whole UI (`/#lr`).
* `batch wait`: of the first render, the time from sending the `batch` request to
  its first byte (the server's share).
* `zoom redraw`: a drag-select on the main chart; the redraw of the points already
  loaded at the new scale (`lr:zoom-redraw` measure) and the redraw with the window
  re-fetched at full resolution (`lr:zoom-refetch` measure).

The logdir is generated once and reused (pass `--logdir`).

Usage (from the repository root):

    .venv/bin/python bench/frontend_render.py                     # temp logdir
    .venv/bin/python bench/frontend_render.py --logdir runs/bench-frontend --repeats 5
    .venv/bin/python bench/frontend_render.py --logdir runs/bench-frontend \
        --tensorboard-flag=--load_fast=false       # TensorBoard's Python loader

No number here is asserted: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "browser"))

import harness  # noqa: E402  (tests/browser: the TensorBoard process and the browser)
import numpy as np  # noqa: E402

RUNS = 100
STEPS = 100_000
CHUNK_STEPS = 4096  # As the writer drains its ring.
STEPS_PER_EPOCH = 5000


def generate(logdir: Path, runs: int, steps: int, *, scalars: bool = False) -> None:
    """Writes `runs` runs of `steps` steps with the format module's encoder, not by training.

    Each run is what the writer would have written for it: the applied rate in
    4,096-step chunks with wall times, the configured curve and its
    configuration, epochs, a constant hyperparameter; every fifth run a
    constant rate halved by hand twice (deviations to mark and list). With
    `scalars`, the applied rate is also written as plain scalar summaries
    (`learning_rate`, one event per step, what `tf.summary.scalar` writes),
    for TensorBoard's own dashboards. Runs already in `logdir` are kept.
    """
    from tb_lr_plugin import event_format
    from tb_lr_plugin.writer.event_sink import EventSink

    step = np.arange(steps)
    for index in range(runs):
        kind, curve = _schedule(index, step)
        name = f"run_{index:03d}_{kind}"
        if (logdir / name).is_dir():
            continue
        (logdir / name).mkdir(parents=True)
        wall_times = 1_750_000_000.0 + index * 3600 + step * 0.01
        applied = curve.copy()
        assignments = []
        if kind == "constant":
            for at in (steps // 2, 3 * steps // 4):
                previous = float(applied[at])
                assignments.append(
                    event_format.Assignment(
                        at, previous, previous / 2, event_format.MANUAL, float(wall_times[at])
                    )
                )
                applied[at:] /= 2
        sink = EventSink(str(logdir / name))
        sink.write_document(
            event_format.SCHEDULE_CONFIG,
            0,
            event_format.ScheduleConfig(
                kind, "float" if kind == "constant" else "LearningRateSchedule", {}, steps
            ),
        )
        for first in range(0, steps, CHUNK_STEPS):
            part = slice(first, first + CHUNK_STEPS)
            sink.write_points(
                event_format.SCHEDULE,
                event_format.Chunk(step[part], curve[part]),
                kind=event_format.KIND_SCHEDULE,
            )
            sink.write_points(
                event_format.LEARNING_RATE,
                event_format.Chunk(step[part], applied[part], wall_times[part]),
            )
        for assignment in assignments:
            sink.write_document(event_format.ASSIGNMENT, assignment.step, assignment)
        epochs = np.arange(0, steps, STEPS_PER_EPOCH)
        sink.write_points(
            event_format.EPOCH,
            event_format.Chunk(epochs, np.float32(epochs // STEPS_PER_EPOCH), wall_times[epochs]),
            sampling=event_format.SAMPLED_ON_CHANGE,
        )
        sink.write_points(
            event_format.name_for(event_format.OPTIMIZER, "", "momentum"),
            event_format.Chunk([0], np.float32([0.9]), wall_times[:1]),
            sampling=event_format.SAMPLED_ON_CHANGE,
        )
        sink.close()
        if scalars:
            _write_scalars(logdir / name, applied, wall_times)
    print(f"{runs} runs of {steps:,} steps in {logdir}", flush=True)


def _write_scalars(run_dir: Path, values: np.ndarray, wall_times: np.ndarray) -> None:
    """`values` as one `learning_rate` scalar summary per step, with TensorBoard's writer."""
    from tensorboard.compat.proto import event_pb2, summary_pb2
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(run_dir))
    for step, (value, wall_time) in enumerate(
        zip(values.tolist(), wall_times.tolist(), strict=True)
    ):
        summary = summary_pb2.Summary(
            value=[summary_pb2.Summary.Value(tag="learning_rate", simple_value=value)]
        )
        writer.add_event(event_pb2.Event(wall_time=wall_time, step=step, summary=summary))
    writer.close()


def _schedule(index: int, step: np.ndarray) -> tuple[str, np.ndarray]:
    """A schedule kind and its float32 curve: four shapes, and a constant every fifth run."""
    steps = len(step)
    if index % 5 == 4:
        return "constant", np.full(steps, 0.05, np.float32)
    kind = index % 4
    if kind == 0:
        warmup = steps // 10
        cosine = 0.05 * (1 + np.cos(np.pi * np.clip(step - warmup, 0, None) / (steps - warmup)))
        return "cosine_warmup", np.float32(np.where(step < warmup, 0.1 * step / warmup, cosine))
    if kind == 1:
        return "exponential", np.float32(0.1 * 0.9 ** (step / (steps // 20)))
    if kind == 2:
        bounds = [steps // 3, 2 * steps // 3]
        return "piecewise", np.float32(
            np.select([step < bounds[0], step < bounds[1]], [0.1, 0.01], 0.001)
        )
    period = steps // 8
    return "cosine_restarts", np.float32(0.025 * (1 + np.cos(np.pi * (step % period) / period)))


def measure(
    logdir: Path, repeats: int, runs: int, steps: int, flags: list[str]
) -> dict[str, list[float]]:
    """Opens the LR tab `repeats` times per page; returns the timings in ms."""
    results: dict[str, list[float]] = {
        "first_render_iframe": [],
        "main_chart_iframe": [],
        "first_render_batch_wait": [],
        "first_render_tensorboard_ui": [],
        "zoom_redraw": [],
        "zoom_refetch": [],
        "reset_refetch": [],
    }
    with harness.TensorBoardProcess(logdir, *flags) as board:
        _wait_until_loaded(board, runs, steps)
        with harness.browser() as browser:
            # One untimed load: the server's caches and Chromium's code cache are warm
            # afterwards, as for a user who opens the tab a second time.
            _open(browser, board.plugin_page_url).close()
            for _ in range(repeats):
                page = _open(browser, board.plugin_page_url)
                frame = page.main_frame
                results["first_render_iframe"].append(_mark(frame, "lr:first-render"))
                results["main_chart_iframe"].append(_mark(frame, "lr:main-chart"))
                results["first_render_batch_wait"].append(_batch_wait(frame))
                _zoom(page, frame)
                results["zoom_redraw"].append(_last_measure(frame, "lr:zoom-redraw"))
                results["zoom_refetch"].append(_last_measure(frame, "lr:zoom-refetch"))
                results["reset_refetch"].append(_reset(frame))
                page.context.close()
            for _ in range(repeats):
                results["first_render_tensorboard_ui"].append(
                    _lr_tab_in_tensorboard(browser, board)
                )
    return results


def _lr_tab_in_tensorboard(browser, board) -> float:
    """ms from opening TensorBoard's UI on the LR tab to the tab's first full render."""
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(board.url + "/#lr")
    frame = harness.wait_for_plugin_frame(page)
    frame.wait_for_function(_HAS_FIRST_RENDER, timeout=120_000)
    # The iframe's clock starts with the iframe: add the time before it.
    offset = frame.evaluate("performance.timeOrigin") - page.evaluate("performance.timeOrigin")
    first_render = offset + _mark(frame, "lr:first-render")
    context.close()
    return first_render


def compare_with_time_series(logdir: Path, repeats: int, runs: int, steps: int) -> dict:
    """The LR tab and TensorBoard's Time Series dashboard, each opened in TensorBoard's UI.

    Both from the page's navigation start, alternating, cold browser cache: the
    LR tab until its first full render (`lr:first-render`, in the iframe);
    Time Series until its last `timeSeries` response has arrived (its charts
    draw in a worker after that, so this favours Time Series).
    """
    results: dict[str, list[float]] = {"lr_tab": [], "time_series_data_in": []}
    with harness.TensorBoardProcess(logdir) as board:
        _wait_until_loaded(board, runs, steps)
        _wait_until_scalars_loaded(board, runs, steps)
        with harness.browser() as browser:
            for _ in range(repeats):
                results["lr_tab"].append(_lr_tab_in_tensorboard(browser, board))

                context = browser.new_context(viewport=VIEWPORT)
                page = context.new_page()
                page.goto(board.url + "/#timeseries")
                page.wait_for_load_state("networkidle", timeout=120_000)
                results["time_series_data_in"].append(
                    page.evaluate(
                        "Math.max(...performance.getEntriesByType('resource')"
                        ".filter((e) => e.name.includes('/timeSeries')).map((e) => e.responseEnd))"
                    )
                )
                context.close()
    return results


def _tensorboard_json(board, path: str, **params) -> object:
    query = f"?{urllib.parse.urlencode(params)}" if params else ""
    with urllib.request.urlopen(f"{board.url}{path}{query}", timeout=30) as response:
        return json.load(response)


def _wait_until_scalars_loaded(board, runs: int, steps: int, timeout: float = 900) -> None:
    """Waits until TensorBoard's scalars plugin has read the last step of every run."""
    deadline = time.monotonic() + timeout
    while True:
        tags = _tensorboard_json(board, "/data/plugin/scalars/tags")
        done = [
            run
            for run in tags
            if "learning_rate" in tags[run]
            and _tensorboard_json(
                board, "/data/plugin/scalars/scalars", run=run, tag="learning_rate"
            )[-1][1]
            >= steps - 1
        ]
        if len(done) >= runs:
            return
        if time.monotonic() > deadline:
            raise TimeoutError(f"scalars of {len(done)} of {runs} runs loaded")
        time.sleep(2)


VIEWPORT = {"width": 1600, "height": 1000}
_HAS_FIRST_RENDER = "performance.getEntriesByName('lr:first-render').length > 0"


def _wait_until_loaded(board, runs: int, steps: int, timeout: float = 600) -> None:
    """Waits until TensorBoard has read every step of every run."""
    deadline = time.monotonic() + timeout
    listed = board.wait_for_runs(runs, timeout=timeout)
    for run in listed:
        while True:
            total = board.get_json("series", run=run["name"], name="learning_rate", max_points=10)[
                "total"
            ]
            if total >= steps:
                break
            if time.monotonic() > deadline:
                raise TimeoutError(f"{run['name']}: {total} of {steps} steps loaded")
            time.sleep(1)


def _open(browser, url: str):
    context = browser.new_context(viewport=VIEWPORT)
    page = context.new_page()
    page.goto(url)
    page.wait_for_function(_HAS_FIRST_RENDER, timeout=120_000)
    return page


def _mark(frame, name: str) -> float:
    return frame.evaluate(f"performance.getEntriesByName({json.dumps(name)})[0].startTime")


def _batch_wait(frame) -> float:
    """ms from sending the first `batch` request to its first byte: the server's share."""
    return frame.evaluate(
        "(() => { const e = performance.getEntriesByType('resource')"
        ".find((e) => e.name.includes('/batch?')); return e.responseStart - e.requestStart; })()"
    )


def _last_measure(frame, name: str) -> float:
    return frame.evaluate(
        f"(() => {{ const e = performance.getEntriesByName({json.dumps(name)}); "
        "return e[e.length - 1].duration; })()"
    )


def _loads(frame) -> int:
    return int(frame.evaluate("document.querySelector('.lr-app').dataset.loads"))


def _zoom(page, frame) -> None:
    """Drag-selects 40%..45% of the main chart and waits for the re-fetched redraw."""
    loads = _loads(frame)
    box = frame.locator(".lr-main-chart .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
    page.mouse.up()
    frame.wait_for_function(
        f"Number(document.querySelector('.lr-app').dataset.loads) > {loads}", timeout=60_000
    )
    frame.wait_for_function(
        "performance.getEntriesByName('lr:zoom-refetch').length > 0", timeout=60_000
    )


def _reset(frame) -> float:
    """Double-clicks the main chart; the time until every run is drawn whole again, ms."""
    loads = _loads(frame)
    started = frame.evaluate("performance.now()")
    frame.locator(".lr-main-chart .u-over").dblclick()
    frame.wait_for_function(
        f"Number(document.querySelector('.lr-app').dataset.loads) > {loads}", timeout=60_000
    )
    return frame.evaluate("performance.now()") - started


def print_figures(title: str, results: dict[str, list[float]]) -> None:
    """Each timing's median and range, in ms."""
    print(f"{title}, median (min-max), ms")
    for key, values in results.items():
        median, low, high = statistics.median(values), min(values), max(values)
        print(f"  {key:28s} {median:8.1f}  ({low:.1f}-{high:.1f})")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", type=Path, help="reused when it already holds the runs")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    parser.add_argument(
        "--compare-runs",
        type=int,
        default=20,
        help="runs also written as scalars, to open in TensorBoard's Time Series (0: none)",
    )
    parser.add_argument(
        "--tensorboard-flag",
        action="append",
        default=[],
        help="an extra tensorboard flag, e.g. --tensorboard-flag=--load_fast=false (repeatable)",
    )
    args = parser.parse_args()

    temporary = None
    if args.logdir is None:
        temporary = tempfile.TemporaryDirectory(prefix="lr-frontend-bench-")
        args.logdir = Path(temporary.name)
    started = time.perf_counter()
    generate(args.logdir, args.runs, args.steps)
    print(f"generated in {time.perf_counter() - started:.0f} s")

    results = measure(args.logdir, args.repeats, args.runs, args.steps, args.tensorboard_flag)
    flags = " ".join(args.tensorboard_flag) or "default flags"
    print_figures(
        f"{args.runs} runs x {args.steps:,} steps, tensorboard {flags}, {args.repeats} repeats",
        results,
    )
    if args.compare_runs:
        compare_dir = args.logdir.with_name(args.logdir.name + "-time-series")
        generate(compare_dir, args.compare_runs, args.steps, scalars=True)
        comparison = compare_with_time_series(
            compare_dir, args.repeats, args.compare_runs, args.steps
        )
        print_figures(f"{args.compare_runs} runs, in TensorBoard's UI", comparison)
        results.update({f"compare_{key}": values for key, values in comparison.items()})
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if temporary is not None:
        temporary.cleanup()


if __name__ == "__main__":
    main()
