"""Server time of the `update_ratios` route (the LR tab's heat map) for a run with many layers.

What is measured: TensorBoard's WSGI app with the LR plugin over the Python
loader (built as `series_latency.py` builds it), called through werkzeug's
test client with `Accept-Encoding: gzip`, for `update_ratios?columns=1000&
arrays=packed` (what the tab asks for on a wide screen) over every step and
over a 1,000-step window. The first call decodes every layer's series and is
reported apart; then the median of `--calls` calls.

The run is written by the writer's own `EventSink` (the records `fit` with
`update_ratios=True` writes: one `update_ratio/<layer>` series per layer with
its model position, chunks of 8,192 steps), with log-normal ratios around
1e-3, so this needs neither TensorFlow nor a training.

Usage (from the repository root):

    .venv/bin/python bench/heat_map_latency.py                          # 300 layers, 100,000 steps
    .venv/bin/python bench/heat_map_latency.py --layers 20 --steps 10000

No number here is asserted: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import json
import statistics
import tempfile
import time
from pathlib import Path

import numpy as np
from series_latency import python_provider, tensorboard_flags
from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tb_lr_plugin import event_format
from tb_lr_plugin.plugin import loader
from tb_lr_plugin.writer import event_sink

RUN = "layers"
CHUNK = 8192


def write_run(logdir: Path, layers: int, steps: int) -> None:
    rng = np.random.default_rng(0)
    sink = event_sink.EventSink(str(logdir / RUN))
    for start in range(0, steps, CHUNK):
        chunk_steps = np.arange(start, min(start + CHUNK, steps))
        for layer in range(layers):
            ratios = (10 ** rng.normal(-3, 0.5, len(chunk_steps))).astype(np.float32)
            name = event_format.name_for(event_format.UPDATE_RATIO, leaf=f"model/dense_{layer}")
            chunk = event_format.Chunk(chunk_steps, ratios, 1.7e9 + chunk_steps * 0.01)
            sink.write_points(name, chunk, position=layer)
    sink.close()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--layers", type=int, default=300)
    parser.add_argument("--steps", type=int, default=100_000)
    parser.add_argument("--calls", type=int, default=5)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as scratch:
        logdir = Path(scratch)
        write_run(logdir, args.layers, args.steps)
        flags = tensorboard_flags(logdir)
        provider, stop = python_provider(flags, logdir)
        try:
            context = base_plugin.TBContext(data_provider=provider, flags=flags, logdir=scratch)
            plugin = loader.LearningRatePluginLoader().load(context)
            client = werkzeug_test.Client(
                application.TensorBoardWSGI([plugin], data_provider=provider), wrappers.Response
            )
            middle = args.steps // 2
            queries = {
                "every step": {},
                "1,000-step window": {"start": str(middle), "end": str(middle + 999)},
            }
            results = {"layers": args.layers, "steps": args.steps, "queries": {}}
            for label, window in queries.items():
                params = {"run": RUN, "columns": "1000", "arrays": "packed", **window}
                timings = []
                for _ in range(args.calls + 1):
                    started = time.perf_counter()
                    response = client.get(
                        "/data/plugin/lr/update_ratios",
                        query_string=params,
                        headers={"Accept-Encoding": "gzip"},
                    )
                    body = response.get_data()
                    timings.append((time.perf_counter() - started) * 1000)
                    assert response.status_code == 200, body
                results["queries"][label] = {
                    "first_call_ms": round(timings[0], 1),
                    "median_ms": round(statistics.median(timings[1:]), 1),
                    "gzip_bytes": len(body),
                }
        finally:
            stop()
    print(json.dumps(results, indent=2))


if __name__ == "__main__":
    main()
