"""Rates changed by callbacks and by optimizers of every shape are logged as applied."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from training_logs import data, read_run, schedule_at, small_model

import tb_lr_plugin as tblr
from tb_lr_plugin import event_format

BATCHES = 10


def halve_after_first(epoch, lr):
    return lr if epoch == 0 else lr / 2


def test_learning_rate_scheduler_is_applied_from_each_epoch_start(log_dir):
    model = small_model(keras.optimizers.SGD(0.1), steps_per_execution=2)
    x, y = data(BATCHES)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        verbose=0,
        callbacks=[
            tblr.LearningRateLogger(log_dir),
            keras.callbacks.LearningRateScheduler(halve_after_first),
        ],
    )
    run = read_run(log_dir)
    expected_per_epoch = np.float32([0.1, 0.05, 0.025, 0.0125])
    applied = run.series("learning_rate")
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), np.repeat(expected_per_epoch, BATCHES)
    )
    # The configured curve is the epoch function chained over the planned epochs.
    configs = run.documents("schedule_config")
    assert configs[-1].kind == "LearningRateScheduler"
    assert configs[-1].config["function"] == "halve_after_first"
    curve = run.series("schedule")
    np.testing.assert_array_equal(
        curve.values.astype(np.float32), np.repeat(expected_per_epoch, BATCHES)
    )
    sources = {a.source for a in run.documents("assignment")}
    assert sources == {event_format.AssignmentSource.of_callback("LearningRateScheduler")}


def test_reduce_lr_on_plateau_is_recorded_with_its_source(log_dir):
    model = small_model(keras.optimizers.SGD(0.01))
    x, y = data(BATCHES, noise_only=True)  # Noise: the loss cannot improve much.
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        verbose=0,
        callbacks=[
            keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=10.0),
            tblr.LearningRateLogger(log_dir),
        ],
    )
    run = read_run(log_dir)
    assignments = run.documents("assignment")
    assert [a.source for a in assignments] == [
        event_format.AssignmentSource.of_callback("ReduceLROnPlateau")
    ] * 3
    # The first epoch sets the best loss; each later epoch's end reduces the
    # rate, applied from the next epoch's first step (the last one from none).
    assert [a.step for a in assignments] == [20, 30, 40]
    assert [a.value for a in assignments] == [
        float(np.float32(v)) for v in (0.005, 0.0025, 0.00125)
    ]
    applied = run.series("learning_rate").values.astype(np.float32)
    np.testing.assert_array_equal(applied, np.repeat(np.float32([0.01, 0.01, 0.005, 0.0025]), 10))
    flat = run.series("schedule").values
    assert np.all(flat == np.float32(0.01))


class DecayingMomentumSGD(keras.optimizers.SGD):
    """A custom optimizer with a hyperparameter of its own that changes every step."""

    def __init__(self, learning_rate=0.01, trust=0.5, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.trust = trust

    def build(self, variables):
        super().build(variables)
        self.momentum_scale = self.add_variable((), initializer="ones", name="momentum_scale")

    def update_step(self, gradient, variable, learning_rate):
        scaled = tf.cast(learning_rate, variable.dtype) * self.momentum_scale * self.trust
        variable.assign_sub(scaled * gradient)

    def apply(self, grads, trainable_variables=None):
        super().apply(grads, trainable_variables)
        self.momentum_scale.assign(self.momentum_scale * 0.5)

    def get_config(self):
        return {**super().get_config(), "trust": self.trust}


def test_custom_optimizer_hyperparameters(log_dir):
    model = small_model(DecayingMomentumSGD(0.01, trust=0.25))
    x, y = data(BATCHES)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    run = read_run(log_dir)
    scale = run.series("optimizer/momentum_scale")
    assert scale.sampling == event_format.SAMPLED_ON_CHANGE
    np.testing.assert_array_equal(scale.steps, np.arange(BATCHES))
    np.testing.assert_array_equal(scale.values, 0.5 ** np.arange(BATCHES))
    assert run.series("optimizer/trust").values.tolist() == [0.25]


@pytest.mark.skipif(
    not hasattr(keras.optimizers, "MultiOptimizer"), reason="MultiOptimizer came with Keras 3.15"
)
def test_multi_optimizer_logs_each_part(log_dir):
    first = keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 3, 0.5))
    second = keras.optimizers.Adam(0.001)
    optimizer_map = keras.optimizers.OptimizerMap(default_optimizer=second)
    optimizer_map[".*bias"] = first
    model = small_model(keras.optimizers.MultiOptimizer(optimizer_map))
    x, y = data(BATCHES)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    run = read_run(log_dir)
    first_name, second_name = first.name, second.name
    np.testing.assert_array_equal(
        run.series(f"learning_rate/{first_name}").values.astype(np.float32),
        schedule_at(first._learning_rate, range(BATCHES)),
    )
    assert np.all(run.series(f"learning_rate/{second_name}").values == np.float32(0.001))
    assert run.series(f"optimizer/{second_name}/beta_1").values.tolist() == [0.9]
    assert f"schedule/{first_name}" in run.tags


def test_loss_scale_optimizer_is_unwrapped(log_dir):
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([4], [0.1, 0.01])
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(schedule))
    model = small_model(optimizer)
    x, y = data(BATCHES)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    run = read_run(log_dir)
    np.testing.assert_array_equal(
        run.series("learning_rate").values.astype(np.float32), schedule_at(schedule, range(BATCHES))
    )
    assert "optimizer/dynamic_scale" in run.tags
    assert "optimizer/dynamic_growth_steps" in run.tags


def test_dataset_of_unknown_length_extends_the_curve(log_dir):
    schedule = keras.optimizers.schedules.CosineDecay(0.1, 100)
    x, y = data(BATCHES)
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).filter(lambda a, b: True)
    assert dataset.cardinality() == tf.data.UNKNOWN_CARDINALITY
    model = small_model(keras.optimizers.SGD(schedule))
    model.fit(dataset, epochs=3, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    updates = int(model.optimizer.iterations.numpy())
    run = read_run(log_dir)
    np.testing.assert_array_equal(run.series("learning_rate").steps, np.arange(updates))
    # Written ahead while the length is unknown, then re-planned once the first
    # epoch has measured it.
    configs = run.documents("schedule_config")
    assert [c.total_steps for c in configs] == [None, updates]
    curve = run.series("schedule")
    np.testing.assert_array_equal(curve.steps[:updates], np.arange(updates))
