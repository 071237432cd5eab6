"""Two processes writing two runs of one log directory at the same time.

Each process (`concurrent_training.py`) runs two sequential `fit`s, each with
its own `LearningRateLogger`, beside a `keras.callbacks.TensorBoard` writing
into the same run: every run directory holds several event files, written
while the other process writes its own. TensorBoard's loader must read each
run whole and apart from the other.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import subprocess
import sys
import time

import numpy as np
from training_logs import read_run, schedule_at

SCRIPT = pathlib.Path(__file__).with_name("concurrent_training.py")
TIMEOUT_SECS = 180
SCALES = {"a": 1.0, "b": 0.5}


def _load_script():
    spec = importlib.util.spec_from_file_location("concurrent_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


training = _load_script()


def test_two_processes_write_two_runs_of_one_log_directory_at_once(tmp_path):
    log_dir, go_file = tmp_path / "logs", tmp_path / "go"
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    processes = {}
    for run, scale in SCALES.items():
        with open(tmp_path / f"{run}.out", "wb") as output:
            processes[run] = subprocess.Popen(
                [sys.executable, str(SCRIPT), str(log_dir), run, str(scale), str(go_file)],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=environment,
            )
    try:
        # Both start training together: TensorFlow's start-up is not the overlap.
        deadline = time.monotonic() + TIMEOUT_SECS
        while not all(pathlib.Path(f"{go_file}.{run}").exists() for run in SCALES):
            for run, process in processes.items():
                assert process.poll() is None, (tmp_path / f"{run}.out").read_text()
            assert time.monotonic() < deadline
            time.sleep(0.05)
        go_file.touch()
        for run, process in processes.items():
            assert process.wait(timeout=TIMEOUT_SECS) == 0, (tmp_path / f"{run}.out").read_text()
    finally:
        for process in processes.values():
            if process.poll() is None:
                process.kill()
                process.wait()

    total = training.FITS * training.EPOCHS_PER_FIT * training.STEPS_PER_EPOCH
    spans = []
    for run, scale in SCALES.items():
        run_dir = log_dir / run / "train"
        files = sorted(path.name for path in run_dir.glob("events.out.tfevents.*"))
        assert sum(name.endswith(".lr") for name in files) == training.FITS, files
        assert any(name.endswith(".v2") for name in files), files  # Keras' own, same run.

        logged = read_run(log_dir, f"{run}/train")
        applied = logged.series("learning_rate")
        np.testing.assert_array_equal(applied.steps, np.arange(total))
        np.testing.assert_array_equal(
            applied.values.astype(np.float32),
            schedule_at(training.schedule(scale), range(total)),
        )
        epoch = logged.series("epoch")
        np.testing.assert_array_equal(epoch.steps, np.arange(0, total, training.STEPS_PER_EPOCH))
        np.testing.assert_array_equal(epoch.values, np.arange(len(epoch.steps)))
        # One schedule description per fit, both of this process's schedule.
        configs = logged.documents("schedule_config")
        assert len(configs) == training.FITS
        assert {c.config["initial_learning_rate"] for c in configs} == {0.1 * scale}
        spans.append((applied.wall_times[0], applied.wall_times[-1]))
    # The two runs were written at the same time.
    (first_a, last_a), (first_b, last_b) = spans
    assert first_a < last_b and first_b < last_a
