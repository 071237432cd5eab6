"""Wall-time overhead of `LearningRateLogger` under `MirroredStrategy` on two logical CPUs.

What is measured: the ratio of the wall time of `model.fit` with the logger to
the wall time of the same `fit` without callbacks, both under
`tf.distribute.MirroredStrategy` over two logical CPU devices (the one CPU
split with `tf.config.set_logical_device_configuration`). The workload is
bench/overhead.py's (its data, model and `Adam(CosineDecay)`; the global batch
of 32 is split 16 + 16 over the replicas), with fewer steps by default because
a mirrored step costs several times a plain one. Variants:

* `bare`: no callbacks (the baseline);
* `lr_logger`: `tb_lr_plugin.LearningRateLogger(log_dir)`;
* `lr_logger_record4`: the same, with 4 `tblr.record` calls per step in a
  layer (under a strategy each is a mean over replicas: one all-reduce each).

How (as bench/overhead.py, whose helpers this imports): one process, one
untimed warm-up fit per variant, then per repeat every variant once in an
order rotated between repeats; each run builds a fresh model from the same
initial weights inside `strategy.scope()`; the timed span is callback
construction plus `fit`. The ratio is computed per repeat against that
repeat's `bare` run; the table shows the median of the ratios, their range,
the ratio of the median times and the median ratio of CPU times (process
time, which waiting for a busy machine's cores inflates less than wall time).

Usage (from the repository root):

    .venv/bin/python bench/distributed_overhead.py
    .venv/bin/python bench/distributed_overhead.py --json bench/results-mirrored.json
    .venv/bin/python bench/distributed_overhead.py --epochs 1 --steps-per-epoch 100 --repeats 1

No number here is asserted: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from datetime import date
from pathlib import Path
from typing import Any

# Before the first TensorFlow import (bench/overhead.py sets them too).
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")
# bench/overhead.py, imported as `overhead`: the workload's data and model.
sys.path.insert(0, str(Path(__file__).resolve().parent))

import keras
import overhead
import tensorflow as tf

VARIANTS = ("bare", "lr_logger", "lr_logger_record4")


def mirrored_strategy() -> tf.distribute.MirroredStrategy:
    """Two logical CPUs and a `MirroredStrategy` over them; before TF uses a device."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def timed_fit(
    strategy: tf.distribute.Strategy,
    variant: str,
    log_dir: str,
    weights: list,
    data: tuple,
    epochs: int,
) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `variant`: callback construction plus `fit`."""
    steps_per_epoch = len(data[0]) // overhead.BATCH_SIZE
    keras.backend.clear_session()
    gc.collect()
    with strategy.scope():
        model = overhead.build_model(
            weights, 1, epochs * steps_per_epoch, record=variant.endswith("record4")
        )
    keras.utils.set_random_seed(overhead.MODEL_SEED)
    start = time.perf_counter()
    cpu_start = time.process_time()
    callbacks = [] if variant == "bare" else [overhead.tblr.LearningRateLogger(log_dir)]
    model.fit(
        data[0],
        data[1],
        batch_size=overhead.BATCH_SIZE,
        epochs=epochs,
        callbacks=callbacks,
        verbose=0,
    )
    return time.perf_counter() - start, time.process_time() - cpu_start


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Every repeat of every variant: raw times, per-repeat ratios and a summary."""
    strategy = mirrored_strategy()
    variants = ["bare", *(name for name in args.variants if name != "bare")]
    data = overhead.make_data(args.steps_per_epoch)
    total_steps = args.epochs * args.steps_per_epoch
    with strategy.scope():
        weights = overhead.build_model(None, 1, total_steps).get_weights()
    seconds: dict[str, list[float]] = {name: [] for name in variants}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in variants}
    ratios: dict[str, list[float]] = {name: [] for name in variants}
    cpu_ratios: dict[str, list[float]] = {name: [] for name in variants}
    load: dict[str, list[float]] = {name: [] for name in variants}
    logged: dict[str, int] = {}
    with tempfile.TemporaryDirectory(prefix="tblr-bench-mirrored-") as root:
        warmup = overhead.make_data(min(overhead.WARMUP_STEPS, args.steps_per_epoch))
        for name in variants:
            timed_fit(strategy, name, os.path.join(root, f"warmup-{name}"), weights, warmup, 1)
        print("warm-up done", flush=True)
        for repeat in range(args.repeats):
            wall: dict[str, float] = {}
            cpu_time: dict[str, float] = {}
            for name in overhead.rotated(variants, repeat):
                log_dir = os.path.join(root, f"{name}-{repeat}")
                wall[name], cpu = timed_fit(strategy, name, log_dir, weights, data, args.epochs)
                seconds[name].append(wall[name])
                cpu_seconds[name].append(cpu)
                cpu_time[name] = cpu
                # Other processes are the main noise: keep the load beside each run.
                load[name].append(os.getloadavg()[0])
                stats = overhead.event_file_stats(log_dir)
                logged[name] = stats["learning_rate_points"]
                shutil.rmtree(log_dir, ignore_errors=True)
                print(
                    f"repeat {repeat + 1}/{args.repeats} {name:<18} {wall[name]:8.3f} s wall "
                    f"{cpu:8.3f} s cpu load {load[name][-1]:.2f}",
                    flush=True,
                )
            for name in variants:
                ratios[name].append(wall[name] / wall["bare"])
                cpu_ratios[name].append(cpu_time[name] / cpu_time["bare"])
    bare_median = statistics.median(seconds["bare"])
    summary = {
        name: {
            "median_seconds": statistics.median(seconds[name]),
            "median_ratio": statistics.median(ratios[name]),
            "ratio_of_medians": statistics.median(seconds[name]) / bare_median,
            "min_ratio": min(ratios[name]),
            "max_ratio": max(ratios[name]),
            # Less sensitive than wall time to other processes on a busy machine.
            "median_cpu_ratio": statistics.median(cpu_ratios[name]),
            "learning_rate_points": logged[name],
        }
        for name in variants
    }
    return {
        "config": {
            "strategy": "MirroredStrategy, 2 logical CPU devices",
            "epochs": args.epochs,
            "steps_per_epoch": args.steps_per_epoch,
            "total_steps": total_steps,
            "global_batch_size": overhead.BATCH_SIZE,
            "repeats": args.repeats,
            "variants": variants,
        },
        "environment": {
            "date": date.today().isoformat(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "tensorflow": tf.__version__,
            "keras": keras.__version__,
        },
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "ratios": ratios,
        "cpu_ratios": cpu_ratios,
        "load_average_1min": load,
        "summary": summary,
    }


def format_table(results: dict[str, Any]) -> str:
    """The timing table, in Markdown."""
    lines = [
        "| variant | median s | median ratio | median/median | ratio range | cpu ratio "
        "| steps logged |",
        "|---|---|---|---|---|---|---|",
    ]
    for name, row in results["summary"].items():
        lines.append(
            f"| {name} | {row['median_seconds']:.3f} | {row['median_ratio']:.3f} "
            f"| {row['ratio_of_medians']:.3f} | {row['min_ratio']:.3f}-{row['max_ratio']:.3f} "
            f"| {row['median_cpu_ratio']:.3f} | {row['learning_rate_points']} |"
        )
    return "\n".join(lines)


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=2)
    parser.add_argument("--steps-per-epoch", type=int, default=1000)
    parser.add_argument(
        "--variants",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=list(VARIANTS),
        help=f"comma-separated subset of {','.join(VARIANTS)} (bare is always added)",
    )
    parser.add_argument("--json", metavar="OUT", help="also write raw results to this file")
    args = parser.parse_args(argv)
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    return args


def main(argv: list[str] | None = None) -> None:
    """Runs the benchmark and prints the table."""
    args = parse_args(argv)
    print(
        f"tf {tf.__version__}, keras {keras.__version__}, {os.cpu_count()} CPUs; MirroredStrategy "
        f"on 2 logical CPUs; {args.epochs} epochs x {args.steps_per_epoch} steps, global batch "
        f"{overhead.BATCH_SIZE}",
        flush=True,
    )
    started = time.perf_counter()
    results = run_benchmark(args)
    results["benchmark_seconds"] = time.perf_counter() - started
    print()
    print(format_table(results))
    print(f"\nwhole benchmark: {results['benchmark_seconds']:.1f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
