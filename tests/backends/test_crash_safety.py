"""A training process killed with SIGKILL, then resumed from a checkpoint, on every backend.

`crash_training.py` trains in a subprocess with a short `flush_secs` and
Keras' `ModelCheckpoint` at every epoch's end. The test waits until steps are
on disk, kills the process a few steps into the epoch after a checkpoint, and
reads back what is there. Then training resumes, in this process, from the
newest checkpoint with another schedule: the redone steps carry new values
and the latest write wins.
"""

from __future__ import annotations

import importlib.util
import os
import pathlib
import shutil
import signal
import subprocess
import sys
import time

import keras
import numpy as np
import pytest
from training_logs import read_run, schedule_at

import tb_lr_plugin as tblr

SCRIPT = pathlib.Path(__file__).with_name("crash_training.py")
FLUSH_SECS = 0.2
STEPS_BEFORE_KILL = 450  # Past two epochs: two checkpoints exist.
TIMEOUT_SECS = 300


def _load_script():
    spec = importlib.util.spec_from_file_location("crash_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


training = _load_script()


def steps_on_disk(log_dir: pathlib.Path) -> int:
    """How many `learning_rate` steps TensorBoard's loader reads now (0 before any)."""
    try:
        return len(read_run(log_dir).series("learning_rate").steps)
    except (AssertionError, KeyError):  # No run, or no series yet.
        return 0


def checkpoint_epochs(directory: pathlib.Path) -> list[int]:
    """The epochs whose checkpoint file exists, in order."""
    return sorted(int(path.stem.split("_")[1].split(".")[0]) for path in directory.glob("*.h5"))


@pytest.fixture(scope="module")
def crashed(tmp_path_factory) -> dict:
    """A log directory and checkpoints left by a training process killed with SIGKILL."""
    root = tmp_path_factory.mktemp("crash")
    log_dir, checkpoints = root / "logs", root / "checkpoints"
    with open(root / "output.txt", "wb") as output:
        process = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(log_dir), str(checkpoints), str(FLUSH_SECS)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
        )
    deadline = time.monotonic() + TIMEOUT_SECS

    def still_training() -> bool:
        assert process.poll() is None, (root / "output.txt").read_text(errors="replace")
        assert time.monotonic() < deadline, "training did not get far enough in time"
        return True

    try:
        seen = 0
        while still_training() and seen < STEPS_BEFORE_KILL:
            time.sleep(0.2)
            seen = steps_on_disk(log_dir)
        # Killed a few steps into the epoch after a checkpoint: the moment a
        # log that lagged behind its checkpoint would leave a gap.
        newest = checkpoint_epochs(checkpoints)[-1]
        while still_training() and checkpoint_epochs(checkpoints)[-1] == newest:
            time.sleep(0.005)
    finally:
        os.kill(process.pid, signal.SIGKILL)
        process.wait()
    assert process.returncode == -signal.SIGKILL
    return {"log_dir": log_dir, "checkpoints": checkpoints, "seen": seen, "killed": time.time()}


def test_sigkill_mid_epoch_leaves_every_flushed_step_loadable(crashed):
    run = read_run(crashed["log_dir"])
    applied = run.series("learning_rate")
    logged = len(applied.steps)
    assert logged >= crashed["seen"]
    np.testing.assert_array_equal(applied.steps, np.arange(logged))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), schedule_at(training.schedule(), range(logged))
    )
    assert np.all(applied.wall_times <= crashed["killed"])
    assert not applied.problems
    np.testing.assert_array_equal(
        run.series("epoch").steps, np.arange(0, logged, training.STEPS_PER_EPOCH)
    )
    # The log is never behind the newest checkpoint: resuming from it leaves no gap.
    assert checkpoint_epochs(crashed["checkpoints"])[-1] * training.STEPS_PER_EPOCH <= logged


def test_resume_from_a_checkpoint_redoes_steps_and_the_latest_write_wins(crashed, tmp_path):
    log_dir = tmp_path / "logs"
    shutil.copytree(crashed["log_dir"], log_dir)
    logged = len(read_run(log_dir).series("learning_rate").steps)
    epoch = checkpoint_epochs(crashed["checkpoints"])[-2]  # Steps after it were logged.
    resumed = training.schedule(scale=2.0)
    model = training.build_model(keras.optimizers.SGD(resumed))
    model.load_weights(crashed["checkpoints"] / f"epoch_{epoch}.weights.h5")
    first = int(keras.ops.convert_to_numpy(model.optimizer.iterations))
    assert first == epoch * training.STEPS_PER_EPOCH < logged
    x, y = training.data()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=epoch + 1,
        initial_epoch=epoch,
        verbose=0,
        shuffle=False,
        callbacks=[tblr.LearningRateLogger(log_dir)],
    )
    stop = first + training.STEPS_PER_EPOCH
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(max(stop, logged)))
    values = applied.values.astype(np.float32)
    np.testing.assert_array_equal(values[:first], schedule_at(training.schedule(), range(first)))
    np.testing.assert_array_equal(values[first:stop], schedule_at(resumed, range(first, stop)))
