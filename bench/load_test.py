"""Load test: 8 clients poll `runs` and `series` of 200 runs on a real `tensorboard`.

Writes its own logdir of 200 small runs with the real writer
(`tb_lr_plugin.LearningRateWriter`, a custom loop per run), starts
`tensorboard --logdir ... --host 127.0.0.1` with the chosen loader, waits until
every run is listed, then runs 8 client threads for 30 s. Each client loops:
`runs`, then `series` of a random run's `learning_rate` (half of the time with
`max_points=2000`, half every point). Every `series` answer is checked against
the rate the schedule gave at each of its steps (the writer saves them beside
the runs), and every `runs` answer must list all runs. Reported: requests,
throughput (requests per second, both routes), errors (any status but 200, a
body that is not JSON, a connection error, a wrong answer), latency
percentiles per route, and the peak resident memory (VmHWM) of the
tensorboard process and, with `--load_fast=true`, of its data-server child.

    .venv/bin/python bench/load_test.py --load-fast false --json bench/results-load-python.json
    .venv/bin/python bench/load_test.py --load-fast true --json bench/results-load-rust.json

Exits non-zero when any request failed.
"""

from __future__ import annotations

import argparse
import http.client
import json
import os
import random
import subprocess
import sys
import tempfile
import threading
import time
import urllib.parse
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1] / "tests" / "browser"))
import harness  # tests/browser: the TensorBoard process
from process_stats import children, peak_rss_kib, percentiles, process_name  # bench/

ROUTES = ("runs", "series")

_WRITER = """
import sys, warnings
import json, pathlib
import keras, numpy as np, tensorflow as tf
import tb_lr_plugin as tblr

warnings.simplefilter("ignore")
logdir, runs, steps = sys.argv[1], int(sys.argv[2]), int(sys.argv[3])
for index in range(runs):
    schedule = keras.optimizers.schedules.CosineDecay(0.1, steps, warmup_target=0.2,
                                                      warmup_steps=steps // 10)
    if index == 0:  # The ground truth: every run applies the same schedule.
        rates = [float(np.float32(schedule(step))) for step in range(steps)]
        pathlib.Path(logdir).mkdir(parents=True, exist_ok=True)
        pathlib.Path(logdir, "expected_learning_rate.json").write_text(json.dumps(rates))
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


def wrong_answer(route: str, body: dict, run_names: list[str], expected: list[float]) -> str:
    """What is wrong with a 200 answer, or `""`: all runs listed, each rate the schedule's."""
    if route == "runs":
        listed = [run["name"] for run in body["runs"]]
        return "" if listed == run_names else f"runs lists {len(listed)} of {len(run_names)}"
    if not body["steps"]:
        return "no points"
    wrong = [
        (step, value)
        for step, value in zip(body["steps"], body["values"], strict=True)
        if value != expected[step]
    ]
    return f"{len(wrong)} wrong rates, first {wrong[0]}" if wrong else ""


def client(
    port: int,
    run_names: list[str],
    expected: list[float],
    stop_at: float,
    seed: int,
    latencies: dict[str, list[float]],
    errors: list[str],
    lock: threading.Lock,
) -> None:
    """Polls `runs` and `series` until `stop_at`, checking every answer; one connection."""
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
                elif problem := wrong_answer(route, json.loads(body), run_names, expected):
                    failures.append(f"{path}: {problem}")
                else:
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
            expected = json.loads((logdir / "expected_learning_rate.json").read_text())
            loaded = time.monotonic() - started
            pid = board._process.pid
            latencies: dict[str, list[float]] = {route: [] for route in ROUTES}
            errors: list[str] = []
            lock = threading.Lock()
            stop_at = time.monotonic() + args.seconds
            threads = [
                threading.Thread(
                    target=client,
                    args=(board.port, run_names, expected, stop_at, seed, latencies, errors, lock),
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
        "requests_per_s": round(sum(map(len, latencies.values())) / args.seconds, 1),
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
