"""Log directories written by the real writer, and the plugin served over them.

The log directories are written once per test session (TensorFlow and Keras
are slow to start) and shared: tests only read them, except where a test
copies one to grow it.

Runs of `training_logdir`:

* `cosine`: `fit` with `Adam(CosineDecay(..., warmup))`: applied == schedule.
* `plateau`: `fit` with `SGD(0.1)` and `ReduceLROnPlateau` halving the rate
  at the end of epochs 1, 2 and 3 (steps 100, 150; the one at 200 ends
  training).
* `scheduler`: `fit` with `LearningRateScheduler`: follows its epoch curve.
* `manual`: a custom loop with `SGD(0.1)` assigned 0.05 at step 30 and
  0.1 again at step 60.
* `in_graph`: a custom loop that sets the rate inside a `tf.function` at
  step 40 (no assignment record: source unknown).
* `two_optimizers`: `fit` with a `MultiOptimizer` (SGD + schedule for the
  biases, Adam(0.001) for the kernels); a callback halves Adam's rate from
  epoch 1 on.
* `preview`: `write_schedule` of a `PiecewiseConstantDecay`, no training.
* `ratios`: `fit` with `update_ratios=True` over a model `deep` of twelve
  layers `layer_0` to `layer_11` (by name, `layer_10` sorts before `layer_2`).
* `range_test`: `find_learning_rate` with `SGD`, rates from 1e-4 to 10 over
  at most 40 steps of 80 samples.

`edge_logdir` holds hand-made records for what the writer does not write:
`epoch_only` (a series and no schedule), `non_finite` (NaN and infinite
rates), `ratio_edges` (update ratios with NaN, infinities, a damaged chunk
and a layer without `position`), `newer_format` (a tag from a future format version), `corrupt`
(an unreadable chunk beside a good one), `damaged` (a chunk, a schedule
description and an assignment each with a byte flipped after writing), and
the range tests of `range_test_documents` (`range_test`, `range_test_damaged`,
`range_test_unreadable`).

`long_logdir` holds `long` (a 100,000-step custom loop with a warm-up cosine
schedule), `preview` and `short` (a 200-step custom loop).
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from browser import harness
from plugin.range_test_documents import RECORDS as RANGE_TEST_RECORDS
from plugin_server import PluginServer
from raw_records import append_records, chunk, damaged, write_records

from tb_lr_plugin import event_format

REPO_ROOT = Path(__file__).resolve().parents[2]
LONG_RUN_STEPS = 100_000
# In-graph updates per call of the long run's compiled function.
STEPS_PER_CALL = 1000

# The writer side imports TensorFlow; keep its start-up chatter out of the output.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")


def pytest_configure(config):
    config.addinivalue_line("markers", "slow: takes seconds (real TensorBoard, long runs)")


@pytest.fixture(scope="session")
def _log_writers(tmp_path_factory) -> dict[str, tuple[Path, subprocess.Popen]]:
    """Starts writing both logdirs at once: two processes, two cores."""
    started = {}
    for name, script, args in (
        ("training", _TRAINING_SCRIPT, ()),
        ("long", _LONG_SCRIPT, (str(LONG_RUN_STEPS), str(STEPS_PER_CALL))),
    ):
        logdir = tmp_path_factory.mktemp(name) / "logs"
        started[name] = (logdir, _start_writer_script(script, logdir, *args))
    return started


@pytest.fixture(scope="session")
def training_logdir(_log_writers) -> Path:
    """The runs described in the module docstring."""
    return _finish_writer_script(*_log_writers["training"])


@pytest.fixture(scope="session")
def long_logdir(_log_writers) -> Path:
    """`long` (100,000 steps), `short` (200 steps) and `preview`."""
    return _finish_writer_script(*_log_writers["long"])


@pytest.fixture(scope="session")
def edge_logdir(tmp_path_factory) -> Path:
    """The hand-made runs described in the module docstring."""
    logdir = tmp_path_factory.mktemp("edge") / "logs"
    series = event_format.KIND_SERIES
    write_records(
        logdir / "epoch_only",
        [("epoch", 0, chunk([0, 10, 20], [0.0, 1.0, 2.0]), series, "change")],
    )
    write_records(
        logdir / "non_finite",
        [
            ("learning_rate", 0, chunk(range(6), [0.1, np.nan, np.inf, -np.inf, 0.1, 0.1]), series),
            ("schedule", 0, chunk(range(6), [0.1] * 6), event_format.KIND_SCHEDULE),
        ],
    )
    write_records(
        logdir / "ratio_edges",
        [
            (
                "update_ratio/late",
                0,
                chunk(range(6), [1e-3, np.nan, np.inf, 2e-3, 3e-3, 1e-3]),
                series,
                "step",
                {"position": 1},
            ),
            ("update_ratio/early", 0, chunk(range(4), [1e-2] * 4), series, "step", {"position": 0}),
            (
                "update_ratio/early",
                4,
                damaged(chunk(range(4, 8), [1e-2] * 4)),
                series,
                "step",
                {"position": 0},
            ),
            ("update_ratio/a_unplaced", 2, chunk(range(2, 5), [5e-4] * 3), series),
        ],
    )
    future = {"version": event_format.FORMAT_VERSION + 1}
    write_records(
        logdir / "newer_format",
        [
            ("learning_rate", 0, chunk([0], [0.1]), series, "step", future),
            ("epoch", 0, chunk([0], [0.0]), series, "change"),
        ],
    )
    write_records(
        logdir / "corrupt",
        [
            ("learning_rate", 0, b"not a chunk", series),
            ("learning_rate", 5, chunk([5, 6], [0.5, 0.5]), series),
        ],
    )
    write_records(
        logdir / "damaged",
        [
            ("learning_rate", 0, chunk(range(5), [0.1] * 5), series),
            ("learning_rate", 5, damaged(chunk(range(5, 10), [0.05] * 5)), series),
            ("schedule", 0, chunk(range(10), [0.1] * 10), event_format.KIND_SCHEDULE),
            (
                "schedule_config",
                0,
                damaged(
                    event_format.encode_document(
                        event_format.ScheduleConfig("constant", "float", {"learning_rate": 0.1})
                    )
                ),
                event_format.KIND_SCHEDULE_CONFIG,
            ),
            (
                "assignment",
                5,
                damaged(
                    event_format.encode_document(
                        event_format.Assignment(5, 0.1, 0.05, event_format.MANUAL, 1000.0)
                    )
                ),
                event_format.KIND_ASSIGNMENT,
            ),
        ],
    )
    for run, payloads in RANGE_TEST_RECORDS.items():
        write_records(
            logdir / run,
            [(event_format.RANGE_TEST, 0, p, event_format.KIND_RANGE_TEST) for p in payloads],
        )
    return logdir


@pytest.fixture(scope="session")
def raw_records():
    """`(chunk, write_records)`: hand-made records for tests that grow a run."""
    return chunk, write_records


@pytest.fixture(scope="session")
def appended_records():
    """`append_records`: raw records added to an existing event file."""
    return append_records


@pytest.fixture(scope="session")
def server(training_logdir) -> PluginServer:
    """The plugin over `training_logdir`, with TensorBoard's default flags."""
    return PluginServer(training_logdir)


