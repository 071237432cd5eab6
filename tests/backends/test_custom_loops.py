"""`LearningRateWriter` in a custom loop of each backend, and draining while `fit` runs."""

from __future__ import annotations

import keras
import numpy as np
import pytest
from training_logs import data, gradients, read_run, schedule_at, small_model

import tb_lr_plugin as tblr
from tb_lr_plugin import event_format

BACKEND = keras.backend.backend()


def linear_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])


def test_eager_loop_with_a_manual_assign(log_dir):
    optimizer = keras.optimizers.SGD(0.1)
    model = linear_model()
    x, y = data(2)
    with tblr.LearningRateWriter(log_dir, optimizer, total_steps=20) as writer:
        for step in range(20):
            if step % 5 == 0:
                writer.begin_epoch(step // 5)
            if step == 10:
                optimizer.learning_rate.assign(0.05)
            grads = gradients(model, x, y)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            writer.log()
    run = read_run(log_dir)
    applied = run.series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(20))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), np.float32([0.1] * 10 + [0.05] * 10)
    )
    (assignment,) = run.documents("assignment")
    assert (assignment.step, assignment.source) == (10, event_format.MANUAL)
    np.testing.assert_array_equal(run.series("epoch").steps, [0, 5, 10, 15])


def test_eager_loop_with_a_schedule(log_dir):
    schedule = keras.optimizers.schedules.CosineDecayRestarts(0.1, 4, t_mul=1.5)
    optimizer = keras.optimizers.Adam(schedule)
    model = linear_model()
    x, y = data(2)
    with tblr.LearningRateWriter(log_dir, optimizer, total_steps=15) as writer:
        for _ in range(15):
            grads = gradients(model, x, y)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))
            writer.log()
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(15))
    expected = schedule_at(schedule, range(15), jit_compile=False)
    assert np.all(event_format.rates_agree(applied.values, expected, peak=0.1))


def _stateless_loop(optimizer, steps: int, log) -> None:
    """A jitted `stateless_apply` loop, as Keras' JAX custom-loop guide writes it."""
    import jax

    model = linear_model()
    x, y = data(2)
    optimizer.build(model.trainable_variables)

    @jax.jit
    def train_step(trainable, optimizer_values):
        def loss(trainable):
            outputs, _ = model.stateless_call(trainable, model.non_trainable_variables, x)
            return keras.ops.mean((outputs - y) ** 2)

        grads = jax.grad(loss)(trainable)
        return optimizer.stateless_apply(optimizer_values, grads, trainable)

    trainable = [v.value for v in model.trainable_variables]
    optimizer_values = [v.value for v in optimizer.variables]
    for _ in range(steps):
        trainable, optimizer_values = train_step(trainable, optimizer_values)
        log(optimizer_values)


@pytest.mark.skipif(BACKEND != "jax", reason="stateless_apply loops are JAX's")
def test_jitted_stateless_loop_hands_its_state_to_the_writer(log_dir):
    schedule = keras.optimizers.schedules.CosineDecay(0.1, 12, warmup_target=0.2, warmup_steps=4)
    optimizer = keras.optimizers.SGD(schedule)
    with tblr.LearningRateWriter(log_dir, optimizer, total_steps=12, flush_secs=0) as writer:
        _stateless_loop(optimizer, 12, lambda values: writer.log(optimizer_variables=values))
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(12))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), schedule_at(schedule, range(12))
    )


@pytest.mark.skipif(BACKEND != "jax", reason="stateless_apply loops are JAX's")
def test_a_stateless_loop_that_keeps_its_state_is_told_how_to_hand_it(log_dir):
    optimizer = keras.optimizers.SGD(0.1)
    writer = tblr.LearningRateWriter(log_dir, optimizer, total_steps=5)
    _stateless_loop(optimizer, 5, lambda values: writer.log())
    with pytest.warns(UserWarning, match=r"log\(optimizer_variables=\.\.\.\)"):
        writer.close()


def test_steps_drained_while_fit_runs_are_exact(log_dir):
    """Every batch drains (flush_secs=0): on JAX, mid-epoch, from the state `fit` carries."""
    schedule = keras.optimizers.schedules.CosineDecay(0.1, 30)
    model = small_model(keras.optimizers.SGD(schedule))
    x, y = data(10)
    logger = tblr.LearningRateLogger(log_dir, flush_secs=0)
    model.fit(x, y, batch_size=8, epochs=3, verbose=0, callbacks=[logger])
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(30))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), schedule_at(schedule, range(30))
    )
