"""Latency of the LR plugin's `series` route on a 1,000,000-step run, and TensorBoard's load time.

What is measured (DESIGN.md, "Performance budget": `series` for a 1M-step run,
max_points=2000, <= 100 ms server time):

1. In process, server time: TensorBoard's WSGI app with the core and LR plugins
   over the Python loader's multiplexer, built as TensorBoard builds it (its own
   flag parser, so the plugin's `fix_flags` applies; the same size guidance),
   called through werkzeug's test client with `Accept-Encoding: gzip` as a
   browser sends it. The timed span is the whole WSGI call: routing, query
   parsing, lookup, downsampling, JSON encoding and gzip. Queries:
   * `max_points=2000` over all 1,000,000 steps;
   * a full-resolution window of 10,000 steps (`start`/`end`, no `max_points`).
   The first call of each (which decodes the run's chunks and fills the cache)
   is reported apart; then the median and 90th percentile of `--calls` calls.
2. Real `tensorboard` processes, one per loader (`--load_fast=false`: Python;
   `--load_fast=true`: the Rust data server), started as a user does (no
   `--samples_per_plugin`): the time from process start until `series` reports
   all 1,000,000 steps (polled every 0.1 s), then the client-side round trip
   of the same two queries over HTTP on 127.0.0.1 (median of `--calls`).

The 1M-step run is written by the real `LearningRateWriter` from a custom loop
(SGD with a warm-up cosine schedule; a `tf.function` runs 1000 updates per call
and `log()` is called once per update after it), in a subprocess, so this
process never imports TensorFlow. `--logdir` reuses a directory written before.

Usage (from the repository root):

    .venv/bin/python bench/series_latency.py                     # everything
    .venv/bin/python bench/series_latency.py --logdir /tmp/lr1m  # keep/reuse the run
    .venv/bin/python bench/series_latency.py --skip-processes    # in-process only
    .venv/bin/python bench/series_latency.py --steps 100000 --calls 5  # quick

No number here is asserted: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parent.parent
# Import the project from this checkout even when it is not installed.
sys.path.insert(0, str(REPO_ROOT))

from tensorboard import program  # noqa: E402
from tensorboard.backend import application  # noqa: E402
from tensorboard.backend.event_processing import (  # noqa: E402
    data_ingester,
    data_provider,
    plugin_event_multiplexer,
)
from tensorboard.plugins import base_plugin  # noqa: E402
from tensorboard.plugins.core import core_plugin  # noqa: E402
from werkzeug import test as werkzeug_test  # noqa: E402
from werkzeug import wrappers  # noqa: E402

from tb_lr_plugin.plugin import loader  # noqa: E402

RUN = "long"
STEPS_PER_CALL = 1000
BUDGET_MS = 100.0
WINDOW_STEPS = 10_000
READY_TIMEOUT_SECONDS = 900

# Written to a file and run in a subprocess: TensorFlow stays out of this process,
# and AutoGraph needs the source of the tf.function.
_WRITER_SCRIPT = """
import sys, warnings
import keras, numpy as np, tensorflow as tf
import tb_lr_plugin as tblr

warnings.simplefilter("ignore")
logdir, total, per_call = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
schedule = keras.optimizers.schedules.CosineDecay(
    0.1, total, warmup_target=0.2, warmup_steps=total // 10
)
optimizer = keras.optimizers.SGD(schedule)
variable = keras.Variable(np.zeros((4,), "float32"))
optimizer.build([variable])


@tf.function
def train(calls):
    for _ in tf.range(calls):
        optimizer.apply_gradients([(tf.ones((4,)), variable)])


