"""Wall-time overhead of learning-rate logging callbacks against a bare `model.fit`.

What is measured: the ratio of the wall time of `model.fit` with a logging callback to
the wall time of the same `fit` without callbacks, on the reference workload of
docs/ARCHITECTURE.md ("Performance budget"): a Dense 32->64->1 MLP, batch 32,
`Adam(CosineDecay(...))`, 5 epochs x 2000 steps, MSE loss, CPU, `verbose=0`.
Variants:

* `bare`: no callbacks (the baseline);
* `lr_logger`: `tb_lr_plugin.LearningRateLogger(log_dir)`;
* `lr_logger_record4`: the same logger, with a layer recording 4 scalars per step
  (`tblr.record` of a mean, a max, `current_learning_rate()` and `current_step()`);
* `layer_only_record4`: that layer without a logger (it computes its mean and max, and
  its `record`s do nothing): what the layer itself costs, where layers run eagerly
  (PyTorch) a part of `lr_logger_record4`'s ratio that is not logging;
* `range_test`: not a callback: `tblr.find_learning_rate` over the same steps instead
  of `fit` (1e-6 to 1e-3, `stop_factor=None`, so it takes every step), against the
  range test's budget of 1.10 of a `fit` over the same number of steps;
* `keras_tensorboard`: `keras.callbacks.TensorBoard(log_dir, update_freq=1)` (peer; it
  logs the learning rate once per epoch);
* `per_batch_summary`: a naive callback writing `tf.summary.scalar` of
  `optimizer.learning_rate` in every `on_train_batch_end` (peer);
* `carried_array` (only when asked for): not a logger, one optimizer variable shaped like
  the JAX logger's ring that nothing writes: on JAX, what carrying one more array through
  every train step costs by itself, the floor of any capture inside the step.

Backends: whichever `KERAS_BACKEND` names (tensorflow when unset): tensorflow, jax or
torch. TensorFlow is imported only where a variant needs it: the two peers and
`--mirrored` exist on the TensorFlow backend only (left out of the default variants
elsewhere; asking for them is an error). Keras's PyTorch backend runs one step per
execution, so there `--steps-per-execution` must be 1. Before timing, one untimed fit
counts the executions (`on_train_batch_end` calls) of an epoch, to show the
`steps_per_execution` Keras honoured.

How: everything runs in one process. One short untimed fit per variant first loads
lazily imported modules and warms the backend's process-wide caches. Then, for each
repeat, every variant runs once, in an order rotated between repeats so that no variant
always runs first or last. Each run builds a fresh model (same architecture, the same
initial weights copied from one reference model), a fresh optimizer and schedule, and
a fresh log directory; the timed span is callback construction plus `model.fit` end to
end, so fixed start-up costs (writer creation, schedule sampling, tracing, the final
flush) are counted. The ratio of a variant is computed per repeat against that repeat's
`bare` run; the table shows the median of those ratios and the ratio of the medians.

Event-file size: after every run the event files are read back (untimed) to count the
learning-rate points logged and the bytes on disk, per tag (record length + 16 bytes of
TFRecord framing per event), so `learning_rate` bytes per step can be told apart from
the schedule curve written once per run.

Usage (from the repository root):

    .venv/bin/python bench/overhead.py --steps-per-execution 1
    .venv/bin/python bench/overhead.py --steps-per-execution 16 --json bench/spe16.json
    .venv/bin/python bench/overhead.py --epochs 1 --steps-per-epoch 200 --repeats 1  # quick
    .venv/bin/python bench/overhead.py --profile lr_logger  # cProfile of one fit
    .venv/bin/python bench/overhead.py --mirrored --epochs 2 --steps-per-epoch 1000 \\
        --variants lr_logger,lr_logger_record4  # under MirroredStrategy, 2 logical CPUs
    KERAS_BACKEND=jax .venv-jax/bin/python bench/overhead.py --steps-per-execution 16
    KERAS_BACKEND=torch .venv-torch/bin/python bench/overhead.py  # spe 1 only

No number here is asserted: this is a measurement, not a test.
"""

from __future__ import annotations

import argparse
import contextlib
import cProfile
import gc
import importlib
import json
import os
import platform
import pstats
import shutil
import statistics
import sys
import tempfile
import time
import warnings
from collections.abc import Callable, Sequence
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING, Any

