"""`gradient_accumulation_steps`: one point per applied update, on Keras' update axis.

With `gradient_accumulation_steps = k`, Keras runs `k` micro-batches per
update and `optimizer.iterations` counts updates (micro-batches // k), while
the schedule is called with the micro-batch count: update `s` applies
`schedule(k * s + k - 1)`. Ground truth: the rate `update_step` received and
the real schedule at those micro-batch counts.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from training_logs import RecordingSGD, data, read_run, schedule_at, small_model

import tb_lr_plugin as tblr
from tb_lr_plugin import event_format

ACCUMULATE = 4
EPOCHS = 3
BATCHES = 12  # micro-batches per epoch: 3 updates per epoch
UPDATES = EPOCHS * BATCHES // ACCUMULATE


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_each_applied_update_is_logged_once(log_dir, steps_per_execution):
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, 8, alpha=0.1, warmup_target=0.1, warmup_steps=3
    )
    optimizer = RecordingSGD(schedule, gradient_accumulation_steps=ACCUMULATE)
    model = small_model(optimizer, steps_per_execution=steps_per_execution)
    x, y = data(BATCHES)
    model.fit(
        x, y, batch_size=8, epochs=EPOCHS, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
    )
    assert int(optimizer.iterations.numpy()) == UPDATES

    run = read_run(log_dir)
    applied = run.series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(UPDATES))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), optimizer.received.numpy()[:UPDATES]
    )
    micro_batches = ACCUMULATE * np.arange(UPDATES) + ACCUMULATE - 1
    expected = schedule_at(schedule, micro_batches)
    np.testing.assert_array_equal(applied.values.astype(np.float32), expected)
    assert np.all(np.diff(applied.wall_times) >= 0)

    # The configured curve lies on the same axis, so nothing shows as a deviation.
    curve = run.series("schedule")
    np.testing.assert_array_equal(curve.steps, np.arange(UPDATES))
    assert np.all(event_format.rates_agree(curve.values, expected, peak=np.max(expected)))

    epoch = run.series("epoch")
    updates_per_epoch = BATCHES // ACCUMULATE
    np.testing.assert_array_equal(epoch.steps, np.arange(EPOCHS) * updates_per_epoch)
    np.testing.assert_array_equal(epoch.values, np.arange(EPOCHS))
    # The configured curve spans the updates the run will make, not its micro-batches.
    assert run.documents("schedule_config")[0].total_steps == UPDATES


class UpdateProbe(keras.layers.Layer):
    """Records, from inside `call`, the update index and rate it is told."""

    def call(self, x):
        tblr.record("step", tblr.current_step(default=0))
        tblr.record("rate", tblr.current_learning_rate(default=0.0))
        return x


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_in_layer_accessors_count_updates(log_dir, steps_per_execution):
    """Inside `call`, the step is the update index and the rate is the one that update applies.

    A value recorded in each of an update's micro-batches lands in the same
    step: the last one, the micro-batch that applies the update, wins.
    """
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, decay_steps=1, decay_rate=0.9)
    optimizer = RecordingSGD(schedule, gradient_accumulation_steps=ACCUMULATE)
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(4),
            UpdateProbe(name="probe"),
            keras.layers.Dense(1),
        ],
        name="net",
    )
    model.compile(optimizer=optimizer, loss="mse", steps_per_execution=steps_per_execution)
    x, y = data(BATCHES)
    model.fit(
        x, y, batch_size=8, epochs=EPOCHS, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
    )

    run = read_run(log_dir)
    step = run.series("layers/net/probe/step")
    np.testing.assert_array_equal(step.steps, np.arange(UPDATES))
    np.testing.assert_array_equal(step.values, np.arange(UPDATES))
    applied = optimizer.received.numpy()[:UPDATES]
    np.testing.assert_array_equal(
        run.series("layers/net/probe/rate").values.astype(np.float32), applied
    )
