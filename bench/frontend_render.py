"""How fast the LR tab renders a large logdir in headless Chromium.

What is measured (DESIGN.md "Benchmarks in bench/, never as timed assertions"):
20 runs of 100,000 steps each, written by the real `LearningRateWriter`, served by a
real `tensorboard` process, opened in Debian's `chromium` driven by Playwright.

* `first full render`: from navigation start of the plugin's page to the moment the
  frontend has drawn the main chart, its deviation markers and list and the schedule
  panels of every selected run (its `lr:first-render` performance mark). Measured on the
  plugin's iframe page (`/data/plugin_entry.html?name=lr`, what TensorBoard's LR tab
  loads) and, for context, through TensorBoard's whole UI (`/#lr`).
* `zoom redraw`: a drag-select on the main chart; the redraw of the points already
  loaded at the new scale (`lr:zoom-redraw` measure) and the redraw with the window
  re-fetched at full resolution (`lr:zoom-refetch` measure).

The logdir is generated once and reused (pass `--logdir`); each run takes a
`tf.function` that applies 1,000 updates per call, followed by 1,000 `writer.log()`
calls, so 2,000,000 steps are written in a few minutes.

Usage (from the repository root):

    .venv/bin/python bench/frontend_render.py                     # temp logdir
    .venv/bin/python bench/frontend_render.py --logdir runs/bench-frontend --repeats 5

No number here is asserted: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "browser"))

import harness  # noqa: E402  (tests/browser: the TensorBoard process and the browser)

RUNS = 20
STEPS = 100_000
STEPS_PER_CALL = 1000
STEPS_PER_EPOCH = 5000


def generate(logdir: Path, runs: int, steps: int) -> None:
    """Writes `runs` runs of `steps` steps with varied schedules and a few manual assigns."""
    import keras
    import numpy as np
    import tensorflow as tf

    import tb_lr_plugin as tblr

    schedules = keras.optimizers.schedules
    for index in range(runs):
        kind = index % 4
        if index % 5 == 4:
            # A constant rate halved by hand twice: deviations to mark and list.
            schedule = 0.05
        elif kind == 0:
            schedule = schedules.CosineDecay(
                0.0, steps - steps // 10, warmup_target=0.1, warmup_steps=steps // 10
            )
        elif kind == 1:
            schedule = schedules.ExponentialDecay(0.1, steps // 20, 0.9)
        elif kind == 2:
            schedule = schedules.PiecewiseConstantDecay(
                [steps // 3, 2 * steps // 3], [0.1, 0.01, 0.001]
            )
        else:
            schedule = schedules.CosineDecayRestarts(0.05, steps // 8)
        name = f"run_{index:02d}_{'Constant' if isinstance(schedule, float) else type(schedule).__name__}"
        if (logdir / name).is_dir():
            continue
        optimizer = keras.optimizers.SGD(schedule, momentum=0.9)
        variable = keras.Variable(np.zeros((4,), "float32"))
        optimizer.build([variable])
        train = _training_function(tf, optimizer, variable)
        calls = steps // STEPS_PER_CALL
        with tblr.LearningRateWriter(logdir, optimizer, total_steps=steps, run_name=name) as w:
            for call in range(calls):
                if isinstance(schedule, float) and call in (calls // 2, 3 * calls // 4):
                    optimizer.learning_rate.assign(optimizer.learning_rate * 0.5)
                train(tf.constant(STEPS_PER_CALL))
                first = call * STEPS_PER_CALL
                for step in range(first, first + STEPS_PER_CALL):
                    w.log(epoch=step // STEPS_PER_EPOCH)
        print(f"wrote {name}", flush=True)


def _training_function(tf, optimizer, variable):
    # A closure (not default arguments, which tf.function would turn into tensors).
    @tf.function
    def train(calls):
        for _ in tf.range(calls):
            optimizer.apply_gradients([(tf.ones((4,)), variable)])

    return train


def measure(logdir: Path, repeats: int, expected_runs: int) -> dict:
    """Opens the LR tab `repeats` times per page; returns the timings in ms."""
    results: dict[str, list[float]] = {
        "iframe_first_render": [],
        "iframe_main_chart": [],
        "tensorboard_ui_first_render": [],
        "zoom_redraw": [],
        "zoom_refetch": [],
    }
    with harness.TensorBoardProcess(logdir) as board:
        board.wait_for_runs(expected_runs, timeout=600)
        with harness.browser() as browser:
            for _ in range(repeats):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                page.goto(board.plugin_page_url)
                page.wait_for_function("performance.getEntriesByName('lr:first-render').length")
                results["iframe_first_render"].append(_mark(page, "lr:first-render"))
                results["iframe_main_chart"].append(_mark(page, "lr:main-chart"))
                results["zoom_redraw"].append(_zoom(page, page.main_frame, "lr:zoom-redraw"))
                results["zoom_refetch"].append(_measure_of(page.main_frame, "lr:zoom-refetch"))
                page.close()
            for _ in range(repeats):
                page = browser.new_page(viewport={"width": 1400, "height": 900})
                started = time.perf_counter()
                page.goto(board.url + "/#lr")
                frame = harness.wait_for_plugin_frame(page)
                frame.wait_for_function(
                    "performance.getEntriesByName('lr:first-render').length", timeout=60_000
                )
                # The iframe's clock starts when the iframe does: add the time before it.
                inner = _mark_in(frame, "lr:first-render")
                outer = frame.evaluate("performance.timeOrigin") - page.evaluate(
                    "performance.timeOrigin"
                )
                results["tensorboard_ui_first_render"].append(outer + inner)
                del started
                page.close()
    return results


def _mark(page, name: str) -> float:
    return _mark_in(page.main_frame, name)


def _mark_in(frame, name: str) -> float:
    return frame.evaluate(f"performance.getEntriesByName({json.dumps(name)})[0].startTime")


def _measure_of(frame, name: str) -> float:
    return frame.evaluate(
        f"(() => {{ const e = performance.getEntriesByName({json.dumps(name)}); "
        "return e[e.length - 1].duration; })()"
    )


def _zoom(page, frame, name: str) -> float:
    box = frame.locator(".lr-main-chart .u-over").bounding_box()
    y = box["y"] + box["height"] / 2
    page.mouse.move(box["x"] + box["width"] * 0.40, y)
    page.mouse.down()
    page.mouse.move(box["x"] + box["width"] * 0.45, y, steps=5)
    page.mouse.up()
    frame.wait_for_function(
        "performance.getEntriesByName('lr:zoom-refetch').length > 0", timeout=30_000
    )
    return _measure_of(frame, name)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--logdir", type=Path, help="reused when it already holds the runs")
    parser.add_argument("--runs", type=int, default=RUNS)
    parser.add_argument("--steps", type=int, default=STEPS)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--json", type=Path, help="also write the figures here")
    args = parser.parse_args()

    temporary = None
    if args.logdir is None:
        temporary = tempfile.TemporaryDirectory(prefix="lr-frontend-bench-")
        args.logdir = Path(temporary.name)
    existing = [p for p in args.logdir.glob("run_*") if p.is_dir()] if args.logdir.exists() else []
    if len(existing) < args.runs:
        started = time.perf_counter()
        generate(args.logdir, args.runs, args.steps)
        print(f"generated {args.runs} x {args.steps:,} steps in {time.perf_counter() - started:.0f} s")

    results = measure(args.logdir, args.repeats, args.runs)
    print(f"{args.runs} runs x {args.steps:,} steps, {args.repeats} repeats, median (min-max), ms")
    for key, values in results.items():
        print(
            f"  {key:28s} {statistics.median(values):8.1f}  ({min(values):.1f}-{max(values):.1f})"
        )
    if args.json:
        args.json.write_text(json.dumps(results, indent=2))
    if temporary is not None:
        temporary.cleanup()


if __name__ == "__main__":
    main()
