"""Under tf.distribute: one value per step, exact rates, and only the chief writes.

MirroredStrategy and CentralStorageStrategy run on two logical CPUs,
MultiWorkerMirroredStrategy as two worker processes on 127.0.0.1 and
ParameterServerStrategy on an in-process cluster: each needs TensorFlow set
up before it initialises, so each trains in fresh processes
(mirrored_training.py, central_storage_training.py, multi_worker_training.py,
parameter_server_training.py). The logs are read back through TensorBoard's
loader and compared with the real schedule objects.
"""

from __future__ import annotations

import importlib.util
import json
import os
import pathlib
import subprocess
import sys

import keras
import numpy as np
import pytest
import tensorflow as tf
from training_logs import data, loaded_multiplexer, read_run, schedule_at, small_model

import tb_lr_plugin as tblr
from tb_lr_plugin import event_format
from tb_lr_plugin.writer import distribution

HERE = pathlib.Path(__file__).parent
TIMEOUT = 150


def _load(name: str):
    spec = importlib.util.spec_from_file_location(f"_{name}", HERE / f"{name}.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


training = _load("mirrored_training")


def _environment(**extra: str) -> dict[str, str]:
    return {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2", **extra}


def _written_steps(log_dir: pathlib.Path, run: str, name: str) -> np.ndarray:
    """Every step of series `name` as written to `run`'s event files, in write order.

    `read_run(...).series` keeps each step's last write, as the LR tab does, so
    a step written twice (say once per replica) shows only here.
    """
    multiplexer = loaded_multiplexer(log_dir)
    tag = event_format.tag_for(name)
    content = multiplexer.SummaryMetadata(run, tag).plugin_data.content
    version = event_format.parse_metadata(content).version
    chunks = [
        event_format.decode_chunk(event.tensor_proto.string_val[0], version)
        for event in multiplexer.Tensors(run, tag)
    ]
    return np.concatenate([chunk.steps for chunk in chunks])


def _check_fit_run(run, name: str) -> None:
    """The checks of test_fit_exactness.py, plus what the probe layer recorded."""
    schedule = training.SCHEDULES[name]()
    total = training.TOTAL
    applied = run.series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(total))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), schedule_at(schedule, range(total))
    )
    assert np.all(np.diff(applied.wall_times) >= 0)
    curve = run.series("schedule")
    np.testing.assert_array_equal(curve.steps, np.arange(total))
    assert np.all(
        event_format.rates_agree(curve.values, applied.values, peak=np.max(applied.values))
    )
    (config,) = run.documents("schedule_config")
    assert config.kind == type(schedule).__name__
    assert config.config == schedule.get_config()
    assert config.total_steps == total
    epoch = run.series("epoch")
    np.testing.assert_array_equal(epoch.steps, np.arange(training.EPOCHS) * training.BATCHES)
    np.testing.assert_array_equal(epoch.values, np.arange(training.EPOCHS))
    assert run.series("optimizer/beta_1").values.tolist() == [0.9]
    assert "assignment" not in run.tags
    _check_probe(run, applied.values)


def _check_probe(run, applied: np.ndarray) -> None:
    # In replica context the accessors give the step's own values on every
    # replica; `record` keeps the mean over replicas: the global batch's mean.
    steps = np.arange(training.TOTAL)
    np.testing.assert_array_equal(run.series("layers/net/probe/rate").values, applied)
    np.testing.assert_array_equal(run.series("layers/net/probe/step").values, steps)
    np.testing.assert_array_equal(
        run.series("layers/net/probe/epoch").values, steps // training.BATCHES
    )
    np.testing.assert_allclose(
        run.series("layers/net/probe/input_mean").values, training.batch_means(), rtol=1e-6
    )


def _check_custom_loop_run(run) -> None:
    schedule = training.CUSTOM_LOOP_SCHEDULE()
    applied = run.series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(training.TOTAL))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), schedule_at(schedule, range(training.TOTAL))
    )
    np.testing.assert_array_equal(run.series("epoch").values, np.arange(training.EPOCHS))
    _check_probe(run, applied.values)