# Quiet TensorFlow's C++ start-up banner; must precede the first TensorFlow import.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ.setdefault("KERAS_BACKEND", "tensorflow")

# Import the project from this checkout even when it is not installed.
sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

import keras
import numpy as np
from tensorboard.backend.event_processing import event_file_loader
from tensorboard.compat.proto import event_pb2

import tb_lr_plugin as tblr
from tb_lr_plugin import event_format
from tb_lr_plugin.writer import step_tap

if TYPE_CHECKING:
    import tensorflow as tf

# The backend Keras runs on in this process (from KERAS_BACKEND): tensorflow, jax or torch.
BACKEND = keras.backend.backend()
# The module and its short name giving each backend's version in the output.
BACKEND_MODULES = {"tensorflow": "tf", "jax": "jax", "torch": "torch"}

INPUT_DIM = 32
HIDDEN_UNITS = 64
# Hidden layers of the MLP: 1 in the reference workload, 20 for `update_ratios`' deep case.
HIDDEN_LAYERS = 1
# `compile(jit_compile=...)`: Keras' "auto" (no XLA on a CPU-only TensorFlow), or True/False.
JIT_COMPILE: bool | str = "auto"
BATCH_SIZE = 32
INITIAL_LEARNING_RATE = 1e-3
DATA_SEED = 1234
MODEL_SEED = 42
# TFRecord framing around each serialized event: u64 length, u32 CRC, u32 CRC.
TFRECORD_OVERHEAD = 16
WARMUP_STEPS = 200


class PerBatchSummary(keras.callbacks.Callback):
    """The naive peer: one `tf.summary.scalar` of the learning rate per batch."""

    def __init__(self, log_dir: str):
        super().__init__()
        self.log_dir = log_dir
        self.writer = None

    def on_train_begin(self, logs=None):
        import tensorflow as tf

        self.writer = tf.summary.create_file_writer(os.path.join(self.log_dir, "train"))

    def on_train_batch_end(self, batch, logs=None):
        import tensorflow as tf

        with self.writer.as_default():
            tf.summary.scalar(
                "learning_rate",
                self.model.optimizer.learning_rate,
                step=self.model.optimizer.iterations,
            )

    def on_train_end(self, logs=None):
        # A real callback must close its writer, or the tail is lost: part of its cost.
        self.writer.close()


class RecordFour(keras.layers.Layer):
    """An identity layer that records 4 scalars per step with `tblr.record` (issue 3)."""

    def call(self, x):
        tblr.record("mean", keras.ops.mean(x))
        tblr.record("max", keras.ops.max(x))
        tblr.record("rate", tblr.current_learning_rate(default=0.0))
        tblr.record("step", tblr.current_step(default=0))
        return x


class CarriedArray(keras.callbacks.Callback):
    """Adds one never-written optimizer variable shaped like the JAX logger's ring.

    No hook, no capture: on JAX, the train step carries it in and out of every
    step, which is what carrying state costs by itself (`carried_array`).
    """

    def set_model(self, model):
        super().set_model(model)
        # The JAX tap's ring: a row a step and one for the epoch, a column a value and the lap.
        shape = (step_tap.DEFAULT_CAPACITY + 1, step_tap.MAX_COLUMNS + 1)
        model.optimizer.add_variable(shape, initializer="zeros", name="carried_array")


Variant = Callable[[str], list[keras.callbacks.Callback]]

# The logger's `flush_secs` (its default unless a harness changes it).
LOGGER_FLUSH_SECS = tblr.LearningRateLogger.__init__.__kwdefaults__["flush_secs"]