@pytest.fixture(scope="session")
def long_server(long_logdir) -> PluginServer:
    """The plugin over `long_logdir`, with TensorBoard's default flags."""
    return PluginServer(long_logdir)


@pytest.fixture(scope="session")
def edge_server(edge_logdir) -> PluginServer:
    """The plugin over `edge_logdir`."""
    return PluginServer(edge_logdir)


@pytest.fixture
def make_server():
    """Builds a `PluginServer` over any logdir, with extra TensorBoard flags."""
    return PluginServer


@pytest.fixture(scope="session")
def tensorboard_environment(tmp_path_factory) -> dict[str, str]:
    """Environment for a `tensorboard` subprocess that finds this checkout's plugin."""
    return harness.plugin_environment(tmp_path_factory.mktemp("entry_point"))


def _start_writer_script(script: str, logdir: Path, *args: str) -> subprocess.Popen:
    # A subprocess: the test process itself stays free of TensorFlow's
    # global state. A file, not `-c`: AutoGraph reads the source of tf.functions.
    script_file = logdir.parent / "write_logs.py"
    script_file.write_text(script)
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2", PYTHONPATH=str(REPO_ROOT))
    with open(logdir.parent / "write_logs.out", "wb") as output:
        return subprocess.Popen(
            [sys.executable, str(script_file), str(logdir), *args],
            env=environment,
            stdout=output,
            stderr=subprocess.STDOUT,
        )


def _finish_writer_script(logdir: Path, process: subprocess.Popen) -> Path:
    if process.wait() != 0:
        output = (logdir.parent / "write_logs.out").read_text(errors="replace")
        shutil.rmtree(logdir, ignore_errors=True)
        pytest.fail(f"writing test logs failed:\n{output[-5000:]}")
    return logdir


