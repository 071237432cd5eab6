"""`LearningRateWriter` in a GradientTape loop, and `write_schedule` previews."""

from __future__ import annotations

import time

import keras
import numpy as np
import pytest
import tensorflow as tf
from training_logs import read_run, schedule_at

import tb_lr_plugin as tblr
from tb_lr_plugin import event_format


def make_loop(optimizer):
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
    x = tf.random.normal((16, 3))
    y = tf.reduce_sum(x, axis=1, keepdims=True)

    @tf.function
    def train_step():
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    return train_step


def test_manual_assign_is_applied_from_the_next_update(log_dir):
    optimizer = keras.optimizers.SGD(0.1)
    train_step = make_loop(optimizer)
    with tblr.LearningRateWriter(log_dir, optimizer, total_steps=20) as writer:
        for step in range(20):
            if step % 5 == 0:
                writer.begin_epoch(step // 5)
            if step == 10:
                optimizer.learning_rate.assign(0.05)
            train_step()
            writer.log()
    run = read_run(log_dir)
    applied = run.series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(20))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), np.float32([0.1] * 10 + [0.05] * 10)
    )
    (assignment,) = run.documents("assignment")
    assert assignment.step == 10
    assert assignment.source == event_format.MANUAL
    assert assignment.previous == pytest.approx(0.1)
    np.testing.assert_array_equal(run.series("epoch").steps, [0, 5, 10, 15])


def test_exponential_decay_in_an_eager_loop_with_explicit_schedule(log_dir):
    schedule = keras.optimizers.schedules.ExponentialDecay(0.1, 4, 0.5, staircase=True)
    optimizer = keras.optimizers.Adam(schedule)
    model = keras.Sequential([keras.Input((2,)), keras.layers.Dense(1)])
    writer = tblr.LearningRateWriter(log_dir, optimizer)  # total_steps unknown
    for _ in range(12):  # Eager: no tf.function at all.
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(model(tf.ones((1, 2))))
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
        writer.log()
    writer.close()
    writer.close()  # Closing twice is harmless.
    run = read_run(log_dir)
    np.testing.assert_array_equal(
        run.series("learning_rate").values.astype(np.float32), schedule_at(schedule, range(12))
    )
    assert run.documents("schedule_config")[0].total_steps is None
    assert len(run.series("schedule").steps) >= 12


def test_logged_steps_are_flushed_while_training(log_dir):
    optimizer = keras.optimizers.SGD(0.1)
    train_step = make_loop(optimizer)
    writer = tblr.LearningRateWriter(log_dir, optimizer, flush_secs=0.2)
    for _ in range(5):
        train_step()
        writer.log()
    time.sleep(0.3)
    train_step()
    writer.log()  # Past flush_secs: drains and flushes.
    assert len(read_run(log_dir).series("learning_rate").steps) == 6
    writer.close()


def test_write_schedule_previews_without_training(log_dir):
    schedule = keras.optimizers.schedules.CosineDecayRestarts(0.1, 50, t_mul=2.0)
    run_dir = tblr.write_schedule(log_dir, schedule, 1000, run_name="restarts")
    assert run_dir.endswith("restarts")
    run = read_run(log_dir, "restarts")
    curve = run.series("schedule")
    np.testing.assert_array_equal(curve.steps, np.arange(1000))
    expected = schedule_at(schedule, range(1000))
    assert np.all(event_format.rates_agree(curve.values, expected, peak=0.1))
    # Restarts are exact: the rate jumps back up at steps 50 and 150.
    assert curve.values[50] > curve.values[49] and curve.values[150] > curve.values[149]
    (config,) = run.documents("schedule_config")
    assert config.kind == "CosineDecayRestarts"
    assert config.total_steps == 1000
    assert "learning_rate" not in run.tags


def test_write_schedule_of_a_float_is_flat(log_dir):
    tblr.write_schedule(log_dir, 0.01, 10)
    assert np.all(read_run(log_dir).series("schedule").values == np.float32(0.01))


@pytest.mark.parametrize("total_steps", [0, -5, 2.5])
def test_write_schedule_rejects_bad_step_counts(log_dir, total_steps):
    with pytest.raises(ValueError, match="total_steps"):
        tblr.write_schedule(log_dir, 0.01, total_steps)