with tblr.LearningRateWriter(logdir, optimizer, total_steps=total, run_name="long") as writer:
    for _ in range(total // per_call):
        train(tf.constant(per_call))
        for _ in range(per_call):
            writer.log()
"""


def write_run(logdir: Path, steps: int) -> float:
    """Writes the `long` run; returns the seconds it took."""
    logdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory() as scratch:
        script = Path(scratch) / "write_long_run.py"
        script.write_text(_WRITER_SCRIPT)
        environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO_ROOT))
        start = time.perf_counter()
        subprocess.run(
            [sys.executable, str(script), str(logdir), str(steps), str(STEPS_PER_CALL)],
            env=environment,
            check=True,
        )
        return time.perf_counter() - start


def queries(steps: int) -> dict[str, dict[str, str]]:
    middle = max(0, steps // 2 - WINDOW_STEPS // 2)
    return {
        f"max_points=2000 over {steps:,} steps": {
            "run": RUN,
            "name": "learning_rate",
            "max_points": "2000",
        },
        f"window of {WINDOW_STEPS:,} steps, full resolution": {
            "run": RUN,
            "name": "learning_rate",
            "start": str(middle),
            "end": str(middle + WINDOW_STEPS - 1),
        },
    }


def summarize(samples_ms: list[float]) -> dict[str, float]:
    ordered = sorted(samples_ms)
    return {
        "median_ms": statistics.median(ordered),
        "p90_ms": ordered[min(len(ordered) - 1, int(0.9 * len(ordered)))],
        "max_ms": ordered[-1],
    }


def in_process(logdir: Path, steps: int, calls: int) -> dict:
    """Server time of each query through TensorBoard's WSGI app, in this process."""
    tensorboard = program.TensorBoard(
        plugins=[core_plugin.CorePluginLoader(), loader.LearningRatePluginLoader]
    )
    tensorboard.configure(argv=["", "--logdir", str(logdir)])
    flags = tensorboard.flags
    size_guidance = dict(data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE)
    size_guidance.update(flags.samples_per_plugin)
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE, tensor_size_guidance=size_guidance
    )
    start = time.perf_counter()
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    reload_seconds = time.perf_counter() - start
    provider = data_provider.MultiplexerDataProvider(multiplexer, str(logdir))
    context = base_plugin.TBContext(
        data_provider=provider, flags=flags, logdir=str(logdir), multiplexer=multiplexer
    )
    plugin = loader.LearningRatePluginLoader().load(context)
    client = werkzeug_test.Client(
        application.TensorBoardWSGI([plugin], data_provider=provider), wrappers.Response
    )
    headers = {"Accept-Encoding": "gzip"}
    results = {"multiplexer_reload_s": reload_seconds, "queries": {}}
    for label, params in queries(steps).items():
        timings = []
        for _ in range(calls + 1):
            start = time.perf_counter()
            response = client.get("/data/plugin/lr/series", query_string=params, headers=headers)
            body = response.get_data()  # Drain the body: part of serving it.
            timings.append((time.perf_counter() - start) * 1000)
            assert response.status_code == 200, body
        check = client.get("/data/plugin/lr/series", query_string=params).get_json()
        results["queries"][label] = {
            "first_call_ms": timings[0],
            **summarize(timings[1:]),
            "points": len(check["steps"]),
            "total": check["total"],
            "gzip_bytes": len(body),
        }
    return results


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def get_json(url: str):
    request = urllib.request.Request(url, headers={"Accept-Encoding": "identity"})
    with urllib.request.urlopen(request, timeout=60) as response:
        return json.loads(response.read())


