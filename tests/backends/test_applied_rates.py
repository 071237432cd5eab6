"""On every backend, the rate logged at step s is the rate update s applied.

Ground truths: the real schedule object called on each step as the compiled
step calls it, and the rate Keras handed to the update rule itself
(`RecordingSGD`). Logs are read back with TensorBoard's own loader.
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from training_logs import LinearDecay, RecordingSGD, data, read_run, schedule_at, small_model

import tb_lr_plugin as tblr
from tb_lr_plugin import event_format

BACKEND = keras.backend.backend()
schedules = keras.optimizers.schedules
BATCHES = 12
EPOCHS = 3
TOTAL = BATCHES * EPOCHS

SCHEDULES = {
    "cosine_restarts": lambda: schedules.CosineDecayRestarts(0.1, 9, t_mul=1.5, m_mul=0.8),
    "cosine_warmup": lambda: schedules.CosineDecay(
        0.0, 30, alpha=0.1, warmup_target=0.1, warmup_steps=8
    ),
    "staircase": lambda: schedules.ExponentialDecay(0.1, 5, 0.5, staircase=True),
    "user_subclass": lambda: LinearDecay(0.1, 40),
}
# PyTorch's `fit` runs one step per execution whatever `steps_per_execution` says.
SPE = [1] if BACKEND == "torch" else [1, 4]


@pytest.mark.parametrize("steps_per_execution", SPE)
@pytest.mark.parametrize("name", sorted(SCHEDULES))
def test_every_step_is_the_rate_the_schedule_gave(log_dir, name, steps_per_execution):
    schedule = SCHEDULES[name]()
    model = small_model(keras.optimizers.Adam(schedule), steps_per_execution=steps_per_execution)
    x, y = data(BATCHES)
    logger = tblr.LearningRateLogger(log_dir)
    model.fit(x, y, batch_size=8, epochs=EPOCHS, verbose=0, callbacks=[logger])

    run = read_run(log_dir)
    applied = run.series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(TOTAL))
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), schedule_at(schedule, range(TOTAL))
    )
    curve = run.series("schedule")
    np.testing.assert_array_equal(curve.steps, np.arange(TOTAL))
    assert np.all(
        event_format.rates_agree(curve.values, applied.values, peak=np.max(applied.values))
    )
    (config,) = run.documents("schedule_config")
    assert config.kind == type(schedule).__name__
    assert config.total_steps == TOTAL
    np.testing.assert_array_equal(run.series("epoch").steps, [0, BATCHES, 2 * BATCHES])
    assert run.series("optimizer/beta_1").values.tolist() == [0.9]


# torch.compile takes a minute per model here: test_in_layer.py covers it once.
JIT_COMPILE = [False] if BACKEND == "torch" else [False, True]


@pytest.mark.parametrize("jit_compile", JIT_COMPILE)
def test_logged_rate_is_the_one_the_update_rule_received(log_dir, jit_compile):
    schedule = SCHEDULES["cosine_warmup"]()
    optimizer = RecordingSGD(schedule)
    model = small_model(optimizer, steps_per_execution=SPE[-1], jit_compile=jit_compile)
    x, y = data(BATCHES)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    updates = int(optimizer.iterations.numpy())
    assert updates == 2 * BATCHES
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(updates))
    received = keras.ops.convert_to_numpy(optimizer.received)[:updates]
    np.testing.assert_array_equal(applied.values.astype(np.float32), received)
    np.testing.assert_array_equal(
        received, schedule_at(schedule, range(updates), jit_compile=jit_compile)
    )


class ScaledSchedule(keras.optimizers.schedules.LearningRateSchedule):
    """A schedule whose value reads a variable that is not the step."""

    def __init__(self):
        self.scale = keras.Variable(1.0, trainable=False, name="scale")

    def __call__(self, step):
        return 0.01 * self.scale

    def get_config(self):
        return {}


class RescaleEveryBatch(keras.callbacks.Callback):
    """Sets the schedule's scale before each batch to a value no step number predicts."""

    def __init__(self, schedule):
        super().__init__()
        self.schedule = schedule
        self.scales = np.random.default_rng(1).uniform(0.5, 2.0, 1000).astype("float32")

    def on_train_batch_begin(self, batch, logs=None):
        self.schedule.scale.assign(self.scales[self.step])
        self.step += 1

    def on_train_begin(self, logs=None):
        self.step = 0


class RecordsTheRate(keras.layers.Layer):
    """Asks for the step's rate in the forward pass, which the update may then share."""

    def call(self, x):
        tblr.record("rate", tblr.current_learning_rate(default=-1.0))
        return x


