"""`current_learning_rate()`, `current_step()`, `current_epoch()` and `record` in `Layer.call`.

On every backend, inside `fit`'s compiled step: the values a layer sees at step
s are those of update s (JAX carries them into its stateless forward pass and
the records out of it).
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
import pytest
from training_logs import data, read_run, small_model

import tb_lr_plugin as tblr
from tb_lr_plugin.writer import keras_internals

BACKEND = keras.backend.backend()
BATCHES = 8
EPOCHS = 3


class Probe(keras.layers.Layer):
    """Records what it sees of the step, and a value of its input."""

    def call(self, x):
        tblr.record("lr", tblr.current_learning_rate(default=-1.0))
        tblr.record("step", keras.ops.cast(tblr.current_step(default=-1), "float32"))
        tblr.record("epoch", keras.ops.cast(tblr.current_epoch(default=-1), "float32"))
        tblr.record("max", keras.ops.max(x))
        return x


def probed_model(steps_per_execution: int, jit_compile) -> keras.Model:
    keras.utils.set_random_seed(0)
    schedule = keras.optimizers.schedules.CosineDecay(0.0, 20, warmup_target=0.1, warmup_steps=6)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), Probe(name="probe"), keras.layers.Dense(1)]
    )
    model.compile(
        optimizer=keras.optimizers.Adam(schedule),
        loss="mse",
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
    )
    return model


CASES = [(1, "auto"), (1, False), (1, True), (4, "auto")]
if BACKEND == "torch":
    # One step per execution there; torch.compile (a minute per model here)
    # is covered by its own test below.
    CASES = [(1, "auto"), (1, False)]


@pytest.mark.parametrize(("steps_per_execution", "jit_compile"), CASES)
def test_values_seen_in_call_are_those_of_each_step(log_dir, steps_per_execution, jit_compile):
    model = probed_model(steps_per_execution, jit_compile)
    x, y = data(BATCHES)
    model.fit(
        x, y, batch_size=8, epochs=EPOCHS, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
    )
    assert_each_step_seen(model, log_dir)


@pytest.mark.skipif(BACKEND != "torch", reason="torch.compile")
def test_torch_compile_compiles_once_not_per_step(log_dir):
    import torch

    model = probed_model(1, True)
    x, y = data(BATCHES)
    logger = tblr.LearningRateLogger(log_dir)
    model.fit(x, y, batch_size=8, verbose=0, callbacks=[logger])
    # Every later step runs the graphs compiled in the first epoch, or this raises.
    with torch.compiler.set_stance("fail_on_recompile"):
        model.fit(x, y, batch_size=8, epochs=EPOCHS, initial_epoch=1, verbose=0, callbacks=[logger])
    assert_each_step_seen(model, log_dir)


class RecordsOtherNamesOnASmallBatch(keras.layers.Layer):
    """Records the step as `every` and `full`, or on a batch of fewer than 8 (another
    trace), as `every` and `last`."""

    def call(self, x):
        step = keras.ops.cast(tblr.current_step(default=-1), "float32")
        tblr.record("every", step)
        small = isinstance(x.shape[0], int) and x.shape[0] < 8  # Not while Keras builds.
        tblr.record("last" if small else "full", step)
        return x

    def compute_output_shape(self, input_shape):
        return input_shape


@pytest.mark.skipif(BACKEND == "tensorflow", reason="fit traces the batch size as None there")
def test_a_name_first_recorded_by_a_later_trace_is_recorded(log_dir):
    """Its column is not beside the column of the other name the trace records."""
    layer = RecordsOtherNamesOnASmallBatch(name="names")
    model = small_model(keras.optimizers.Adam(0.01), middle=[layer])
    x, y = data(BATCHES)
    x, y = np.concatenate([x, x[:4]]), np.concatenate([y, y[:4]])  # A last batch of 4.
    model.fit(x, y, batch_size=8, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    run = read_run(log_dir)
    steps = np.arange(BATCHES + 1)
    for name, expected in [("every", steps), ("full", steps[:-1]), ("last", steps[-1:])]:
        series = run.series(f"layers/{layer.path}/{name}")
        np.testing.assert_array_equal(series.steps, expected)
        np.testing.assert_array_equal(series.values, expected)


def assert_each_step_seen(model: keras.Model, log_dir) -> None:
    """The probe's records at every step are the step's own values."""
    run = read_run(log_dir)
    total = BATCHES * EPOCHS
    path = model.get_layer("probe").path
    seen = {name: run.series(f"layers/{path}/{name}") for name in ("lr", "step", "epoch", "max")}
    for series in seen.values():
        np.testing.assert_array_equal(series.steps, np.arange(total))
    np.testing.assert_array_equal(seen["lr"].values, run.series("learning_rate").values)
    np.testing.assert_array_equal(seen["step"].values, np.arange(total))
    np.testing.assert_array_equal(seen["epoch"].values, np.repeat(np.arange(EPOCHS), BATCHES))
    assert np.all(np.isfinite(seen["max"].values)) and len(np.unique(seen["max"].values)) > 1


def test_current_epoch_follows_each_fit(log_dir):
    # A second fit starts again at epoch 0; one with initial_epoch at its own.
    model = probed_model(1, "auto")
    x, y = data(BATCHES)
    logger = tblr.LearningRateLogger(log_dir)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[logger])
    model.fit(x, y, batch_size=8, epochs=1, verbose=0, callbacks=[logger])
    model.fit(x, y, batch_size=8, epochs=5, initial_epoch=4, verbose=0, callbacks=[logger])
    epochs = read_run(log_dir).series(f"layers/{model.get_layer('probe').path}/epoch")
    np.testing.assert_array_equal(epochs.steps, np.arange(4 * BATCHES))
    np.testing.assert_array_equal(epochs.values, np.repeat([0, 1, 0, 4], BATCHES))


def test_evaluate_and_predict_use_the_defaults_and_record_nothing(log_dir):
    model = probed_model(1, "auto")
    x, y = data(2)
    model.fit(x, y, batch_size=8, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    model.evaluate(x, y, verbose=0)
    model.predict(x, verbose=0)
    steps = read_run(log_dir).series(f"layers/{model.get_layer('probe').path}/step")
    np.testing.assert_array_equal(steps.values, [0, 1])  # The two training steps only.
    with pytest.raises(tblr.NotTrainingError, match="default="):
        tblr.current_step()


def test_a_trained_model_saves_loads_and_predicts_without_a_logger(log_dir, tmp_path):
    model = probed_model(1, "auto")
    x, y = data(2)
    model.fit(x, y, batch_size=8, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    model.save(tmp_path / "probed.keras")
    loaded = keras.models.load_model(tmp_path / "probed.keras", custom_objects={"Probe": Probe})
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), model.predict(x, verbose=0))


@pytest.mark.skipif(BACKEND != "jax", reason="JAX's train step")
def test_a_keras_without_the_jax_train_step_hook_trains_as_without_the_logger(monkeypatch, log_dir):
    internal = keras_internals.JAX_TRAIN_STEP
    monkeypatch.setattr(
        keras_internals, "JAX_TRAIN_STEP", dataclasses.replace(internal, check=lambda _: False)
    )
    monkeypatch.setattr(keras_internals, "_WARNED", set())
    x, y = data(BATCHES)
    bare = probed_model(1, "auto")
    bare.fit(x, y, batch_size=8, verbose=0)
    model = probed_model(1, "auto")
    with pytest.warns(UserWarning) as caught:
        model.fit(x, y, batch_size=8, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    ours = [str(w.message) for w in caught if str(w.message).startswith("tb_lr_plugin")]
    assert len(ours) == 1 and internal.name in ours[0], ours
    for logged, plain in zip(model.get_weights(), bare.get_weights(), strict=True):
        np.testing.assert_array_equal(logged, plain)
    run = read_run(log_dir)
    assert len(run.series("learning_rate").steps) == BATCHES
    # The layer saw its defaults: nothing it recorded is a step's value.
    assert not any(name.startswith("layers/") for name in run.tags)


class RecordsInABranch(keras.layers.Layer):
    """Records in `call` and in a `keras.ops.cond` branch."""

    def call(self, x):
        def positive():
            tblr.record("in_branch", keras.ops.mean(x))
            return x

        tblr.record("in_call", keras.ops.mean(x))
        return keras.ops.cond(keras.ops.mean(x) > -1e9, positive, lambda: x)


def test_a_record_in_a_branch_never_stops_training(log_dir):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), RecordsInABranch(name="branchy"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x, y = data(BATCHES)
    model.fit(x, y, batch_size=8, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    run = read_run(log_dir)
    path = model.get_layer("branchy").path
    np.testing.assert_array_equal(run.series(f"layers/{path}/in_call").steps, np.arange(BATCHES))
    if BACKEND == "tensorflow":  # Written from inside the branch there.
        assert len(run.series(f"layers/{path}/in_branch").steps) == BATCHES


class RecordsAPair(keras.layers.Layer):
    def call(self, x):
        step = keras.ops.cast(tblr.current_step(default=0), "float32")
        tblr.record("pair", keras.ops.stack([step, step + 2.0]))
        return x


def test_a_tensor_is_recorded_as_its_mean_with_a_warning(log_dir):
    layer = RecordsAPair(name="pair")
    model = small_model(keras.optimizers.SGD(0.01), middle=[layer])
    x, y = data(BATCHES)
    with pytest.warns(UserWarning, match=r"record\('pair'\) got shape \(2,\); recording its mean"):
        model.fit(x, y, batch_size=8, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    recorded = read_run(log_dir).series(f"layers/{layer.path}/pair")
    np.testing.assert_array_equal(recorded.steps, np.arange(BATCHES))
    np.testing.assert_array_equal(recorded.values, np.arange(BATCHES) + 1.0)
