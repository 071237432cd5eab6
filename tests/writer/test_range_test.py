"""`find_learning_rate`: the sweep, its ground truth, and the model left as it was found.

Backend-neutral: `make test` runs it on TensorFlow, JAX and PyTorch.

Ground truth: full-batch least squares without bias, trained with plain SGD,
diverges for rates above `2 / lambda_max` of the loss's Hessian `(2/n) X^T X`,
which NumPy computes; and each batch's loss, recomputed by NumPy from the
recorded rates.
"""

from __future__ import annotations

import math
import warnings

import keras
import numpy as np
import pytest
from training_logs import read_run, schedule_at

import tb_lr_plugin as tblr
from tb_lr_plugin import event_format
from tb_lr_plugin.writer.range_test import RateSweep

SAMPLES, FEATURES = 256, 8
# PyTorch's `fit` runs one step per execution.
EXECUTION = 1 if keras.backend.backend() == "torch" else 4


def least_squares(seed: int = 0) -> tuple[np.ndarray, np.ndarray, float]:
    """`(x, y, critical rate)` of a least-squares problem with noise."""
    rng = np.random.default_rng(seed)
    x = (rng.normal(size=(SAMPLES, FEATURES)) * np.linspace(0.5, 2.0, FEATURES)).astype("float32")
    y = (x @ rng.normal(size=FEATURES) + 0.1 * rng.normal(size=SAMPLES)).astype("float32")
    hessian = 2.0 / SAMPLES * x.T.astype(np.float64) @ x
    return x, y, 2.0 / np.linalg.eigvalsh(hessian).max()


def linear_model(optimizer="sgd", *, steps_per_execution: int = 1) -> keras.Model:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(1, use_bias=False)])
    model.compile(optimizer=optimizer, loss="mse", steps_per_execution=steps_per_execution)
    return model


def numpy_losses(kernel, x, y, rates, batch_size) -> np.ndarray:
    """Each step's batch loss, training `kernel` with SGD at `rates` in float64."""
    w = kernel[:, 0].astype(np.float64)
    losses = []
    for step, rate in enumerate(rates):
        start = (step * batch_size) % len(x)
        xb, yb = x[start : start + batch_size].astype(np.float64), y[start : start + batch_size]
        residual = xb @ w - yb
        losses.append(np.mean(residual**2))
        w = w - rate * 2.0 / len(xb) * xb.T @ residual
    return np.array(losses)


def test_least_squares_suggestions_lie_below_the_divergence_rate_found_within_2x(log_dir):
    x, y, critical = least_squares()
    model = linear_model()
    kernel = keras.ops.convert_to_numpy(model.weights[0])
    with pytest.warns(UserWarning, match="repeats it"):
        result = tblr.find_learning_rate(
            model, x, y, batch_size=SAMPLES, min_lr=1e-4, max_lr=10.0, num_steps=100,
            log_dir=log_dir,
        )  # fmt: skip
    assert result.stopped == "diverged"
    for rule in event_format.RULES:
        assert getattr(result, rule) is not None, result.reasons
        assert getattr(result, rule) < critical, (rule, getattr(result, rule), critical)
    assert critical / 2 <= result.divergence <= 2 * critical
    # Each rate is the sweep's schedule at its step, computed in the step.
    steps = np.arange(len(result.learning_rates))
    expected = keras.ops.convert_to_numpy(RateSweep(1e-4, 10.0, 100)(steps))
    np.testing.assert_allclose(result.learning_rates, expected, rtol=1e-6)
    # The loss of each step's batch, where the dynamics are stable (below the critical rate).
    stable = result.learning_rates < critical
    truth = numpy_losses(kernel, x, y, result.learning_rates, SAMPLES)
    np.testing.assert_allclose(result.losses[stable], truth[stable], rtol=1e-4)
    # The same, through TensorBoard's loader.
    [document] = read_run(log_dir, "range_test").documents(event_format.RANGE_TEST)
    np.testing.assert_array_equal(document.learning_rates, result.learning_rates)
    np.testing.assert_array_equal(document.losses, result.losses)
    assert [s.learning_rate for s in document.suggestions] == [
        getattr(result, rule) for rule in event_format.RULES
    ]
    assert document.divergence == result.divergence
    assert document.optimizer == "SGD"
    assert document.settings["num_steps"] == 100


def test_a_loss_scale_optimizer_sweeps_its_inner_rate_with_unscaled_losses(log_dir):
    x, y, _ = least_squares()
    sweeps = {}
    for name, optimizer in [
        ("plain", keras.optimizers.SGD()),
        ("scaled", keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD())),
    ]:
        sweeps[name] = tblr.find_learning_rate(
            linear_model(optimizer), x, y, batch_size=SAMPLES, min_lr=1e-4, max_lr=0.1,
            num_steps=30, stop_factor=None, seed=0, log_dir=log_dir, run_name=name,
        )  # fmt: skip
    # Scaling by a power of two is exact: the same losses, the same rates.
    np.testing.assert_array_equal(sweeps["scaled"].losses, sweeps["plain"].losses)
    np.testing.assert_array_equal(sweeps["scaled"].learning_rates, sweeps["plain"].learning_rates)
    [document] = read_run(log_dir, "scaled").documents(event_format.RANGE_TEST)
    assert document.optimizer == "SGD"  # The class whose rate the user sets.