def tensorboard_process(logdir: Path, steps: int, load_fast: str, calls: int) -> dict:
    """Load time and HTTP round trips of a real `tensorboard` process."""
    port = free_port()
    base = f"http://127.0.0.1:{port}/data/plugin/lr/series?"
    ready = base + urllib.parse.urlencode({"run": RUN, "name": "learning_rate", "max_points": 10})
    environment = dict(os.environ, PYTHONPATH=str(REPO_ROOT))
    command = [
        sys.executable,
        "-m",
        "tensorboard.main",
        "--logdir",
        str(logdir),
        "--port",
        str(port),
        "--host",
        "127.0.0.1",
        f"--load_fast={load_fast}",
    ]
    with tempfile.TemporaryFile() as log:
        start = time.perf_counter()
        process = subprocess.Popen(command, env=environment, stdout=log, stderr=subprocess.STDOUT)
        try:
            loaded_seconds = None
            while time.perf_counter() - start < READY_TIMEOUT_SECONDS:
                if process.poll() is not None:
                    log.seek(0)
                    raise RuntimeError(f"tensorboard exited:\n{log.read().decode()[-3000:]}")
                try:
                    if get_json(ready)["total"] == steps:
                        loaded_seconds = time.perf_counter() - start
                        break
                except OSError:
                    pass  # Not listening or the run not listed yet.
                time.sleep(0.1)
            if loaded_seconds is None:
                raise RuntimeError("tensorboard never loaded the whole run")
            results = {"load_s": loaded_seconds, "queries": {}}
            for label, params in queries(steps).items():
                url = base + urllib.parse.urlencode(params)
                timings = []
                for _ in range(calls + 1):
                    request = urllib.request.Request(url, headers={"Accept-Encoding": "gzip"})
                    started = time.perf_counter()
                    with urllib.request.urlopen(request, timeout=60) as response:
                        response.read()
                    timings.append((time.perf_counter() - started) * 1000)
                results["queries"][label] = {"first_call_ms": timings[0], **summarize(timings[1:])}
            return results
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def report(results: dict) -> None:
    print(f"\n{results['steps']:,}-step run; budget {BUDGET_MS:.0f} ms server time per call")
    if "written_s" in results:
        print(f"writing the run: {results['written_s']:.1f} s")
    inproc = results.get("in_process")
    if inproc:
        print(
            f"\nIn process (Python loader), WSGI call incl. gzip; "
            f"multiplexer reload {inproc['multiplexer_reload_s']:.2f} s"
        )
        print(f"{'query':<45}{'first':>9}{'median':>9}{'p90':>9}{'max':>9}  points")
        for label, row in inproc["queries"].items():
            within = "ok" if row["median_ms"] <= BUDGET_MS else "OVER BUDGET"
            print(
                f"{label:<45}{row['first_call_ms']:>7.1f}ms{row['median_ms']:>7.1f}ms"
                f"{row['p90_ms']:>7.1f}ms{row['max_ms']:>7.1f}ms  {row['points']:,} "
                f"of {row['total']:,}  {within}"
            )
    for loader_name, row in results.get("processes", {}).items():
        print(
            f"\ntensorboard --load_fast={loader_name}: whole run served {row['load_s']:.1f} s after start"
        )
        print(f"{'query (HTTP round trip)':<45}{'first':>9}{'median':>9}{'p90':>9}")
        for label, query in row["queries"].items():
            print(
                f"{label:<45}{query['first_call_ms']:>7.1f}ms{query['median_ms']:>7.1f}ms"
                f"{query['p90_ms']:>7.1f}ms"
            )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=1_000_000)
    parser.add_argument("--calls", type=int, default=20, help="timed calls per query")
    parser.add_argument("--logdir", type=Path, help="reuse (or write and keep) the run here")
    parser.add_argument("--skip-processes", action="store_true", help="in-process only")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    results = {
        "steps": args.steps,
        "calls": args.calls,
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, Python {platform.python_version()}",
    }
    scratch = None
    logdir = args.logdir
    if logdir is None:
        scratch = tempfile.mkdtemp(prefix="lr_series_latency_")
        logdir = Path(scratch)
    try:
        if not (logdir / RUN).exists():
            results["written_s"] = write_run(logdir, args.steps)
        results["in_process"] = in_process(logdir, args.steps, args.calls)
        if not args.skip_processes:
            results["processes"] = {
                load_fast: tensorboard_process(logdir, args.steps, load_fast, args.calls)
                for load_fast in ("false", "true")
            }
    finally:
        if scratch is not None:
            shutil.rmtree(scratch, ignore_errors=True)
    report(results)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
