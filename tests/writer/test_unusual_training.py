"""Unusual training never stops training; what is logged is right or flagged.

An optimizer replaced between fits or in the middle of one, a schedule whose
`get_config` raises, a callback that changes the rate after the logger's own
hooks ran. Ground truth is the real schedule object and the rate the
optimizer's update rule received; logs are read back through TensorBoard.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from browser import harness
from training_logs import RecordingSGD, data, read_run, schedule_at, small_model

import tb_lr_plugin as tblr
from tb_lr_plugin import event_format

schedules = keras.optimizers.schedules
BATCHES = 10


def test_optimizer_replaced_by_compile_between_fits(log_dir):
    logger = tblr.LearningRateLogger(log_dir)
    model = small_model(keras.optimizers.SGD(0.1))
    x, y = data(BATCHES)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[logger])

    # A fresh optimizer counts updates from 0 again: its training gets a run of its own.
    fresh = schedules.ExponentialDecay(0.05, decay_steps=3, decay_rate=0.5)
    model.compile(optimizer=keras.optimizers.Adam(fresh), loss="mse")
    with pytest.warns(UserWarning, match="logged into the run 'train_2' beside it") as caught:
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[logger])
    assert len([w for w in caught if "tb_lr_plugin" in str(w.message)]) == 1
    assert logger.run_dir == str(log_dir / "train_2")
    # One that carries the count on continues the first run's step axis, without a warning.
    carried = keras.optimizers.SGD(0.01)
    model.compile(optimizer=carried, loss="mse")
    carried.build(model.trainable_variables)
    carried.iterations.assign(2 * BATCHES)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[logger])
    assert logger.run_dir == str(log_dir / "train")

    first = np.float32([0.1] * 2 * BATCHES + [0.01] * BATCHES)
    second = schedule_at(fresh, range(BATCHES))
    for name, expected in [("train", first), ("train_2", second)]:
        applied = read_run(log_dir, name).series("learning_rate")
        np.testing.assert_array_equal(applied.steps, np.arange(len(expected)))
        np.testing.assert_array_equal(applied.values.astype(np.float32), expected)
    # A real TensorBoard with the Rust data server (`--load_fast=true`) serves the same.
    with harness.TensorBoardProcess(log_dir, "--load_fast=true") as board:
        board.wait_for_runs(2)
        for name, expected in [("train", first), ("train_2", second)]:
            body = board.wait_for_series(name, "learning_rate", len(expected))
            assert body["steps"] == list(range(len(expected)))
            np.testing.assert_array_equal(np.float32(body["values"]), expected)


class ReplaceOptimizer(keras.callbacks.Callback):
    """Swaps in a new optimizer at an epoch's start and retraces the train step."""

    def on_epoch_begin(self, epoch, logs=None):
        if epoch == 1:
            replacement = keras.optimizers.Adam(0.01)
            replacement.build(self.model.trainable_variables)
            self.model.optimizer = replacement
            self.model.make_train_function(force=True)


def test_optimizer_replaced_during_fit_is_flagged(log_dir):
    model = small_model(keras.optimizers.SGD(0.1))
    x, y = data(BATCHES)
    with pytest.warns(UserWarning, match="optimizer was replaced during fit"):
        history = model.fit(
            x,
            y,
            batch_size=8,
            epochs=3,
            verbose=0,
            callbacks=[tblr.LearningRateLogger(log_dir), ReplaceOptimizer()],
        )
    assert len(history.history["loss"]) == 3
    # What was logged (the first optimizer's updates) is still right.
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(BATCHES))
    assert np.all(applied.values == np.float32(0.1))


class ConfiglessDecay(schedules.LearningRateSchedule):
    """A user schedule without `get_config`: the base class's raises."""

    def __call__(self, step):
        return 0.1 / (1.0 + keras.ops.cast(step, "float32") / 4.0)


def test_schedule_whose_get_config_raises(log_dir):
    schedule = ConfiglessDecay()
    model = small_model(keras.optimizers.Adam(schedule, beta_1=0.8))
    x, y = data(BATCHES)
    with pytest.warns(UserWarning, match=r"get_config\(\) raised"):
        model.fit(
            x, y, batch_size=8, epochs=2, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
        )
    run = read_run(log_dir)
    expected = schedule_at(schedule, range(2 * BATCHES))
    np.testing.assert_array_equal(run.series("learning_rate").values.astype(np.float32), expected)
    np.testing.assert_allclose(run.series("schedule").values, expected, rtol=1e-6)
    (config,) = run.documents("schedule_config")
    assert config.kind == "ConfiglessDecay"
    assert "NotImplementedError" in config.config["error"]
    # The optimizer's get_config raises too (it serialises the schedule):
    # its hyperparameters are still logged.
    assert run.series("optimizer/beta_1").values.tolist() == [pytest.approx(0.8)]
    assert run.series("optimizer/epsilon").values.tolist() == [pytest.approx(1e-7)]


class AssignAfterTheLogger(keras.callbacks.Callback):
    """Listed after the logger: changes the rate once its hooks have run."""

    def on_train_batch_begin(self, batch, logs=None):
        if batch == 3:
            self.model.optimizer.learning_rate.assign(0.05)  # Applies from this batch.

    def on_train_batch_end(self, batch, logs=None):
        if batch == 6:
            self.model.optimizer.learning_rate = 0.02  # Applies from the next batch.


def test_rate_assigned_after_the_logger_is_logged_as_applied(log_dir):
    optimizer = RecordingSGD(0.1)
    model = small_model(optimizer)
    x, y = data(BATCHES)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=1,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(log_dir), AssignAfterTheLogger()],
    )
    run = read_run(log_dir)
    applied = run.series("learning_rate").values.astype(np.float32)
    expected = np.float32([0.1] * 3 + [0.05] * 4 + [0.02] * 3)
    np.testing.assert_array_equal(optimizer.received.numpy()[:BATCHES], expected)
    np.testing.assert_array_equal(applied, expected)
    assignments = [(a.step, a.value, a.source) for a in run.documents("assignment")]
    source = event_format.AssignmentSource.of_callback("AssignAfterTheLogger")
    assert assignments == [
        (3, float(np.float32(0.05)), source),
        (7, float(np.float32(0.02)), source),
    ]


def test_training_that_diverges_and_is_terminated_mid_epoch(log_dir):
    # A rate so large the loss overflows within a few steps; TerminateOnNaN
    # then stops the epoch in its middle.
    model = small_model(keras.optimizers.SGD(1e20))
    x, y = data(BATCHES)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[keras.callbacks.TerminateOnNaN(), tblr.LearningRateLogger(log_dir)],
    )
    updates = int(model.optimizer.iterations.numpy())
    assert 0 < updates < BATCHES
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(updates))
    assert np.all(applied.values == np.float32(1e20))