def test_each_loss_is_that_batch_s_own_with_steps_per_execution(log_dir):
    x, y, _ = least_squares(1)
    model = linear_model(steps_per_execution=EXECUTION)
    kernel = keras.ops.convert_to_numpy(model.weights[0])
    result = tblr.find_learning_rate(
        model, x, y, batch_size=16, min_lr=1e-3, max_lr=0.05, num_steps=40, shuffle=False,
        stop_factor=None,
    )  # fmt: skip
    assert result.stopped == "completed"
    assert len(result.losses) == 40  # Every step, though an execution runs several.
    truth = numpy_losses(kernel, x, y, result.learning_rates, 16)
    np.testing.assert_allclose(result.losses, truth, rtol=1e-4)
    # Not fit's running mean over the epoch: the batches' losses differ.
    running_mean = np.cumsum(truth) / np.arange(1, 41)
    assert not np.allclose(result.losses[1:16], running_mean[1:16], rtol=1e-3)


class CountingDense(keras.layers.Dense):
    """Counts its training calls in Python: once per trace in a compiled step."""

    traces = 0

    def call(self, inputs, training=None):
        if training:
            CountingDense.traces += 1
        return super().call(inputs)


def test_steps_per_execution_sweeps_every_step_with_one_trace():
    x, y, _ = least_squares(2)
    traces = []
    for num_steps in (8, 24):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((FEATURES,)), CountingDense(1)])
        model.compile(optimizer="sgd", loss="mse", steps_per_execution=EXECUTION)
        CountingDense.traces = 0
        result = tblr.find_learning_rate(
            model, x, y, batch_size=32, min_lr=1e-4, max_lr=1e-2, num_steps=num_steps,
            stop_factor=None,
        )  # fmt: skip
        assert len(result.learning_rates) == num_steps
        assert np.all(np.diff(result.learning_rates) > 0)
        traces.append(CountingDense.traces)
    if keras.backend.backend() != "torch":  # PyTorch runs eagerly: a call per step.
        assert traces == [1, 1]  # One trace, whatever the sweep's length.


def snapshot(model: keras.Model) -> list[np.ndarray]:
    variables = [*model.variables, *model.optimizer.variables]
    return [keras.ops.convert_to_numpy(v).copy() for v in variables]


def dropout_model(optimizer) -> keras.Model:
    keras.utils.set_random_seed(3)
    model = keras.Sequential(
        [
            keras.Input((FEATURES,)),
            keras.layers.Dense(16, activation="relu"),
            keras.layers.BatchNormalization(),
            keras.layers.Dropout(0.3),
            keras.layers.Dense(1),
        ]
    )
    model.compile(optimizer=optimizer, loss="mse")
    return model


def test_leaves_a_trained_model_and_its_logged_optimizer_as_it_found_them(log_dir):
    x, y, _ = least_squares(3)
    schedule = keras.optimizers.schedules.CosineDecay(0.01, 400)
    model = dropout_model(keras.optimizers.Adam(schedule))
    model.fit(
        x, y, batch_size=32, epochs=1, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
    )
    before = snapshot(model)
    optimizer = model.optimizer
    tblr.find_learning_rate(model, x, y, batch_size=32, num_steps=30, log_dir=log_dir)
    assert model.optimizer is optimizer
    assert optimizer.learning_rate is not None and optimizer.get_config()["learning_rate"]
    after = snapshot(model)
    assert len(after) == len(before)
    for old, new in zip(before, after, strict=True):
        np.testing.assert_array_equal(old, new)  # Bit for bit: NaN-free, so equality.
    # The logger's next fit continues from step 8 with the schedule exactly: no swept step.
    model.fit(
        x, y, batch_size=32, epochs=1, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
    )
    logged = read_run(log_dir).series(event_format.LEARNING_RATE)
    np.testing.assert_array_equal(logged.steps, np.arange(16))
    np.testing.assert_allclose(logged.values, schedule_at(schedule, range(16)), rtol=1e-6)


def test_an_unbuilt_optimizer_stays_fresh_and_the_logger_then_logs_from_step_0(log_dir):
    x, y, _ = least_squares(4)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.01, 5, 0.9)
    model = dropout_model(keras.optimizers.Adam(schedule))
    tblr.find_learning_rate(model, x, y, batch_size=32, num_steps=20)
    assert not model.optimizer.built
    assert int(keras.ops.convert_to_numpy(model.optimizer.iterations)) == 0
    model.fit(
        x, y, batch_size=32, epochs=1, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)]
    )
    logged = read_run(log_dir).series(event_format.LEARNING_RATE)
    np.testing.assert_array_equal(logged.steps, np.arange(8))
    np.testing.assert_allclose(logged.values, schedule_at(schedule, range(8)), rtol=1e-6)