@pytest.mark.parametrize("layer_asks", [False, True], ids=["", "layer_asks"])
@pytest.mark.parametrize("jit_compile", JIT_COMPILE)
def test_a_rate_no_step_number_predicts_is_logged_as_applied(log_dir, jit_compile, layer_asks):
    """Recomputing the schedule on the host from step numbers would be wrong here.

    With `layer_asks`, a layer computes the step's rate first: the update must
    apply (and the log show) that step's value, never a previous batch's.
    """
    schedule = ScaledSchedule()
    optimizer = RecordingSGD(schedule)
    middle = [RecordsTheRate(name="asks")] if layer_asks else []
    model = small_model(optimizer, jit_compile=jit_compile, middle=middle)
    rescale = RescaleEveryBatch(schedule)
    x, y = data(BATCHES)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        callbacks=[rescale, tblr.LearningRateLogger(log_dir)],
    )
    updates = 2 * BATCHES
    run = read_run(log_dir)
    applied = run.series("learning_rate")
    received = keras.ops.convert_to_numpy(optimizer.received)[:updates]
    np.testing.assert_array_equal(applied.values.astype(np.float32), received)
    if layer_asks:
        (name,) = [name for name in run.tags if name.endswith("asks/rate")]
        asked = run.series(name)
        np.testing.assert_array_equal(asked.steps, np.arange(updates))
        np.testing.assert_array_equal(asked.values.astype(np.float32), received)
    if BACKEND == "jax" and jit_compile:
        # The compiled step read the variable once, when traced (it is not
        # state JAX's `fit` carries): every update applied that first value.
        np.testing.assert_array_equal(received, np.full(updates, 0.01 * rescale.scales[0]))
    else:
        np.testing.assert_array_equal(received, np.float32(0.01) * rescale.scales[:updates])


def test_learning_rate_scheduler_is_applied_from_each_epoch_start(log_dir):
    def halve_after_first(epoch, lr):
        return lr if epoch == 0 else lr / 2

    model = small_model(keras.optimizers.SGD(0.1), steps_per_execution=SPE[-1])
    x, y = data(BATCHES)
    scheduler = keras.callbacks.LearningRateScheduler(halve_after_first)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(log_dir), scheduler],
    )
    run = read_run(log_dir)
    expected = np.repeat(np.float32([0.1, 0.05, 0.025]), BATCHES)
    np.testing.assert_array_equal(run.series("learning_rate").values.astype(np.float32), expected)
    np.testing.assert_array_equal(run.series("schedule").values.astype(np.float32), expected)
    assert {a.source for a in run.documents("assignment")} == {
        event_format.AssignmentSource.of_callback("LearningRateScheduler")
    }


def test_reduce_lr_on_plateau_is_recorded_with_its_source(log_dir):
    model = small_model(keras.optimizers.SGD(0.01))
    x, y = data(BATCHES, noise_only=True)  # Noise: the loss cannot improve much.
    plateau = keras.callbacks.ReduceLROnPlateau("loss", factor=0.5, patience=0, min_delta=10.0)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=3,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(log_dir), plateau],
    )
    run = read_run(log_dir)
    # The first epoch sets the best loss; each later epoch's end halves the
    # rate, applied from the next epoch's first step (the last one from none).
    expected = np.repeat(np.float32([0.01, 0.01, 0.005]), BATCHES)
    np.testing.assert_array_equal(run.series("learning_rate").values.astype(np.float32), expected)
    assignments = run.documents("assignment")
    assert [a.step for a in assignments] == [2 * BATCHES, 3 * BATCHES]
    assert {a.source for a in assignments} == {
        event_format.AssignmentSource.of_callback("ReduceLROnPlateau")
    }


@pytest.mark.parametrize("optimizer_kind", ["loss_scale", "gradient_accumulation"])
def test_loss_scaling_and_gradient_accumulation_log_each_applied_update(log_dir, optimizer_kind):
    schedule = SCHEDULES["cosine_warmup"]()
    if optimizer_kind == "loss_scale":
        optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(schedule))
        micro_batches = 1
    else:
        optimizer = keras.optimizers.SGD(schedule, gradient_accumulation_steps=2)
        micro_batches = 2
    model = small_model(optimizer)
    x, y = data(BATCHES)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    updates = 2 * BATCHES // micro_batches
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(updates))
    # Keras calls the schedule on the micro-batch count of the update's last micro-batch.
    arguments = [micro_batches * s + micro_batches - 1 for s in range(updates)]
    np.testing.assert_array_equal(
        applied.values.astype(np.float32), schedule_at(schedule, arguments)
    )


def _fit_twice(log_dir=None) -> keras.Model:
    """Two fits, compiled with two optimizers of the same shapes and other settings."""
    x, y = data(BATCHES)
    model = small_model(keras.optimizers.Adam(0.1))
    callbacks = [tblr.LearningRateLogger(log_dir)] if log_dir else []
    model.fit(x, y, batch_size=8, verbose=0, callbacks=callbacks)
    model.compile(optimizer=keras.optimizers.Adam(0.05, beta_1=0.0, beta_2=0.5), loss="mse")
    callbacks = [tblr.LearningRateLogger(log_dir)] if log_dir else []
    model.fit(x, y, batch_size=8, verbose=0, callbacks=callbacks)
    return model


def test_a_recompiled_model_trains_with_its_new_optimizer(log_dir):
    """No step compiled for the first optimizer is run for the second (JAX caches them)."""
    logged, bare = _fit_twice(log_dir), _fit_twice()
    for with_logger, without in zip(logged.get_weights(), bare.get_weights(), strict=True):
        np.testing.assert_array_equal(with_logger, without)
    for run, rate in [("train", 0.1), ("train_2", 0.05)]:
        applied = read_run(log_dir, run).series("learning_rate")
        np.testing.assert_array_equal(applied.values, np.full(BATCHES, np.float32(rate)))
