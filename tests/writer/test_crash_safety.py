"""A training process killed with SIGKILL, then resumed from a checkpoint.

`crash_training.py` trains in a subprocess with a short `flush_secs` and
saves a `tf.train.Checkpoint` at every epoch end. The test watches the event
files through TensorBoard's loader until steps appear, kills the process with
SIGKILL in the middle of an epoch, and reads back what is on disk. Then
training resumes, in this process, from a checkpoint that the logged steps
have passed, with another schedule: the redone steps carry new values, and
the plugin's `series` route must serve the latest ones. A model saved as
`.keras` and loaded again continues the step axis as well.
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
import tensorflow as tf
from plugin_server import PluginServer
from training_logs import loaded_multiplexer, read_run, schedule_at

import tb_lr_plugin as tblr
from tb_lr_plugin import event_format

SCRIPT = pathlib.Path(__file__).with_name("crash_training.py")
FLUSH_SECS = 0.2
# Steps on disk before the kill: past two epochs, so two checkpoints exist.
STEPS_BEFORE_KILL = 450
TIMEOUT_SECS = 180


def _load_script():
    spec = importlib.util.spec_from_file_location("crash_training", SCRIPT)
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


training = _load_script()


def steps_on_disk(log_dir: pathlib.Path) -> int:
    """How many `learning_rate` steps TensorBoard's loader reads now (0 before any)."""
    if not (log_dir / "train").is_dir():
        return 0
    multiplexer = loaded_multiplexer(log_dir)
    tags = multiplexer.PluginRunToTagToContent(event_format.PLUGIN_NAME).get("train", {})
    if event_format.tag_for(event_format.LEARNING_RATE) not in tags:
        return 0
    return len(read_run(log_dir).series(event_format.LEARNING_RATE).steps)


def checkpoint_epochs(directory: pathlib.Path) -> list[int]:
    """The epochs whose end-of-epoch checkpoint was completely written, in order."""
    state = tf.train.get_checkpoint_state(str(directory))
    paths = state.all_model_checkpoint_paths if state else []
    return sorted(int(path.rsplit("-", 1)[1]) for path in paths)


@pytest.fixture(scope="module")
def crashed(tmp_path_factory) -> dict:
    """A log directory and checkpoints left by a training process killed with SIGKILL."""
    root = tmp_path_factory.mktemp("crash")
    log_dir, checkpoints = root / "logs", root / "checkpoints"
    environment = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    with open(root / "output.txt", "wb") as output:
        process = subprocess.Popen(
            [sys.executable, str(SCRIPT), str(log_dir), str(checkpoints), str(FLUSH_SECS)],
            stdout=output,
            stderr=subprocess.STDOUT,
            env=environment,
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
        # Then killed a few steps into the epoch after a checkpoint: the
        # moment a log that lagged behind its checkpoint would leave a gap.
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
    # A contiguous prefix, at least what was seen before the kill, exactly the schedule.
    assert logged >= crashed["seen"]
    np.testing.assert_array_equal(applied.steps, np.arange(logged))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), schedule_at(training.schedule(), range(logged))
    )
    assert np.all(applied.wall_times <= crashed["killed"])
    assert not applied.problems
    epoch = run.series("epoch")
    first_steps = np.arange(0, logged, training.STEPS_PER_EPOCH)
    np.testing.assert_array_equal(epoch.steps, first_steps)
    np.testing.assert_array_equal(epoch.values, np.arange(len(first_steps)))
    (config,) = run.documents("schedule_config")
    assert config.kind == "CosineDecay"
    # The log is never behind the newest checkpoint: resuming from it leaves no gap.
    assert checkpoint_epochs(crashed["checkpoints"])[-1] * training.STEPS_PER_EPOCH <= logged


def test_resume_from_a_checkpoint_redoes_steps_and_the_latest_write_wins(crashed, tmp_path):
    log_dir = tmp_path / "logs"
    shutil.copytree(crashed["log_dir"], log_dir)
    logged = len(read_run(log_dir).series("learning_rate").steps)
    per_epoch = training.STEPS_PER_EPOCH
    # The checkpoint before the newest: at least an epoch is redone (the newest
    # may be exactly where the log ends; the test above resumes from it in effect).
    resumed_epoch = checkpoint_epochs(crashed["checkpoints"])[-2]
    resumed_step = resumed_epoch * per_epoch

    # A new process would build the model again: here, a new model and a new
    # optimizer with another schedule, restored from the checkpoint.
    new_schedule = training.schedule(scale=0.5)
    model = training.build_model(keras.optimizers.Adam(new_schedule))
    state = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    state.restore(
        f"{crashed['checkpoints']}/ckpt-{resumed_epoch}"
    ).assert_existing_objects_matched()
    assert int(model.optimizer.iterations.numpy()) == resumed_step
    end_epoch = resumed_epoch + 2
    model.fit(
        training.dataset(),
        epochs=end_epoch,
        initial_epoch=resumed_epoch,
        steps_per_epoch=per_epoch,
        shuffle=False,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(log_dir, flush_secs=FLUSH_SECS)],
    )
    total = end_epoch * per_epoch
    assert len(list((log_dir / "train").glob("events.out.tfevents.*"))) == 2

    expected = np.concatenate(
        [
            schedule_at(training.schedule(), range(resumed_step)),
            schedule_at(new_schedule, range(resumed_step, total)),
        ]
    )
    server = PluginServer(log_dir)
    body = server.json("series", run="train", name="learning_rate")
    # No gap, no duplicate: one point per step, the redone ones from the resumed run.
    assert body["steps"] == list(range(total))
    np.testing.assert_array_equal(np.float32(body["values"]), expected)
    assert logged > resumed_step  # Steps were written twice, with different values.
    assert not np.any(
        expected[resumed_step:logged]
        == schedule_at(training.schedule(), range(resumed_step, logged))
    )
    epoch = server.json("series", run="train", name="epoch")
    assert epoch["steps"] == list(range(0, total, per_epoch))
    assert epoch["values"] == list(range(end_epoch))
    # The configured curve: the first schedule before the resumed step, the new one after.
    curve = server.json("schedule", run="train")
    assert curve["steps"] == list(range(total))
    assert np.all(event_format.rates_agree(np.float32(curve["values"]), expected, peak=0.1))
    assert server.json("deviations", run="train")["events"] == []


def test_resume_from_a_keras_file_continues_the_step_axis(tmp_path):
    log_dir, saved = tmp_path / "logs", tmp_path / "model.keras"
    per_epoch = 50
    model = training.build_model(keras.optimizers.Adam(training.schedule()))
    fit = {"steps_per_epoch": per_epoch, "shuffle": False, "verbose": 0}
    model.fit(training.dataset(), epochs=2, callbacks=[tblr.LearningRateLogger(log_dir)], **fit)
    model.save(saved)

    restored = keras.models.load_model(saved)
    assert int(restored.optimizer.iterations.numpy()) == 2 * per_epoch
    restored.fit(
        training.dataset(),
        epochs=4,
        initial_epoch=2,
        callbacks=[tblr.LearningRateLogger(log_dir)],
        **fit,
    )
    run = read_run(log_dir)
    applied = run.series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(4 * per_epoch))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), schedule_at(training.schedule(), range(4 * per_epoch))
    )
    np.testing.assert_array_equal(run.series("epoch").steps, np.arange(0, 4 * per_epoch, per_epoch))
