"""Bad input gets a clear error before training, or a warning; never a crash."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from training_logs import data, read_run, schedule_at, small_model

import tb_lr_plugin as tblr

schedules = keras.optimizers.schedules


def test_unwritable_log_dir_fails_before_training(tmp_path):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a directory")
    with pytest.raises(tblr.LogDirError, match="a_file"):
        tblr.LearningRateLogger(blocker / "logs")
    with pytest.raises(tblr.LogDirError):
        tblr.LearningRateWriter(blocker, keras.optimizers.SGD())


def test_writer_needs_an_optimizer(log_dir):
    with pytest.raises(TypeError, match=r"keras\.optimizers\.Optimizer"):
        tblr.LearningRateWriter(log_dir, "adam")


class GraphOnlySchedule(schedules.LearningRateSchedule):
    """Works in the train step, raises when sampled from the host."""

    def __call__(self, step):
        if tf.executing_eagerly():
            raise RuntimeError("only inside a compiled train step")
        return 0.1 / (1.0 + tf.cast(step, tf.float32))

    def get_config(self):
        return {"callback": print}  # Not JSON-serialisable.


def test_schedule_that_raises_when_sampled_warns_and_logs_the_rest(log_dir):
    model = small_model(keras.optimizers.SGD(GraphOnlySchedule()))
    x, y = data(10)
    with pytest.warns(UserWarning, match="no configured curve"):
        model.fit(
            x, y, batch_size=8, epochs=2, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
        )
    run = read_run(log_dir)
    np.testing.assert_array_equal(
        run.series("learning_rate").values.astype(np.float32),
        schedule_at(GraphOnlySchedule(), range(20)),
    )
    (config,) = run.documents("schedule_config")
    assert config["config"] == {"callback": repr(print)}
    assert "schedule" not in run.tags


class NanAfter(schedules.LearningRateSchedule):
    def __call__(self, step):
        return tf.where(step < 5, 0.1, float("nan"))

    def get_config(self):
        return {}


def test_non_finite_rates_are_logged_and_flagged(log_dir):
    model = small_model(keras.optimizers.SGD(NanAfter()))
    x, y = data(10)
    with pytest.warns(UserWarning, match="not finite from step 5"):
        model.fit(
            x, y, batch_size=8, epochs=1, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
        )
    values = read_run(log_dir).series("learning_rate").values
    assert np.all(values[:5] == np.float32(0.1)) and np.all(np.isnan(values[5:]))


class NoRateOptimizer(keras.optimizers.SGD):
    """An optimizer whose learning rate cannot be read (as MultiOptimizer's)."""

    @property
    def learning_rate(self):
        raise AttributeError("this optimizer has no single learning rate")

    @learning_rate.setter
    def learning_rate(self, value):
        pass

    def apply(self, grads, trainable_variables=None):
        for grad, variable in zip(grads, trainable_variables, strict=True):
            variable.assign_sub(0.01 * grad)
        self.iterations.assign_add(1)


def test_optimizer_without_learning_rate_warns_and_logs_hyperparameters(log_dir):
    model = small_model(NoRateOptimizer(0.1, momentum=0.5))
    x, y = data(10)
    with pytest.warns(UserWarning, match="no readable learning rate"):
        history = model.fit(
            x, y, batch_size=8, epochs=1, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
        )
    assert len(history.history["loss"]) == 1
    run = read_run(log_dir)
    assert "learning_rate" not in run.tags
    assert run.series("optimizer/momentum").values.tolist() == [0.5]


def test_a_failing_hook_never_stops_training(log_dir):
    logger = tblr.LearningRateLogger(log_dir)
    model = small_model(keras.optimizers.SGD(0.1))
    x, y = data(10)
    # Nothing set up: every later hook fails inside the logger.
    logger.on_train_begin = lambda logs=None: None
    with pytest.warns(UserWarning, match="training continues"):
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[logger])
    assert len(history.history["loss"]) == 2
