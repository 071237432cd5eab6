"""`LearningRateLogger` in `fit`: the logged rate is the rate each update applied.

Ground truth is the real schedule object called on each step, exactly as the
optimizer calls it; the logs are read back through TensorBoard's own loader.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from training_logs import (
    LinearDecay,
    RecordingSGD,
    data,
    eager_schedule_at,
    read_run,
    schedule_at,
    small_model,
)

import tb_lr_plugin as tblr
from tb_lr_plugin import event_format

schedules = keras.optimizers.schedules

EPOCHS = 3
BATCHES = 20  # steps per epoch
TOTAL = EPOCHS * BATCHES


SCHEDULES = {
    "exponential": lambda: schedules.ExponentialDecay(0.1, decay_steps=7, decay_rate=0.8),
    "exponential_staircase": lambda: schedules.ExponentialDecay(
        0.1, decay_steps=7, decay_rate=0.5, staircase=True
    ),
    "piecewise": lambda: schedules.PiecewiseConstantDecay([13, 29, 41], [0.1, 0.05, 0.01, 0.001]),
    "polynomial_cycle": lambda: schedules.PolynomialDecay(0.1, 17, 0.001, power=2.0, cycle=True),
    "inverse_time": lambda: schedules.InverseTimeDecay(0.1, 5, 0.5, staircase=True),
    "cosine": lambda: schedules.CosineDecay(0.1, 50, alpha=0.05),
    "cosine_warmup": lambda: schedules.CosineDecay(
        0.0, 40, alpha=0.1, warmup_target=0.1, warmup_steps=12
    ),
    "cosine_restarts": lambda: schedules.CosineDecayRestarts(0.1, 9, t_mul=1.5, m_mul=0.8),
    "user_subclass": lambda: LinearDecay(0.1, 45),
}


@pytest.mark.parametrize("steps_per_execution", [1, 4])
@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_step_is_the_rate_the_schedule_gave(log_dir, name, steps_per_execution):
    schedule = SCHEDULES[name]()
    model = small_model(keras.optimizers.Adam(schedule), steps_per_execution=steps_per_execution)
    x, y = data(BATCHES)
    model.fit(
        x, y, batch_size=8, epochs=EPOCHS, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
    )

    run = read_run(log_dir)
    applied = run.series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(TOTAL))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), schedule_at(schedule, range(TOTAL))
    )
    # Eager calls round differently in the last bit, never by more.
    eager = eager_schedule_at(schedule, range(TOTAL))
    assert np.all(event_format.rates_agree(applied.values, eager, peak=np.max(eager)))
    assert np.all(np.diff(applied.wall_times) >= 0)

    curve = run.series("schedule")
    np.testing.assert_array_equal(curve.steps, np.arange(TOTAL))
    assert np.all(
        event_format.rates_agree(curve.values, applied.values, peak=np.max(applied.values))
    )
    (config,) = run.documents("schedule_config")
    assert config.kind == type(schedule).__name__
    assert config.config == schedule.get_config()
    assert config.total_steps == TOTAL

    epoch = run.series("epoch")
    assert epoch.sampling == event_format.SAMPLED_ON_CHANGE
    np.testing.assert_array_equal(epoch.steps, [0, BATCHES, 2 * BATCHES])
    np.testing.assert_array_equal(epoch.values, [0, 1, 2])

    assert run.series("optimizer/beta_1").values.tolist() == [0.9]
    assert run.series("optimizer/epsilon").values.tolist() == [1e-7]
    assert "assignment" not in run.tags


@pytest.mark.parametrize("jit_compile", [False, True])
def test_logged_rate_is_the_one_update_step_received(log_dir, jit_compile):
    schedule = SCHEDULES["cosine_warmup"]()
    optimizer = RecordingSGD(schedule)
    model = small_model(optimizer, steps_per_execution=3, jit_compile=jit_compile)
    x, y = data(BATCHES)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    # Keras 3.5 completes an epoch's last execution of 3 steps (21 updates an
    # epoch here), later releases stop at 20: every update applied is logged.
    updates = int(optimizer.iterations.numpy())
    assert updates in (2 * BATCHES, 2 * (BATCHES + 1))
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(updates))
    received = optimizer.received.numpy()[:updates]
    np.testing.assert_array_equal(applied.values.astype(np.float32), received)
    np.testing.assert_array_equal(
        received, schedule_at(schedule, range(updates), jit_compile=jit_compile)
    )


def test_resumed_training_continues_the_step_axis(log_dir):
    schedule = SCHEDULES["cosine"]()
    model = small_model(keras.optimizers.Adam(schedule))
    x, y = data(BATCHES)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=4,
        initial_epoch=2,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(log_dir)],
    )

    run = read_run(log_dir)
    applied = run.series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(4 * BATCHES))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), schedule_at(schedule, range(4 * BATCHES))
    )
    epoch = run.series("epoch")
    np.testing.assert_array_equal(epoch.steps, [0, 20, 40, 60])
    np.testing.assert_array_equal(epoch.values, [0, 1, 2, 3])


def test_logger_added_after_a_first_fit_retraces_and_logs(log_dir):
    schedule = SCHEDULES["exponential"]()
    model = small_model(keras.optimizers.Adam(schedule))
    x, y = data(BATCHES)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0)  # traced without the logger
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        initial_epoch=1,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(log_dir)],
    )
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(BATCHES, 2 * BATCHES))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), schedule_at(schedule, range(BATCHES, 2 * BATCHES))
    )


def test_coexists_with_keras_tensorboard_in_one_run(log_dir):
    model = small_model(keras.optimizers.SGD(SCHEDULES["piecewise"]()))
    x, y = data(BATCHES)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[keras.callbacks.TensorBoard(log_dir), tblr.LearningRateLogger(log_dir)],
    )
    run = read_run(log_dir)
    assert len(run.series("learning_rate").steps) == 2 * BATCHES
    from tensorboard.backend.event_processing import event_accumulator

    keras_side = event_accumulator.EventAccumulator(str(log_dir / "train"))
    keras_side.Reload()
    assert "epoch_loss" in keras_side.Tags()["tensors"]


def test_bytes_per_logged_step_within_budget(log_dir):
    # The budget is 16 bytes of event file per logged learning-rate step.
    from tensorboard.backend.event_processing import event_file_loader

    model = small_model(keras.optimizers.SGD(SCHEDULES["cosine"]()))
    x, y = data(500)
    model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    tag = event_format.tag_for(event_format.LEARNING_RATE)
    lr_bytes = records = 0
    for path in (log_dir / "train").iterdir():
        for event in event_file_loader.EventFileLoader(str(path)).Load():
            if any(v.tag == tag for v in event.summary.value):
                records += 1
                lr_bytes += len(event.SerializeToString()) + 16  # + TFRecord framing
    assert records > 0
    assert 8 <= lr_bytes / 2000 <= 16, lr_bytes / 2000