def _check_every_run(log_dir: pathlib.Path, names=tuple(training.SCHEDULES)) -> None:
    for name in names:
        _check_fit_run(read_run(log_dir, name), name)
        _check_written_once(log_dir, name)
    _check_custom_loop_run(read_run(log_dir, "custom_loop"))
    _check_written_once(log_dir, "custom_loop")


def _check_written_once(log_dir: pathlib.Path, run: str) -> None:
    """Each step's rate was written once, in step order: no replica wrote its own copy."""
    np.testing.assert_array_equal(
        _written_steps(log_dir, run, "learning_rate"), np.arange(training.TOTAL)
    )


def test_mirrored_strategy_logs_each_step_once_and_exactly(log_dir):
    subprocess.run(
        [sys.executable, str(HERE / "mirrored_training.py"), str(log_dir)],
        check=True,
        timeout=TIMEOUT,
        env=_environment(),
    )
    _check_every_run(log_dir)
    _check_fit_run(read_run(log_dir, training.LOSS_SCALED_RUN), training.LOSS_SCALED_SCHEDULE)
    _check_update_ratios(log_dir)


def _check_update_ratios(log_dir: pathlib.Path) -> None:
    """The ratio of the mirrored weights, once per step, against the weights themselves."""
    weights = np.load(log_dir / training.WEIGHTS_FILE)
    layers = [str(path).rsplit("/", 1)[0] for path in weights["paths"]]
    run = read_run(log_dir, training.UPDATE_RATIO_RUN)
    for layer in dict.fromkeys(layers):
        members = [i for i, owner in enumerate(layers) if owner == layer]
        change = sum(
            np.sum(
                (np.float64(weights[f"after_{i}"]) - weights[f"before_{i}"]) ** 2,
                axis=tuple(range(1, weights[f"after_{i}"].ndim)),
            )
            for i in members
        )
        weight = sum(
            np.sum(
                np.float64(weights[f"before_{i}"]) ** 2,
                axis=tuple(range(1, weights[f"before_{i}"].ndim)),
            )
            for i in members
        )
        logged = run.series(f"update_ratio/{layer}")
        np.testing.assert_array_equal(logged.steps, np.arange(training.TOTAL))
        np.testing.assert_allclose(logged.values, np.sqrt(change / weight), rtol=2e-5)
    assert len(run.series("gradient_norm").steps) == training.TOTAL


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_central_storage_strategy_logs_each_step_once_and_exactly(log_dir, steps_per_execution):
    script = HERE / "central_storage_training.py"
    done = subprocess.run(
        [sys.executable, str(script), str(log_dir), str(steps_per_execution)],
        timeout=TIMEOUT,
        env=_environment(),
        capture_output=True,
        text=True,
    )
    if done.returncode == _load("central_storage_training").KERAS_CANNOT_TRAIN:
        pytest.skip(done.stdout.strip())  # Keras 3.5: nothing of ours to test.
    assert done.returncode == 0, done.stderr[-3000:]
    if steps_per_execution == 1:
        _check_every_run(log_dir)
        _check_update_ratios(log_dir)
    else:
        # Only the fits: the custom loop and the weight snapshots have no
        # steps per execution (see central_storage_training.py).
        for name in training.SCHEDULES:
            _check_fit_run(read_run(log_dir, name), name)
            _check_written_once(log_dir, name)


