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
    assert config.config == {"callback": repr(print)}
    assert "schedule" not in run.tags


class NonFiniteAfter(schedules.LearningRateSchedule):
    def __init__(self, value):
        self.value = value

    def __call__(self, step):
        return tf.where(step < 5, 0.1, self.value)

    def get_config(self):
        return {"value": self.value}


@pytest.mark.parametrize("value", [np.nan, np.inf, -np.inf])
def test_non_finite_rates_are_logged_and_flagged(log_dir, value):
    model = small_model(keras.optimizers.SGD(NonFiniteAfter(value)))
    x, y = data(10)
    with pytest.warns(UserWarning, match="not finite from step 5"):
        history = model.fit(
            x, y, batch_size=8, epochs=2, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
        )
    assert len(history.history["loss"]) == 2
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(20))
    # Kept as written (assert_array_equal treats NaN as equal to NaN).
    np.testing.assert_array_equal(applied.values, np.float32([0.1] * 5 + [value] * 15))


class RecordsNonFinite(keras.layers.Layer):
    """Records 1, NaN, inf, -inf, 1, ... by step, and a NaN computed as 0 / 0."""

    def call(self, x):
        step = tblr.current_step(default=0)
        cycle = tf.constant([1.0, np.nan, np.inf, -np.inf])
        tblr.record("cycle", tf.gather(cycle, step % 4))
        tblr.record("zero_by_zero", keras.ops.zeros(()) / keras.ops.zeros(()))
        return x


def test_non_finite_recorded_values_are_kept_as_written(log_dir):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), RecordsNonFinite(name="odd"), keras.layers.Dense(1)], name="net"
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x, y = data(10)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    run = read_run(log_dir)
    cycle = run.series("layers/net/odd/cycle")
    # A recorded NaN is a value, not a hole: every step has its point.
    np.testing.assert_array_equal(cycle.steps, np.arange(10))
    np.testing.assert_array_equal(cycle.values, np.tile([1.0, np.nan, np.inf, -np.inf], 3)[:10])
    nan = run.series("layers/net/odd/zero_by_zero")
    np.testing.assert_array_equal(nan.steps, np.arange(10))
    assert np.all(np.isnan(nan.values))


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
    # A broken recorder: every later hook fails inside the logger.
    logger.on_train_begin = lambda logs=None: setattr(logger, "_recorder", "not a recorder")
    with pytest.warns(UserWarning, match="training continues"):
        history = model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[logger])
    assert len(history.history["loss"]) == 2