VARIANTS: dict[str, Variant] = {
    "bare": lambda log_dir: [],
    "lr_logger": lambda log_dir: [tblr.LearningRateLogger(log_dir, flush_secs=LOGGER_FLUSH_SECS)],
    # The same logger, on the model with a `RecordFour` layer after the hidden one.
    "lr_logger_record4": lambda log_dir: [
        tblr.LearningRateLogger(log_dir, flush_secs=LOGGER_FLUSH_SECS)
    ],
    "layer_only_record4": lambda log_dir: [],
    "lr_logger_update_ratios": lambda log_dir: [
        tblr.LearningRateLogger(log_dir, flush_secs=LOGGER_FLUSH_SECS, update_ratios=True)
    ],
    # Every 4th update measured (the others copy nothing).
    "lr_logger_update_ratios_every4": lambda log_dir: [
        tblr.LearningRateLogger(
            log_dir, flush_secs=LOGGER_FLUSH_SECS, update_ratios=True, update_ratio_every=4
        )
    ],
    # `timed_fit` runs `find_learning_rate` instead of `fit`.
    "range_test": lambda log_dir: [],
    "keras_tensorboard": lambda log_dir: [keras.callbacks.TensorBoard(log_dir, update_freq=1)],
    "per_batch_summary": lambda log_dir: [PerBatchSummary(log_dir)],
    # Not a logger: the floor of any design that captures in the JAX train step.
    "carried_array": lambda log_dir: [CarriedArray()],
}
# Variants run only when asked for (`--variants`), not by default.
MEASUREMENT_ONLY_VARIANTS = ("carried_array",)
# Variants that write through `tf.summary`: on the TensorFlow backend only.
TENSORFLOW_ONLY_VARIANTS = ("keras_tensorboard", "per_batch_summary")


def available_variants(backend: str = BACKEND) -> list[str]:
    """The variants `backend` can run, in `VARIANTS` order (the default list)."""
    excluded = MEASUREMENT_ONLY_VARIANTS
    if backend != "tensorflow":
        excluded += TENSORFLOW_ONLY_VARIANTS
    return [name for name in VARIANTS if name not in excluded]


def backend_version(backend: str = BACKEND) -> tuple[str, str]:
    """`(short name, version)` of the library behind `backend`, e.g. `("tf", "2.21.0")`."""
    module = importlib.import_module(backend)
    return BACKEND_MODULES.get(backend, backend), module.__version__


class CountExecutions(keras.callbacks.Callback):
    """Counts `on_train_batch_end` calls: Keras calls it once per execution."""

    def __init__(self):
        super().__init__()
        self.executions = 0

    def on_train_batch_end(self, batch, logs=None):
        self.executions += 1


def executions_per_epoch(
    weights: list[np.ndarray],
    data: tuple[np.ndarray, np.ndarray],
    steps_per_execution: int,
    strategy: tf.distribute.Strategy | None = None,
) -> dict[str, int]:
    """Untimed: the executions and optimizer steps of one epoch over `data`.

    Shows the `steps_per_execution` Keras honoured on this backend: one execution
    runs that many steps (the last of an epoch possibly fewer).
    """
    keras.backend.clear_session()
    steps = len(data[0]) // BATCH_SIZE
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = build_model(weights, steps_per_execution, steps)
    counter = CountExecutions()
    model.fit(data[0], data[1], batch_size=BATCH_SIZE, epochs=1, callbacks=[counter], verbose=0)
    return {
        "steps": int(keras.ops.convert_to_numpy(model.optimizer.iterations)),
        "executions": counter.executions,
    }


def mirrored_strategy() -> tf.distribute.MirroredStrategy:
    """A `MirroredStrategy` over the CPU split in two logical devices (before TF uses it)."""
    import tensorflow as tf

    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    return tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])


def make_data(steps_per_epoch: int) -> tuple[np.ndarray, np.ndarray]:
    """Synthetic float32 regression data: exactly `steps_per_epoch` batches."""
    rng = np.random.default_rng(DATA_SEED)
    samples = steps_per_epoch * BATCH_SIZE
    x = rng.standard_normal((samples, INPUT_DIM), dtype=np.float32)
    w = rng.standard_normal((INPUT_DIM, 1), dtype=np.float32)
    y = np.tanh(x @ w) + 0.1 * rng.standard_normal((samples, 1), dtype=np.float32)
    return x, y.astype(np.float32)


def build_model(
    weights: list[np.ndarray] | None,
    steps_per_execution: int,
    total_steps: int,
    record: bool = False,
) -> keras.Model:
    """A fresh compiled MLP with a fresh `Adam(CosineDecay)`, from `weights` if given."""
    keras.utils.set_random_seed(MODEL_SEED)
    model = keras.Sequential(
        [
            keras.Input((INPUT_DIM,)),
            keras.layers.Dense(HIDDEN_UNITS, activation="relu"),
            *([RecordFour()] if record else []),
            *[
                keras.layers.Dense(HIDDEN_UNITS, activation="relu")
                for _ in range(HIDDEN_LAYERS - 1)
            ],
            keras.layers.Dense(1),
        ]
    )
    if weights is not None:
        model.set_weights(weights)
    schedule = keras.optimizers.schedules.CosineDecay(INITIAL_LEARNING_RATE, total_steps)
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="mse",
        steps_per_execution=steps_per_execution,
        jit_compile=JIT_COMPILE,
    )
    return model


