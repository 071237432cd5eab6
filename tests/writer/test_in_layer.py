"""`current_learning_rate`, `current_step`, `current_epoch` and `record` inside `Layer.call`."""

from __future__ import annotations

import keras
import numpy as np
import pytest
import tensorflow as tf
from training_logs import data, read_run, schedule_at

import tb_lr_plugin as tblr

BATCHES = 12
EPOCHS = 3


@keras.saving.register_keras_serializable(package="tb_lr_plugin_tests")
class RateProbe(keras.layers.Layer):
    """Scales by the current learning rate and records what it saw."""

    def call(self, x):
        rate = tblr.current_learning_rate(default=0.0)
        step = tblr.current_step(default=0)
        epoch = tblr.current_epoch(default=0)
        tblr.record("rate", rate)
        tblr.record("step", step)
        tblr.record("epoch", epoch)
        tblr.record("activation_mean", keras.ops.mean(x))
        return x * (1.0 + keras.ops.cast(rate, x.dtype))


def probe_model(schedule, loss_scaling=False, **compile_args):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), RateProbe(name="probe"), keras.layers.Dense(1)],
        name="net",
    )
    optimizer = keras.optimizers.Adam(schedule)
    if loss_scaling:  # Its update runs in a `cond` branch (skipped on non-finite gradients).
        optimizer = keras.optimizers.LossScaleOptimizer(optimizer)
    model.compile(optimizer=optimizer, loss="mse", **compile_args)
    return model