# Shared by both scripts: a tiny model and data.
_PRELUDE = """
import sys
import warnings

import keras
import numpy as np
import tensorflow as tf

import tb_lr_plugin as tblr

warnings.simplefilter("ignore")
logdir = sys.argv[1]
rng = np.random.default_rng(0)
x = rng.normal(size=(400, 3)).astype("float32")
y = rng.normal(size=(400, 1)).astype("float32")


def model(optimizer):
    keras.utils.set_random_seed(0)
    net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    net.compile(optimizer=optimizer, loss="mse")
    return net


def custom_loop(run_name, optimizer, steps, before_step=None, **writer_options):
    variable = keras.Variable(np.zeros((3,), "float32"))
    optimizer.build([variable])
    with tblr.LearningRateWriter(logdir, optimizer, run_name=run_name, **writer_options) as w:
        for step in range(steps):
            if step % 50 == 0:
                w.begin_epoch(step // 50)
            if before_step is not None:
                before_step(step, optimizer)
            optimizer.apply_gradients([(tf.ones((3,)), variable)])
            w.log()
"""

_TRAINING_SCRIPT = (
    _PRELUDE
    + """
cosine = keras.optimizers.schedules.CosineDecay(0.1, 150, warmup_target=0.2, warmup_steps=30)
model(keras.optimizers.Adam(cosine)).fit(
    x, y, batch_size=8, epochs=3, verbose=0,
    callbacks=[tblr.LearningRateLogger(logdir, run_name="cosine")],
)

model(keras.optimizers.SGD(0.1)).fit(
    x, y, batch_size=8, epochs=4, verbose=0,
    callbacks=[
        tblr.LearningRateLogger(logdir, run_name="plateau"),
        # min_delta too large to ever improve: the rate halves every epoch after the first.
        keras.callbacks.ReduceLROnPlateau(monitor="loss", factor=0.5, patience=0, min_delta=1e9),
    ],
)

model(keras.optimizers.SGD(0.1)).fit(
    x, y, batch_size=8, epochs=4, verbose=0,
    callbacks=[
        tblr.LearningRateLogger(logdir, run_name="scheduler"),
        keras.callbacks.LearningRateScheduler(lambda epoch, lr: lr if epoch == 0 else lr * 0.5),
    ],
)


def manual(step, optimizer):
    if step == 30:
        optimizer.learning_rate.assign(0.05)
    if step == 60:
        optimizer.learning_rate = 0.1


custom_loop("manual", keras.optimizers.SGD(0.1), 100, manual, total_steps=100)

in_graph_optimizer = keras.optimizers.SGD(0.1)


@tf.function
def set_rate_in_graph(rate):
    in_graph_optimizer.learning_rate.assign(rate)


def in_graph(step, optimizer):
    if step == 40:
        set_rate_in_graph(tf.constant(0.02))


custom_loop("in_graph", in_graph_optimizer, 80, in_graph, total_steps=80)


class HalveAdam(keras.callbacks.Callback):
    def __init__(self, optimizer):
        super().__init__()
        self.optimizer = optimizer

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            self.optimizer.learning_rate.assign(0.0005)


biases = keras.optimizers.SGD(
    keras.optimizers.schedules.PiecewiseConstantDecay([60], [0.1, 0.01]), name="biases"
)
kernels = keras.optimizers.Adam(0.001, name="kernels")
optimizer_map = keras.optimizers.OptimizerMap(default_optimizer=kernels)
optimizer_map[".*bias"] = biases
model(keras.optimizers.MultiOptimizer(optimizer_map)).fit(
    x, y, batch_size=8, epochs=2, verbose=0,
    callbacks=[tblr.LearningRateLogger(logdir, run_name="two_optimizers"), HalveAdam(kernels)],
)

tblr.write_schedule(
    logdir,
    keras.optimizers.schedules.PiecewiseConstantDecay([50], [0.1, 0.01]),
    100,
    run_name="preview",
)

keras.utils.set_random_seed(0)
deep = keras.Sequential(
    [keras.Input((3,))]
    + [keras.layers.Dense(4, activation="tanh", name=f"layer_{i}") for i in range(11)]
    + [keras.layers.Dense(1, name="layer_11")],
    name="deep",
)
deep.compile(optimizer=keras.optimizers.Adam(0.01), loss="mse")
deep.fit(
    x, y, batch_size=8, epochs=2, verbose=0,
    callbacks=[tblr.LearningRateLogger(logdir, run_name="ratios", update_ratios=True)],
)

tblr.find_learning_rate(
    model(keras.optimizers.SGD()), x, y, batch_size=80, min_lr=1e-4, max_lr=10.0, num_steps=40,
    seed=0, log_dir=logdir, run_name="range_test",
)
"""
)

_LONG_SCRIPT = (
    _PRELUDE
    + """
total, per_call = int(sys.argv[2]), int(sys.argv[3])
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
        for _ in range(per_call):  # One log() per update, after the updates ran.
            writer.log()

custom_loop("short", keras.optimizers.SGD(0.01), 200, total_steps=200)
tblr.write_schedule(logdir, 0.05, 100, run_name="preview")
"""
)
