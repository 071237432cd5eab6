"""Latency of the LR plugin's `series` route on a 1,000,000-step run, and TensorBoard's load time.

What is measured (docs/ARCHITECTURE.md, "Performance budget": `series` for a 1M-step run,
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
from importlib.metadata import entry_points
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
from tensorboard.data import server_ingester  # noqa: E402
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


def tensorboard_flags(logdir: Path):
    """TensorBoard's flags for `--logdir`, from its own parser (the loader's fix_flags runs)."""
    tensorboard = program.TensorBoard(
        plugins=[core_plugin.CorePluginLoader(), loader.LearningRatePluginLoader]
    )
    tensorboard.configure(argv=["", "--logdir", str(logdir)])
    return tensorboard.flags


def python_provider(flags, logdir: Path):
    """The Python loader, as TensorBoard's LocalDataIngester builds it; loads synchronously."""
    size_guidance = dict(data_ingester.DEFAULT_TENSOR_SIZE_GUIDANCE)
    size_guidance.update(flags.samples_per_plugin)
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE, tensor_size_guidance=size_guidance
    )
    multiplexer.AddRunsFromDirectory(str(logdir))
    multiplexer.Reload()
    return data_provider.MultiplexerDataProvider(multiplexer, str(logdir)), lambda: None


def rust_provider(flags, logdir: Path):
    """The Rust data server, started as `--load_fast=true` starts it; loads in the background."""
    ingester = server_ingester.SubprocessServerDataIngester(
        server_binary=server_ingester.get_server_binary(),
        logdir=str(logdir),
        reload_interval=flags.reload_interval,
        channel_creds_type=flags.grpc_creds_type,
        samples_per_plugin=flags.samples_per_plugin,
    )
    ingester.start()
    # The server exits when its stdin closes (it is started with --die-after-stdin).
    return ingester.data_provider, ingester._stdin_handle.close


def in_process(logdir: Path, steps: int, calls: int, make_provider) -> dict:
    """Server time of each query through TensorBoard's WSGI app, in this process."""
    flags = tensorboard_flags(logdir)
    start = time.perf_counter()
    provider, stop = make_provider(flags, logdir)
    try:
        context = base_plugin.TBContext(data_provider=provider, flags=flags, logdir=str(logdir))
        plugin = loader.LearningRatePluginLoader().load(context)
        client = werkzeug_test.Client(
            application.TensorBoardWSGI([plugin], data_provider=provider), wrappers.Response
        )
        ready = {"run": RUN, "name": "learning_rate", "max_points": "10"}
        while True:
            response = client.get("/data/plugin/lr/series", query_string=ready)
            if response.status_code == 200 and response.get_json()["total"] == steps:
                break
            if time.perf_counter() - start > READY_TIMEOUT_SECONDS:
                raise RuntimeError(f"the run never loaded: {response.get_data(as_text=True)}")
            time.sleep(0.1)
        results = {"load_s": time.perf_counter() - start, "queries": {}}
        # The readiness poll decoded the run: the first call below is the first of each
        # query, but not the first read of the run. Report that one apart.
        headers = {"Accept-Encoding": "gzip"}
        for label, params in queries(steps).items():
            timings = []
            for _ in range(calls + 1):
                started = time.perf_counter()
                response = client.get(
                    "/data/plugin/lr/series", query_string=params, headers=headers
                )
                body = response.get_data()  # Drain the body: part of serving it.
                timings.append((time.perf_counter() - started) * 1000)
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
    finally:
        stop()


def cold_first_read(logdir: Path, steps: int) -> float:
    """Milliseconds of the very first `series` call: it reads and decodes the whole run."""
    flags = tensorboard_flags(logdir)
    provider, stop = python_provider(flags, logdir)
    context = base_plugin.TBContext(data_provider=provider, flags=flags, logdir=str(logdir))
    client = werkzeug_test.Client(
        application.TensorBoardWSGI(
            [loader.LearningRatePluginLoader().load(context)], data_provider=provider
        ),
        wrappers.Response,
    )
    params = next(iter(queries(steps).values()))
    started = time.perf_counter()
    client.get("/data/plugin/lr/series", query_string=params).get_data()
    stop()
    return (time.perf_counter() - started) * 1000


def plugin_path() -> list[str]:
    """`PYTHONPATH` entries for a `tensorboard` process that finds this checkout's plugin.

    When tb-lr-plugin is not installed, a minimal distribution's metadata
    declaring the entry point (as pip would) is written to a scratch directory.
    """
    paths = [str(REPO_ROOT)]
    if not any(point.name == "lr" for point in entry_points(group="tensorboard_plugins")):
        shim = Path(tempfile.mkdtemp(prefix="lr_entry_point_"))
        info = shim / "tb_lr_plugin_checkout-0.0.dist-info"
        info.mkdir()
        (info / "METADATA").write_text("Metadata-Version: 2.1\nName: tb-lr-plugin-checkout\n")
        (info / "entry_points.txt").write_text(
            "[tensorboard_plugins]\nlr = tb_lr_plugin.plugin.loader:LearningRatePluginLoader\n"
        )
        paths.append(str(shim))
    return paths


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
    environment = dict(os.environ, PYTHONPATH=os.pathsep.join(plugin_path()))
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
    print(results["machine"])
    if "written_s" in results:
        print(f"writing the run: {results['written_s']:.1f} s")
    print(f"first series call after a load (reads + decodes the run): {results['cold_ms']:.0f} ms")
    for name, row in results["in_process"].items():
        print(f"\nIn process, {name}")
        print(f"{'server time (WSGI call, gzip)':<45}{'first':>9}{'median':>9}{'p90':>9}{'max':>9}")
        for label, query in row["queries"].items():
            within = "ok" if query["median_ms"] <= BUDGET_MS else "OVER BUDGET"
            print(
                f"{label:<45}{query['first_call_ms']:>7.1f}ms{query['median_ms']:>7.1f}ms"
                f"{query['p90_ms']:>7.1f}ms{query['max_ms']:>7.1f}ms  "
                f"{query['points']:,} of {query['total']:,} points, {within}"
            )
    for load_fast, row in results.get("processes", {}).items():
        print(
            f"\ntensorboard --load_fast={load_fast}: all {results['steps']:,} steps served "
            f"{row['load_s']:.1f} s after the process started"
        )
        print(f"{'HTTP round trip (client side)':<45}{'first':>9}{'median':>9}{'p90':>9}")
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
        "machine": f"{platform.machine()}, {os.cpu_count()} cores, "
        f"Python {platform.python_version()}, {platform.platform()}",
    }
    scratch = None
    logdir = args.logdir
    if logdir is None:
        scratch = tempfile.mkdtemp(prefix="lr_series_latency_")
        logdir = Path(scratch)
    try:
        if not (logdir / RUN).exists():
            results["written_s"] = write_run(logdir, args.steps)
        results["cold_ms"] = cold_first_read(logdir, args.steps)
        results["in_process"] = {
            "Python loader": in_process(logdir, args.steps, args.calls, python_provider),
            "Rust data server": in_process(logdir, args.steps, args.calls, rust_provider),
        }
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