def timed_fit(
    variant: str,
    log_dir: str,
    weights: list[np.ndarray],
    data: tuple[np.ndarray, np.ndarray],
    epochs: int,
    steps_per_execution: int,
    profiler: cProfile.Profile | None = None,
    strategy: tf.distribute.Strategy | None = None,
    extra_callbacks: Sequence[keras.callbacks.Callback] = (),
) -> tuple[float, float]:
    """Wall and CPU seconds of one run of `variant`: callback construction plus `fit`.

    `extra_callbacks` go to `fit` after the variant's (a harness's own, in every variant).
    """
    steps_per_epoch = len(data[0]) // BATCH_SIZE
    # Free the previous run's graphs and objects outside the timed span.
    keras.backend.clear_session()
    gc.collect()
    with strategy.scope() if strategy else contextlib.nullcontext():
        model = build_model(
            weights,
            steps_per_execution,
            epochs * steps_per_epoch,
            record=variant.endswith("record4"),
        )
    # Reseed so every variant sees the same shuffling order.
    keras.utils.set_random_seed(MODEL_SEED)
    if profiler is not None:
        profiler.enable()
    start = time.perf_counter()
    cpu_start = time.process_time()
    callbacks = [*VARIANTS[variant](log_dir), *extra_callbacks]
    if variant == "range_test":
        with warnings.catch_warnings():  # With epochs > 1: "repeats the data".
            warnings.simplefilter("ignore")
            tblr.find_learning_rate(
                model, data[0], data[1], batch_size=BATCH_SIZE, min_lr=1e-6, max_lr=1e-3,
                num_steps=epochs * steps_per_epoch, stop_factor=None, log_dir=log_dir,
            )  # fmt: skip
    else:
        model.fit(
            data[0],
            data[1],
            batch_size=BATCH_SIZE,
            epochs=epochs,
            callbacks=callbacks,
            verbose=0,
        )
    elapsed = time.perf_counter() - start
    cpu = time.process_time() - cpu_start
    if profiler is not None:
        profiler.disable()
    return elapsed, cpu


def event_file_stats(log_dir: str) -> dict[str, Any]:
    """Bytes on disk per tag and learning-rate points, for every event file under `log_dir`.

    Learning-rate points are the points of this plugin's `learning_rate` chunks, or one
    per plain summary event whose tag mentions `learning_rate` (the peers).
    """
    bytes_by_tag: dict[str, int] = {}
    learning_rate_points = 0
    file_bytes = 0
    for path in sorted(Path(log_dir).rglob("*")):
        if not path.is_file():
            continue
        file_bytes += path.stat().st_size
        if ".tfevents." not in path.name:
            continue
        for record in event_file_loader.RawEventFileLoader(str(path)).Load():
            event = event_pb2.Event.FromString(record)
            values = event.summary.value
            tag = values[0].tag if values else "(no summary)"
            bytes_by_tag[tag] = bytes_by_tag.get(tag, 0) + len(record) + TFRECORD_OVERHEAD
            for value in values:
                plugin = value.metadata.plugin_data.plugin_name
                if plugin == event_format.PLUGIN_NAME:
                    if value.tag == event_format.tag_for(event_format.LEARNING_RATE):
                        chunk = event_format.decode_chunk(value.tensor.string_val[0])
                        learning_rate_points += len(chunk.steps)
                elif "learning_rate" in value.tag:
                    learning_rate_points += 1
    return {
        "file_bytes": file_bytes,
        "bytes_by_tag": bytes_by_tag,
        "learning_rate_points": learning_rate_points,
    }


def stolen_seconds() -> float | None:
    """CPU time the hypervisor gave to other guests, summed over CPUs (Linux; else None).

    Time a virtual CPU waited while runnable: a run with much of it was slowed
    by the machine's neighbours, not by what it ran.
    """
    try:
        with open("/proc/stat") as stat:
            fields = stat.readline().split()
        return int(fields[8]) / os.sysconf("SC_CLK_TCK")
    except (OSError, IndexError, ValueError):
        return None


