"""Load test: 8 clients poll `runs` and `series` of 200 runs on a real `tensorboard`.

Writes its own logdir of 200 small runs with the real writer
(`tb_lr_plugin.LearningRateWriter`, a custom loop per run), starts
`tensorboard --logdir ... --host 127.0.0.1` with the chosen loader, waits until
every run is listed, then runs 8 client threads for 30 s. Each client loops:
`runs`, then `series` of a random run's `learning_rate` (half of the time with
`max_points=2000`, half every point). Reported: requests, errors (any status
but 200, a body that is not JSON, a connection error), latency percentiles per
route, and the peak resident memory (VmHWM) of the tensorboard process and,
with `--load_fast=true`, of its data-server child.

    .venv/bin/python bench/load_test.py --load-fast false --json bench/results-load-python.json
    .venv/bin/python bench/load_test.py --load-fast true --json bench/results-load-rust.json

Exits non-zero when any request failed.
"""

from __future__ import annotations

import argparse
import contextlib
import http.client
import json
import os
import random
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
import harness  # tests/browser: the TensorBoard process

ROUTES = ("runs", "series")

_WRITER = """
import sys, warnings
import keras, numpy as np, tensorflow as tf
import tb_lr_plugin as tblr

warnings.simplefilter("ignore")
logdir, runs, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for index in range(runs):
    schedule = keras.optimizers.schedules.CosineDecay(0.1, steps, warmup_target=0.2,
                                                      warmup_steps=steps // 10)
    optimizer = keras.optimizers.SGD(schedule)
    variable = keras.Variable(np.zeros((2,), "float32"))
    optimizer.build([variable])
    with tblr.LearningRateWriter(logdir, optimizer, total_steps=steps,
                                 run_name=f"run_{index:03d}") as writer:
        for step in range(steps):
            if step % 100 == 0:
                writer.begin_epoch(step // 100)
            optimizer.apply_gradients([(tf.ones((2,)), variable)])
            writer.log()
"""


def write_logdir(logdir: Path, runs: int, steps: int) -> None:
    """Writes `runs` runs of `steps` steps each with the real writer (a subprocess)."""
    script = logdir.parent / "write_load_logs.py"
    script.write_text(_WRITER)
    environment = dict(
        os.environ,
        TF_CPP_MIN_LOG_LEVEL="2",
        PYTHONPATH=str(harness.REPO_ROOT),
        CUDA_VISIBLE_DEVICES="",
    )
    subprocess.run(
        [sys.executable, str(script), str(logdir), str(runs), str(steps)],
        env=environment,
        check=True,
    )


def peak_rss_kib(pid: int) -> int | None:
    """VmHWM (peak resident set) of a live process, in KiB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1])
    except OSError:
        return None
    return None


def children(pid: int) -> list[int]:
    """Direct children of `pid` (from /proc/<pid>/task/*/children)."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):
            found += [int(c) for c in (task / "children").read_text().split()]
    return found


def process_name(pid: int) -> str:
    try:
        return Path(f"/proc/{pid}/comm").read_text().strip()
    except OSError:
        return "?"


def client(
    port: int,
    run_names: list[str],
    stop_at: float,
    seed: int,
    latencies: dict[str, list[float]],
    errors: list[str],
    lock: threading.Lock,
) -> None:
    """Polls `runs` and `series` until `stop_at`; one keep-alive connection."""
    rng = random.Random(seed)
    connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    mine: dict[str, list[float]] = {route: [] for route in ROUTES}
    failures = []
    while time.monotonic() < stop_at:
        for route in ROUTES:
            params = {}
            if route == "series":
                params = {"run": rng.choice(run_names), "name": "learning_rate"}
                if rng.random() < 0.5:
                    params["max_points"] = "2000"
            path = f"/data/plugin/lr/{route}" + (
                "?" + urllib.parse.urlencode(params) if params else ""
            )
            started = time.perf_counter()
            try:
                connection.request("GET", path)
                response = connection.getresponse()
                body = response.read()
                elapsed = time.perf_counter() - started
                if response.status != 200:
                    failures.append(f"{path}: HTTP {response.status} {body[:200]!r}")
                else:
                    json.loads(body)
                    mine[route].append(elapsed)
            except (OSError, http.client.HTTPException, ValueError) as error:
                failures.append(f"{path}: {error!r}")
                connection.close()
                connection = http.client.HTTPConnection("127.0.0.1", port, timeout=60)
    connection.close()
    with lock:
        for route in ROUTES:
            latencies[route] += mine[route]
        errors += failures


def percentiles(values: list[float]) -> dict[str, float]:
    """p50/p90/p99/max in milliseconds."""
    if not values:
        return {}
    cuts = statistics.quantiles(values, n=100, method="inclusive")
    return {
        "p50_ms": round(cuts[49] * 1000, 1),
        "p90_ms": round(cuts[89] * 1000, 1),
        "p99_ms": round(cuts[98] * 1000, 1),
        "max_ms": round(max(values) * 1000, 1),
    }


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--load-fast", choices=["true", "false"], default="false")
    parser.add_argument("--runs", type=int, default=200)
    parser.add_argument("--steps", type=int, default=100, help="steps per run")
    parser.add_argument("--clients", type=int, default=8)
    parser.add_argument("--seconds", type=float, default=30.0)
    parser.add_argument("--logdir", type=Path, help="reuse a logdir written by this script")
    parser.add_argument("--json", type=Path, help="also write the results here")
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="lr-load-") as scratch:
        logdir = args.logdir
        if logdir is None or not logdir.exists():
            logdir = logdir or Path(scratch) / "logs"
            started = time.monotonic()
            write_logdir(logdir, args.runs, args.steps)
            print(f"wrote {args.runs} runs in {time.monotonic() - started:.0f} s", flush=True)
        with harness.TensorBoardProcess(logdir, f"--load_fast={args.load_fast}") as board:
            started = time.monotonic()
            run_names = [run["name"] for run in board.wait_for_runs(args.runs, timeout=600)]
            loaded = time.monotonic() - started
            pid = board._process.pid
            latencies: dict[str, list[float]] = {route: [] for route in ROUTES}
            errors: list[str] = []
            lock = threading.Lock()
            stop_at = time.monotonic() + args.seconds
            threads = [
                threading.Thread(
                    target=client,
                    args=(board.port, run_names, stop_at, seed, latencies, errors, lock),
                )
                for seed in range(args.clients)
            ]
            for thread in threads:
                thread.start()
            for thread in threads:
                thread.join()
            memory = {f"tensorboard (pid {pid})": peak_rss_kib(pid)}
            for child in children(pid):
                memory[f"{process_name(child)} (pid {child})"] = peak_rss_kib(child)

    result = {
        "load_fast": args.load_fast,
        "runs": len(run_names),
        "steps_per_run": args.steps,
        "clients": args.clients,
        "seconds": args.seconds,
        "listed_after_s": round(loaded, 1),
        "requests": {route: len(latencies[route]) for route in ROUTES},
        "errors": len(errors),
        "first_errors": errors[:5],
        "latency": {route: percentiles(latencies[route]) for route in ROUTES},
        "peak_rss_mib": {
            name: round(kib / 1024, 1) if kib else None for name, kib in memory.items()
        },
    }
    print(json.dumps(result, indent=2))
    if args.json:
        args.json.write_text(json.dumps(result, indent=2) + "\n")
    return 1 if errors else 0


if __name__ == "__main__":
    sys.exit(main())