def test_multi_worker_only_the_chief_writes(tmp_path):
    workers = [f"127.0.0.1:{port}" for port in _load("parameter_server_training").free_ports(2)]
    # Each worker gets its own log directory here, so the test can see that
    # the non-chief writes nothing (in real use both name the same place).
    log_dirs = [tmp_path / "chief_logs", tmp_path / "worker_logs"]
    processes = [
        subprocess.Popen(
            [sys.executable, str(HERE / "multi_worker_training.py"), str(log_dirs[index])],
            env=_environment(
                TF_CONFIG=json.dumps(
                    {"cluster": {"worker": workers}, "task": {"type": "worker", "index": index}}
                )
            ),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for index in range(2)
    ]
    outputs = []
    try:
        for process in processes:
            outputs.append(process.communicate(timeout=TIMEOUT)[0])
    finally:
        for process in processes:
            process.kill()
    for process, output in zip(processes, outputs, strict=True):
        assert process.returncode == 0, output[-4000:]

    _check_every_run(log_dirs[0], training.MULTI_WORKER_SCHEDULES)
    assert not log_dirs[1].exists(), sorted(log_dirs[1].rglob("*"))


def test_parameter_server_strategy_warns_and_training_goes_on(tmp_path):
    log_dir = tmp_path / "logs"
    result = subprocess.run(
        [sys.executable, str(HERE / "parameter_server_training.py"), str(log_dir)],
        check=True,
        timeout=TIMEOUT,
        env=_environment(),
        capture_output=True,
        text=True,
    )
    report = json.loads(result.stdout.strip().splitlines()[-1])
    logger_warning, writer_warning = report["warnings"]
    for owner, message in [
        ("LearningRateLogger", logger_warning),
        ("LearningRateWriter", writer_warning),
    ]:
        assert message.startswith(f"tb_lr_plugin: {owner} records nothing")
        assert "training continues" in message
        assert "ParameterServerStrategy is not supported" in message
    # The optimizer was left alone (no tap in its updates) and trained every step.
    assert report == {**report, "iterations": 4, "tapped": False}
    assert not [path for path in log_dir.rglob("*") if path.is_file()]


@pytest.mark.parametrize(
    "strategy_class",
    [
        tf.distribute.TPUStrategy,
        tf.distribute.experimental.TPUStrategy,
        tf.compat.v1.distribute.experimental.TPUStrategy,
        tf.distribute.experimental.ParameterServerStrategy,
        tf.compat.v1.distribute.experimental.ParameterServerStrategy,
    ],
)
def test_unsupported_strategy_classes_are_detected(strategy_class):
    # A TPUStrategy cannot be built without a TPU: its real classes are checked.
    reason = distribution.unsupported_reason(strategy_class)
    assert reason is not None and reason.split(":")[0].endswith("is not supported")


@pytest.mark.parametrize(
    "strategy_class",
    [
        tf.distribute.MirroredStrategy,
        tf.distribute.MultiWorkerMirroredStrategy,
        tf.distribute.OneDeviceStrategy,
        # Local and synchronous, though its `extended` is a
        # ParameterServerStrategyExtended: only the strategy's own class counts.
        tf.distribute.experimental.CentralStorageStrategy,
        tf.compat.v1.distribute.experimental.CentralStorageStrategy,
        type(tf.distribute.get_strategy()),
    ],
)
def test_supported_strategy_classes_pass(strategy_class):
    assert distribution.unsupported_reason(strategy_class) is None


def _tf_config(task_type: str, index: int, chief: bool = False) -> str:
    cluster = {"worker": ["127.0.0.1:1", "127.0.0.1:2"]}
    if chief:
        cluster["chief"] = ["127.0.0.1:3"]
    return json.dumps({"cluster": cluster, "task": {"type": task_type, "index": index}})


@pytest.mark.parametrize(
    ("tf_config", "chief"),
    [
        (None, True),
        (_tf_config("worker", 0), True),
        (_tf_config("worker", 1), False),
        (_tf_config("chief", 0, chief=True), True),
        (_tf_config("worker", 0, chief=True), False),
        (_tf_config("evaluator", 0), False),
    ],
)
def test_chief_is_found_from_tf_config(monkeypatch, tf_config, chief):
    if tf_config is None:
        monkeypatch.delenv("TF_CONFIG", raising=False)
    else:
        monkeypatch.setenv("TF_CONFIG", tf_config)
    assert distribution.chief_by_environment() is chief


def test_a_non_chief_logger_creates_no_directory(monkeypatch, log_dir):
    monkeypatch.setenv("TF_CONFIG", _tf_config("worker", 1))
    tblr.LearningRateLogger(log_dir)
    assert not log_dir.exists()


def test_one_device_strategy_logs_every_step(log_dir):
    strategy = tf.distribute.OneDeviceStrategy("/cpu:0")
    schedule = training.SCHEDULES["cosine_warmup"]()
    with strategy.scope():
        model = small_model(keras.optimizers.Adam(schedule))
    x, y = data(10)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(20))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), schedule_at(schedule, range(20))
    )