def test_the_next_fit_trains_exactly_as_without_the_sweep():
    x, y, _ = least_squares(4)
    trained = []
    for sweep_first in (False, True):
        model = dropout_model(keras.optimizers.Adam(1e-3))
        # Keras builds its compiled loss and metrics at the first fit or evaluate,
        # peeking at a batch (a NumPy permutation on JAX and PyTorch): the sweep
        # builds them, so both fits must find them built to draw the same batches.
        model.evaluate(x, y, verbose=0)
        keras.utils.set_random_seed(7)
        if sweep_first:
            tblr.find_learning_rate(model, x, y, batch_size=32, num_steps=20)
        model.fit(x, y, batch_size=32, epochs=2, verbose=0)  # Shuffled, with dropout.
        trained.append(snapshot(model))
    for without, with_sweep in zip(*trained, strict=True):
        np.testing.assert_array_equal(without, with_sweep)


def test_bad_calls_get_clear_errors_and_leave_the_model_untouched(tmp_path):
    x, y, _ = least_squares(5)
    unbuilt = keras.Sequential([keras.layers.Dense(1)])
    unbuilt.compile(optimizer="sgd", loss="mse")
    with pytest.raises(ValueError, match="built model"):
        tblr.find_learning_rate(unbuilt, x, y)
    uncompiled = keras.Sequential([keras.Input((FEATURES,)), keras.layers.Dense(1)])
    with pytest.raises(ValueError, match="compiled model"):
        tblr.find_learning_rate(uncompiled, x, y)
    model = linear_model()
    before = snapshot(model)
    for arguments, message in [
        ({"min_lr": 1.0, "max_lr": 0.1}, "min_lr < max_lr"),
        ({"min_lr": 0.0}, "min_lr < max_lr"),
        ({"num_steps": 1}, "num_steps"),
        ({"mode": "cosine"}, "mode"),
        ({"stop_factor": 0.5}, "stop_factor"),
        ({"smoothing": 1.0}, "smoothing"),
    ]:
        with pytest.raises(ValueError, match=message):
            tblr.find_learning_rate(model, x, y, **arguments)
    blocked = tmp_path / "file"
    blocked.write_text("")
    with pytest.raises(tblr.LogDirError):
        tblr.find_learning_rate(model, x, y, log_dir=blocked)
    with pytest.raises(ValueError, match="first batch is nan"):
        tblr.find_learning_rate(model, x, np.full_like(y, np.nan), num_steps=10)
    for old, new in zip(before, snapshot(model), strict=True):
        np.testing.assert_array_equal(old, new)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="a tf.data dataset")
def test_a_tf_data_dataset_is_swept_in_its_order():
    import tensorflow as tf

    x, y, _ = least_squares(8)
    kernel_model = linear_model()
    kernel = keras.ops.convert_to_numpy(kernel_model.weights[0])
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(32).repeat()
    result = tblr.find_learning_rate(
        kernel_model, dataset, min_lr=1e-3, max_lr=0.05, num_steps=20, stop_factor=None
    )
    assert result.stopped == "completed"
    truth = numpy_losses(kernel, x, y, result.learning_rates, 32)
    np.testing.assert_allclose(result.losses, truth, rtol=1e-4)


@pytest.mark.skipif(keras.backend.backend() != "tensorflow", reason="a TensorFlow train_step")
def test_a_train_step_that_hides_its_loss_gets_a_clear_error():
    import tensorflow as tf

    class OwnTrainStep(keras.Model):
        def train_step(self, data):
            x, y = data
            with tf.GradientTape() as tape:
                loss = tf.reduce_mean((self(x, training=True)[:, 0] - y) ** 2)
            gradients = tape.gradient(loss, self.trainable_variables)
            self.optimizer.apply(gradients, self.trainable_variables)
            return {"loss": loss}

    x, y, _ = least_squares(7)
    inputs = keras.Input((FEATURES,))
    model = OwnTrainStep(inputs, keras.layers.Dense(1)(inputs))
    model.compile(optimizer="sgd", loss="mse")
    before = snapshot(model)
    with pytest.raises(RuntimeError, match="scale_loss"):
        tblr.find_learning_rate(model, x, y, num_steps=10)
    for old, new in zip(before, snapshot(model), strict=True):
        np.testing.assert_array_equal(old, new)


def test_a_sweep_that_runs_out_of_data_stops_and_says_so():
    x, y, _ = least_squares(6)
    model = linear_model()
    # A generator dataset of 5 batches (PyDataset: every backend's `fit` takes it).

    class FiveBatches(keras.utils.PyDataset):
        def __len__(self):
            return 5

        def __getitem__(self, index):
            return x[index * 16 : (index + 1) * 16], y[index * 16 : (index + 1) * 16]

    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        result = tblr.find_learning_rate(model, FiveBatches(), num_steps=50)
    assert result.stopped == "out_of_data"
    assert len(result.losses) == 5
    assert any("ran out after 5 of 50 steps" in str(w.message) for w in caught)
    assert math.isclose(result.learning_rates[0], 1e-7, rel_tol=1e-6)