def rotated(variants: list[str], repeat: int) -> list[str]:
    """The run order for one repeat: rotate by one each repeat."""
    shift = repeat % len(variants)
    return variants[shift:] + variants[:shift]


def run_benchmark(args: argparse.Namespace) -> dict[str, Any]:
    """Runs every repeat of every variant and returns raw times, ratios and sizes."""
    variants = [name for name in args.variants if name != "bare"]
    variants.insert(0, "bare")  # The baseline of every ratio always runs.
    data = make_data(args.steps_per_epoch)
    total_steps = args.epochs * args.steps_per_epoch
    strategy = mirrored_strategy() if args.mirrored else None
    with strategy.scope() if strategy else contextlib.nullcontext():
        weights = build_model(None, args.steps_per_execution, total_steps).get_weights()

    seconds: dict[str, list[float]] = {name: [] for name in variants}
    cpu_seconds: dict[str, list[float]] = {name: [] for name in variants}
    ratios: dict[str, list[float]] = {name: [] for name in variants}
    cpu_ratios: dict[str, list[float]] = {name: [] for name in variants}
    load: dict[str, list[float]] = {name: [] for name in variants}
    steal: dict[str, list[float | None]] = {name: [] for name in variants}
    stats: dict[str, dict[str, Any]] = {}
    with tempfile.TemporaryDirectory(prefix="tblr-bench-") as root:
        # Untimed warm-up: first imports (the writer side of tb_lr_plugin is lazy,
        # tf.summary's ops load on first use) and the backend's process-wide caches
        # would otherwise land on whichever variant happens to run first.
        warmup = make_data(min(WARMUP_STEPS, args.steps_per_epoch))
        for name in variants:
            log_dir = os.path.join(root, f"warmup-{name}")
            timed_fit(
                name, log_dir, weights, warmup, 1, args.steps_per_execution, strategy=strategy
            )
        print(f"warm-up done (1 x {len(warmup[0]) // BATCH_SIZE} steps per variant)", flush=True)
        executions = executions_per_epoch(weights, warmup, args.steps_per_execution, strategy)
        print(
            f"steps_per_execution {args.steps_per_execution} on {BACKEND}: "
            f"{executions['steps']} steps in {executions['executions']} executions",
            flush=True,
        )

        for repeat in range(args.repeats):
            wall: dict[str, float] = {}
            cpu: dict[str, float] = {}
            for name in rotated(variants, repeat):
                log_dir = os.path.join(root, f"{name}-{repeat}")
                stolen_before = stolen_seconds()
                wall[name], cpu[name] = timed_fit(
                    name,
                    log_dir,
                    weights,
                    data,
                    args.epochs,
                    args.steps_per_execution,
                    strategy=strategy,
                )
                seconds[name].append(wall[name])
                cpu_seconds[name].append(cpu[name])
                # Other processes on the machine are the main source of noise: keep the
                # 1-minute load average beside each run so polluted runs can be spotted.
                load[name].append(os.getloadavg()[0])
                stolen_after = stolen_seconds()
                steal[name].append(None if stolen_after is None else stolen_after - stolen_before)
                stats[name] = event_file_stats(log_dir)  # Deterministic but for wall times.
                shutil.rmtree(log_dir, ignore_errors=True)
                print(
                    f"repeat {repeat + 1}/{args.repeats} spe={args.steps_per_execution} "
                    f"{name:<18} {wall[name]:8.3f} s wall {cpu[name]:8.3f} s cpu "
                    f"load {load[name][-1]:.2f} steal {steal[name][-1] or 0:.2f} s",
                    flush=True,
                )
            for name in variants:
                ratios[name].append(wall[name] / wall["bare"])
                cpu_ratios[name].append(cpu[name] / cpu["bare"])

    version = backend_version()[1]
    bare_median = statistics.median(seconds["bare"])
    summary = {
        name: {
            "median_seconds": statistics.median(seconds[name]),
            "median_ratio": statistics.median(ratios[name]),
            "ratio_of_medians": statistics.median(seconds[name]) / bare_median,
            "min_ratio": min(ratios[name]),
            "max_ratio": max(ratios[name]),
            "median_cpu_ratio": statistics.median(cpu_ratios[name]),
            "learning_rate_points": stats[name]["learning_rate_points"],
        }
        for name in variants
    }
    return {
        "config": {
            "backend": BACKEND,
            "steps_per_execution": args.steps_per_execution,
            "warmup_epoch_executions": executions,
            "strategy": "MirroredStrategy, 2 logical CPUs" if args.mirrored else None,
            "epochs": args.epochs,
            "steps_per_epoch": args.steps_per_epoch,
            "total_steps": total_steps,
            "batch_size": BATCH_SIZE,
            "repeats": args.repeats,
            "variants": variants,
            "jit_compile": JIT_COMPILE,
        },
        "environment": {
            "date": date.today().isoformat(),
            "cpus": os.cpu_count(),
            "python": platform.python_version(),
            "backend": BACKEND,
            BACKEND: version,
            "keras": keras.__version__,
            "platform": platform.platform(),
        },
        "seconds": seconds,
        "cpu_seconds": cpu_seconds,
        "ratios": ratios,
        "cpu_ratios": cpu_ratios,
        "load_average_1min": load,
        "steal_seconds": steal,
        "summary": summary,
        "event_files": stats,
    }