def model_around(layer, optimizer="sgd", **compile_args):
    """`Input(3) -> layer -> Dense(1)`, named "net", compiled with an MSE loss."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), layer, keras.layers.Dense(1)], name="net")
    model.compile(optimizer=optimizer, loss="mse", **compile_args)
    return model


def warmup_cosine():
    return keras.optimizers.schedules.CosineDecay(
        0.0, 30, alpha=0.1, warmup_target=0.05, warmup_steps=8
    )


def check_probe(run, total):
    applied = run.series("learning_rate")
    seen = run.series("layers/net/probe/rate")
    np.testing.assert_array_equal(seen.steps, np.arange(total))
    np.testing.assert_array_equal(seen.values, applied.values)
    np.testing.assert_array_equal(run.series("layers/net/probe/step").values, np.arange(total))
    epochs = run.series("layers/net/probe/epoch").values
    np.testing.assert_array_equal(epochs, np.arange(total) // BATCHES)
    assert len(run.series("layers/net/probe/activation_mean").steps) == total


@pytest.mark.parametrize("jit_compile", [False, True])
@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_values_seen_in_call_are_those_of_each_step(log_dir, steps_per_execution, jit_compile):
    model = probe_model(
        warmup_cosine(), steps_per_execution=steps_per_execution, jit_compile=jit_compile
    )
    x, y = data(BATCHES)
    model.fit(
        x, y, batch_size=8, epochs=EPOCHS, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
    )
    check_probe(read_run(log_dir), EPOCHS * BATCHES)


def test_values_seen_in_call_under_loss_scaling(log_dir):
    model = probe_model(warmup_cosine(), loss_scaling=True, steps_per_execution=4)
    x, y = data(BATCHES)
    model.fit(
        x, y, batch_size=8, epochs=EPOCHS, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
    )
    check_probe(read_run(log_dir), EPOCHS * BATCHES)


def test_custom_loop_with_writer(log_dir):
    schedule = warmup_cosine()
    model = probe_model(schedule)
    optimizer = model.optimizer
    x, y = data(BATCHES)

    @tf.function
    def train_step(xb, yb):
        with tf.GradientTape() as tape:
            loss = keras.ops.mean((model(xb, training=True) - yb) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    with tblr.LearningRateWriter(log_dir, optimizer) as writer:
        for epoch in range(EPOCHS):
            writer.begin_epoch(epoch)
            for batch in range(BATCHES):
                train_step(x[batch * 8 : (batch + 1) * 8], y[batch * 8 : (batch + 1) * 8])
                writer.log()
    check_probe(read_run(log_dir), EPOCHS * BATCHES)


@pytest.mark.parametrize("compiled", [True, False], ids=["tf_function", "eager"])
def test_several_updates_in_one_traced_function(log_dir, compiled):
    # A loop that unrolls two updates per call: each update's values land in its own step.
    model = probe_model(warmup_cosine())
    optimizer = model.optimizer
    x, y = data(BATCHES)

    def two_steps(xb, yb):
        for part in range(2):
            xs, ys = xb[part * 4 : (part + 1) * 4], yb[part * 4 : (part + 1) * 4]
            with tf.GradientTape() as tape:
                loss = keras.ops.mean((model(xs, training=True) - ys) ** 2)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    train = tf.function(two_steps) if compiled else two_steps
    with tblr.LearningRateWriter(log_dir, optimizer) as writer:
        for epoch in range(EPOCHS):
            writer.begin_epoch(epoch)
            for batch in range(BATCHES // 2):
                train(x[batch * 8 : (batch + 1) * 8], y[batch * 8 : (batch + 1) * 8])
                writer.log()
                writer.log()
    check_probe(read_run(log_dir), EPOCHS * BATCHES)
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(
        applied.values.astype(np.float32),
        schedule_at(warmup_cosine(), range(EPOCHS * BATCHES)),
    )


def test_evaluate_and_predict_record_nothing_and_use_defaults(log_dir):
    model = probe_model(warmup_cosine())
    x, y = data(BATCHES)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=1,
        verbose=0,
        validation_data=(x, y),
        callbacks=[tblr.LearningRateLogger(log_dir)],
    )
    # Validation ran inside fit with the logger active: still one point per update.
    assert len(read_run(log_dir).series("layers/net/probe/rate").steps) == BATCHES
    # Outside training the default (0.0) applies: the probe is the identity.
    inputs = np.ones((2, 3), "float32")
    hidden = model.layers[0](inputs)
    np.testing.assert_allclose(model.layers[1](hidden), hidden)
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)


def test_without_default_outside_training_says_how_to_activate():
    with pytest.raises(tblr.NotTrainingError, match="LearningRateLogger"):
        tblr.current_learning_rate()
    with pytest.raises(tblr.NotTrainingError, match="default="):
        tblr.current_step()
    with pytest.raises(tblr.NotTrainingError):
        tblr.current_epoch()
    tblr.record("ignored", 1.0)  # Outside training: nothing, no error.


def test_model_saves_loads_and_predicts_without_the_package_callback(log_dir, tmp_path):
    model = probe_model(warmup_cosine())
    x, y = data(BATCHES)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    path = tmp_path / "probe.keras"
    model.save(path)
    loaded = keras.saving.load_model(path)
    np.testing.assert_allclose(loaded.predict(x, verbose=0), model.predict(x, verbose=0), rtol=1e-6)


def test_non_scalar_values_are_recorded_as_their_mean(log_dir):
    class Wide(keras.layers.Layer):
        def call(self, x):
            tblr.record("activations", x)
            return x

    model = model_around(Wide(name="wide"))
    x, y = data(4)
    with pytest.warns(UserWarning, match="recording its mean"):
        model.fit(
            x,
            y,
            batch_size=8,
            epochs=1,
            verbose=0,
            shuffle=False,
            callbacks=[tblr.LearningRateLogger(log_dir)],
        )
    recorded = read_run(log_dir).series("layers/net/wide/activations").values
    np.testing.assert_allclose(recorded, x.reshape(4, -1).mean(axis=1), rtol=1e-6)


class ControlFlowProbe(keras.layers.Layer):
    """Records from a `cond` branch and a loop body, whose tensors cannot leave them."""

    def call(self, x):
        step = keras.ops.cast(tblr.current_step(default=0), "float32")

        def branch():
            tblr.record("in_branch", step + 0.5)
            return x

        x = keras.ops.cond(step >= 0.0, branch, lambda: x)

        def body(i, total):
            tblr.record("in_loop", step * 10.0 + keras.ops.cast(i, "float32"))
            return total + keras.ops.cast(i, "float32")

        keras.ops.fori_loop(0, 3, body, keras.ops.zeros(()))

        def element(e):
            tblr.record("in_map", step * 10.0 + e)
            return e

        # Keras' TF `map` calls `element` once outside its loop, then in it.
        keras.ops.map(element, keras.ops.arange(3, dtype="float32"))
        return x


@pytest.mark.parametrize("steps_per_execution", [1, 4])
def test_values_recorded_in_branches_and_loops_are_those_of_each_step(log_dir, steps_per_execution):
    model = model_around(
        ControlFlowProbe(name="flow"),
        keras.optimizers.SGD(warmup_cosine()),
        steps_per_execution=steps_per_execution,
    )
    x, y = data(BATCHES)
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    run = read_run(log_dir)
    steps = np.arange(BATCHES)
    np.testing.assert_array_equal(run.series("layers/net/flow/in_branch").values, steps + 0.5)
    # A loop body runs several times per step: its last value is the step's.
    np.testing.assert_array_equal(run.series("layers/net/flow/in_loop").values, steps * 10 + 2)
    np.testing.assert_array_equal(run.series("layers/net/flow/in_map").values, steps * 10 + 2)


def test_a_training_call_outside_an_update_records_nothing(log_dir):
    class Mean(keras.layers.Layer):
        def call(self, x):
            tblr.record("mean", keras.ops.mean(x))
            return x

    class Peek(keras.callbacks.Callback):
        """Calls the model in training mode, eagerly, between two epochs."""

        def on_epoch_end(self, epoch, logs=None):
            self.model(tf.fill((8, 3), 100.0), training=True)

    model = model_around(Mean(name="mean"))
    x, y = data(4)
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        verbose=0,
        shuffle=False,
        callbacks=[tblr.LearningRateLogger(log_dir), Peek()],
    )
    recorded = read_run(log_dir).series("layers/net/mean/mean").values
    np.testing.assert_allclose(recorded, np.tile(x.reshape(4, -1).mean(axis=1), 2), rtol=1e-6)


def test_a_record_no_update_can_take_warns(log_dir):
    class NestedFunction(keras.layers.Layer):
        """Records inside its own tf.function, a graph the optimizer update never sees."""

        def call(self, x):
            # A new function per trace: one made once would be traced when the
            # model is built, before any logger, and never again.
            tf.function(lambda v: tblr.record("nested", v, layer=self))(keras.ops.mean(x))
            tblr.record("direct", keras.ops.mean(x))
            return x

    model = model_around(NestedFunction(name="nested"))
    x, y = data(4)
    with pytest.warns(UserWarning, match=r"'layers/net/nested/nested'.*not recorded"):
        model.fit(
            x, y, batch_size=8, epochs=1, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
        )
    run = read_run(log_dir)
    assert len(run.series("layers/net/nested/direct").steps) == 4
    with pytest.raises(KeyError):
        run.series("layers/net/nested/nested")