def test_million_step_preview_is_sampled_with_the_real_schedule(log_dir):
    schedule = keras.optimizers.schedules.CosineDecay(
        0.0, 900_000, alpha=0.1, warmup_target=0.1, warmup_steps=100_000
    )
    tblr.write_schedule(log_dir, schedule, 1_000_000)
    curve = read_run(log_dir).series("schedule")
    assert len(curve.steps) == 1_000_000
    probes = [0, 99_999, 100_000, 100_001, 555_555, 999_999]
    assert np.all(
        event_format.rates_agree(curve.values[probes], schedule_at(schedule, probes), peak=0.1)
    )


def test_an_epoch_without_updates_is_superseded_by_the_next(log_dir):
    optimizer = keras.optimizers.SGD(0.1)
    train_step = make_loop(optimizer)
    with tblr.LearningRateWriter(log_dir, optimizer) as writer:
        writer.begin_epoch(0)
        writer.begin_epoch(1)  # epoch 0 ran no update
        train_step()
        writer.log()
    epoch = read_run(log_dir).series("epoch")
    assert epoch.steps.tolist() == [0] and epoch.values.tolist() == [1]


def test_wrong_arguments_raise_instead_of_being_swallowed(log_dir):
    writer = tblr.LearningRateWriter(log_dir, keras.optimizers.SGD(0.1))
    with pytest.raises(TypeError):
        writer.log(epoch=1)
    writer.close()


def test_steps_beyond_the_ring_between_two_logs_are_reported_lost(log_dir):
    optimizer = keras.optimizers.SGD(keras.optimizers.schedules.ExponentialDecay(0.1, 100, 0.9))
    variable = keras.Variable(np.zeros(2, "float32"))

    @tf.function
    def many_steps(count):
        for _ in tf.range(count):
            optimizer.apply_gradients([(tf.ones(2), variable)])

    writer = tblr.LearningRateWriter(log_dir, optimizer)
    many_steps(tf.constant(9000))
    with pytest.warns(UserWarning, match="808 steps ran between two reads"):
        writer.close()
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(808, 9000))


def test_a_writer_with_a_new_optimizer_logs_into_the_next_run(log_dir):
    first = keras.optimizers.SGD(0.1)
    with tblr.LearningRateWriter(log_dir, first) as writer:
        train_step = make_loop(first)
        for _ in range(6):
            train_step()
            writer.log()
    assert writer.run_dir == str(log_dir / "train")

    second = keras.optimizers.SGD(0.02)  # Counts from 0 again.
    with pytest.warns(UserWarning, match="logged into the run 'train_2'"):
        writer = tblr.LearningRateWriter(log_dir, second)
    train_step = make_loop(second)
    for _ in range(4):
        train_step()
        writer.log()
    writer.close()
    assert writer.run_dir == str(log_dir / "train_2")

    for run, expected in [("train", [0.1] * 6), ("train_2", [0.02] * 4)]:
        applied = read_run(log_dir, run).series("learning_rate")
        np.testing.assert_array_equal(applied.steps, np.arange(len(expected)))
        np.testing.assert_array_equal(applied.values, np.float32(expected))


def test_the_same_optimizer_sent_back_rewrites_its_steps(log_dir):
    optimizer = keras.optimizers.SGD(0.1)
    train_step = make_loop(optimizer)
    with tblr.LearningRateWriter(log_dir, optimizer) as writer:
        for _ in range(6):
            train_step()
            writer.log()

    optimizer.iterations.assign(2)  # As a checkpoint restored in this process does.
    optimizer.learning_rate.assign(0.05)
    with pytest.warns(UserWarning, match="steps 2 to 5 are written again"):
        writer = tblr.LearningRateWriter(log_dir, optimizer)
    for _ in range(3):
        train_step()
        writer.log()
    writer.close()
    assert writer.run_dir == str(log_dir / "train")

    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(6))
    np.testing.assert_array_equal(applied.values, np.float32([0.1, 0.1, 0.05, 0.05, 0.05, 0.1]))