def format_tables(results: dict[str, Any]) -> str:
    """The timing table and the event-file size table, in Markdown."""
    config = results["config"]
    spe = config["steps_per_execution"]
    total_steps = config["total_steps"]
    lines = [
        "| variant | spe | median s | ratio | median/median | ratio range | cpu ratio "
        "| steps logged |",
        "|---|---|---|---|---|---|---|---|",
    ]
    for name, row in results["summary"].items():
        lines.append(
            f"| {name} | {spe} | {row['median_seconds']:.3f} | {row['median_ratio']:.3f} "
            f"| {row['ratio_of_medians']:.3f} | {row['min_ratio']:.3f}-{row['max_ratio']:.3f} "
            f"| {row['median_cpu_ratio']:.3f} | {row['learning_rate_points']} |"
        )
    lines += [
        "",
        f"Event files of the last repeat ({total_steps} steps):",
        "",
        "| variant | bytes on disk | bytes/step | learning_rate bytes | "
        "learning_rate bytes/point | schedule bytes (once per run) |",
        "|---|---|---|---|---|---|",
    ]
    for name, stat in results["event_files"].items():
        if name == "bare":
            continue
        by_tag = stat["bytes_by_tag"]
        lr_bytes = sum(size for tag, size in by_tag.items() if "learning_rate" in tag)
        points = stat["learning_rate_points"]
        per_point = f"{lr_bytes / points:.2f}" if points else "-"
        schedule = by_tag.get(event_format.tag_for(event_format.SCHEDULE), 0) + by_tag.get(
            event_format.tag_for(event_format.SCHEDULE_CONFIG), 0
        )
        lines.append(
            f"| {name} | {stat['file_bytes']} | {stat['file_bytes'] / total_steps:.2f} "
            f"| {lr_bytes} | {per_point} | {schedule or '-'} |"
        )
    return "\n".join(lines)


def profile_fit(args: argparse.Namespace, variant: str, top: int = 25) -> None:
    """Prints the cProfile of one fit of `variant` (after one untimed warm-up fit)."""
    data = make_data(args.steps_per_epoch)
    total_steps = args.epochs * args.steps_per_epoch
    weights = build_model(None, args.steps_per_execution, total_steps).get_weights()
    with tempfile.TemporaryDirectory(prefix="tblr-profile-") as root:
        timed_fit(variant, os.path.join(root, "warmup"), weights, data, 1, args.steps_per_execution)
        profiler = cProfile.Profile()
        wall, cpu = timed_fit(
            variant,
            os.path.join(root, "profiled"),
            weights,
            data,
            args.epochs,
            args.steps_per_execution,
            profiler,
        )
    print(f"{variant}: {wall:.3f} s wall, {cpu:.3f} s cpu under cProfile", flush=True)
    stats = pstats.Stats(profiler)
    stats.sort_stats("tottime").print_stats(top)
    # The callbacks' own Python, which the overall top list can hide.
    stats.sort_stats("cumulative").print_stats(r"tb_lr_plugin|callbacks|overhead\.py", top)


def backend_errors(args: argparse.Namespace, backend: str = BACKEND) -> list[str]:
    """What `args` asks that `backend` cannot run, one message each (none on TensorFlow)."""
    errors = []
    needs_tensorflow = [name for name in args.variants if name in TENSORFLOW_ONLY_VARIANTS]
    if args.profile in TENSORFLOW_ONLY_VARIANTS:
        needs_tensorflow.append(args.profile)
    if args.mirrored:
        needs_tensorflow.append("--mirrored")
    if backend != "tensorflow":
        errors += [
            f"{name} needs TensorFlow (tf.summary or tf.distribute): run it with "
            f"KERAS_BACKEND=tensorflow, not {backend}"
            for name in needs_tensorflow
        ]
    if backend == "torch" and args.steps_per_execution != 1:
        errors.append(
            "Keras's PyTorch backend runs one step per execution: "
            "--steps-per-execution must be 1 with KERAS_BACKEND=torch"
        )
    return errors


def parse_jit_compile(text: str) -> bool | str:
    """`--jit-compile`'s value as `compile` takes it: "auto", True or False."""
    choices = {"auto": "auto", "true": True, "false": False}
    if text.lower() not in choices:
        raise argparse.ArgumentTypeError(f"choose auto, true or false, not {text!r}")
    return choices[text.lower()]


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    """Command-line options; the defaults are the reference workload."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--steps-per-execution", type=int, default=1)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--epochs", type=int, default=5)
    parser.add_argument("--steps-per-epoch", type=int, default=2000)
    parser.add_argument(
        "--variants",
        type=lambda text: [name.strip() for name in text.split(",") if name.strip()],
        default=available_variants(),
        help=f"comma-separated subset of {','.join(VARIANTS)} (default: all but "
        f"{','.join(MEASUREMENT_ONLY_VARIANTS)}; bare is always added; "
        f"{','.join(TENSORFLOW_ONLY_VARIANTS)} need KERAS_BACKEND=tensorflow)",
    )
    parser.add_argument("--json", metavar="OUT", help="also write raw results to this file")
    parser.add_argument(
        "--hidden-layers",
        type=int,
        default=HIDDEN_LAYERS,
        help="hidden Dense(64) layers of the MLP (the reference workload: 1)",
    )
    parser.add_argument(
        "--jit-compile",
        type=parse_jit_compile,
        default=JIT_COMPILE,
        help="auto (the reference workload: Keras' default, no XLA on a CPU-only TensorFlow), "
        "true or false",
    )
    parser.add_argument(
        "--mirrored",
        action="store_true",
        help="train under MirroredStrategy over 2 logical CPUs (global batch split 16 + 16)",
    )
    parser.add_argument(
        "--profile",
        metavar="VARIANT",
        choices=list(VARIANTS),
        help="instead of benchmarking, print a cProfile of one fit of VARIANT",
    )
    args = parser.parse_args(argv)
    unknown = sorted(set(args.variants) - set(VARIANTS))
    if unknown:
        parser.error(f"unknown variants {unknown}; choose from {list(VARIANTS)}")
    if args.mirrored and args.steps_per_execution != 1:
        # Keras 3.15's own fit fails so, with or without the logger (README "Scaling out").
        parser.error("--mirrored needs --steps-per-execution 1")
    errors = backend_errors(args)
    if errors:
        parser.error("; ".join(errors))
    return args


def main(argv: list[str] | None = None) -> None:
    """Runs the benchmark (or the profile) and prints the tables."""
    global HIDDEN_LAYERS, JIT_COMPILE
    args = parse_args(argv)
    HIDDEN_LAYERS, JIT_COMPILE = args.hidden_layers, args.jit_compile
    library, version = backend_version()
    print(
        f"backend {BACKEND}: {library} {version}, keras {keras.__version__}, "
        f"{os.cpu_count()} CPUs; "
        f"{args.epochs} epochs x {args.steps_per_epoch} steps, batch {BATCH_SIZE}, "
        f"spe {args.steps_per_execution}, jit_compile {args.jit_compile}",
        flush=True,
    )
    if args.profile:
        profile_fit(args, args.profile)
        return
    started = time.perf_counter()
    results = run_benchmark(args)
    results["benchmark_seconds"] = time.perf_counter() - started
    print()
    print(format_tables(results))
    print(f"\nwhole benchmark: {results['benchmark_seconds']:.1f} s", flush=True)
    if args.json:
        Path(args.json).write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
