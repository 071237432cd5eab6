"""`update_ratios=True`: each layer's update-to-weight ratio and the gradient norm, every update.

Ground truth: the weights themselves, copied to NumPy before and after each
update, with the real optimizers (momentum, decoupled weight decay, clipping).
"""

from __future__ import annotations

import keras
import numpy as np
import pytest
from training_logs import data, gradients, read_run, small_model

import tb_lr_plugin as tblr
from tb_lr_plugin.writer import update_measures

BACKEND = keras.backend.backend()


def expected_measures(variables, before, after, grads) -> tuple[dict[str, float], float]:
    """Each layer's ||after - before|| / ||before|| and the gradients' global norm, in float64."""
    change, weight = {}, {}
    for variable, b, a in zip(variables, before, after, strict=True):
        layer = variable.path.rsplit("/", 1)[0]
        b, a = np.float64(b), np.float64(a)
        change[layer] = change.get(layer, 0.0) + np.sum((a - b) ** 2)
        weight[layer] = weight.get(layer, 0.0) + np.sum(b**2)
    ratios = {layer: np.sqrt(change[layer]) / np.sqrt(weight[layer]) for layer in change}
    norm = np.sqrt(sum(np.sum(np.float64(np.asarray(g)) ** 2) for g in grads))
    return ratios, norm


def assert_measures_logged(log_dir, truth: list[tuple[dict[str, float], float]]) -> None:
    run = read_run(log_dir)
    steps = np.arange(len(truth))
    for layer in truth[0][0]:
        logged = run.series(f"update_ratio/{layer}")
        np.testing.assert_array_equal(logged.steps, steps)
        np.testing.assert_allclose(
            logged.values, [ratios[layer] for ratios, _ in truth], rtol=2e-5, err_msg=layer
        )
    norms = run.series("gradient_norm")
    np.testing.assert_array_equal(norms.steps, steps)
    np.testing.assert_allclose(norms.values, [norm for _, norm in truth], rtol=2e-5)
    assert {name for name in run.tags if name.startswith("update_ratio/")} == {
        f"update_ratio/{layer}" for layer in truth[0][0]
    }


def custom_loop(log_dir, optimizer, model, steps: int, every: int = 1) -> list:
    """Trains `model` with `LearningRateWriter(update_ratios=True)`; the measures NumPy sees."""
    x, y = data(1, batch_size=16)
    variables = model.trainable_variables
    truth = []
    writer = tblr.LearningRateWriter(
        log_dir, optimizer, update_ratios=True, update_ratio_every=every
    )
    with writer:
        for _ in range(steps):
            grads = gradients(model, x, y)
            before = [v.numpy().copy() for v in variables]
            optimizer.apply_gradients(zip(grads, variables, strict=True))
            writer.log()
            after = [v.numpy().copy() for v in variables]
            truth.append(
                expected_measures(
                    variables, before, after, [keras.ops.convert_to_numpy(g) for g in grads]
                )
            )
    return truth


@pytest.mark.parametrize("loss_scale", [None, 8.0])
def test_the_measures_are_what_numpy_measures(loss_scale):
    """The measures' arithmetic alone: layers of several variables (a kernel, a
    vector, a scalar), a gradient missing, and a loss scale to divide out."""
    rng = np.random.default_rng(0)
    layers = [keras.layers.Dense(4, name="a"), keras.layers.Dense(1, use_bias=False, name="b")]
    layers[0].build((None, 3))
    layers[1].build((None, 4))
    gain = keras.layers.Layer(name="c")
    gain.add_weight(shape=(), initializer="ones", name="gain")
    variables = [*layers[0].trainable_variables, *layers[1].trainable_variables, *gain.weights]
    grads = [rng.normal(size=v.shape).astype("float32") for v in variables]
    grads[3] = None
    before_values = [v.numpy().copy() for v in variables]
    before = update_measures.measure_before(variables, grads, loss_scale)
    for variable in variables:
        variable.assign(variable.numpy() * 1.01 + 0.001)
    measures = keras.ops.convert_to_numpy(update_measures.measure_after(variables, before))
    ratios, norm = expected_measures(
        variables, before_values, [v.numpy() for v in variables], grads[:3]
    )
    assert list(ratios) == ["a", "b", "c"]
    np.testing.assert_allclose(measures[:-1], list(ratios.values()), rtol=1e-5)
    np.testing.assert_allclose(measures[-1], norm / (loss_scale or 1.0), rtol=1e-5)


def two_layer_model() -> keras.Model:
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((3,)),
            keras.layers.Dense(5, name="hidden"),
            keras.layers.Dense(1, name="out"),
        ],
        name="model",
    )


@pytest.mark.parametrize(
    "make_optimizer",
    [
        lambda: keras.optimizers.SGD(0.1, momentum=0.9),
        lambda: keras.optimizers.AdamW(0.01, weight_decay=0.5),
        lambda: keras.optimizers.SGD(0.5, clipnorm=0.05),
    ],
    ids=["sgd_momentum", "adamw_weight_decay", "sgd_clipnorm"],
)
def test_a_custom_loop_logs_what_each_update_did(log_dir, make_optimizer):
    truth = custom_loop(log_dir, make_optimizer(), two_layer_model(), steps=12)
    assert set(truth[0][0]) == {"model/hidden", "model/out"}
    assert_measures_logged(log_dir, truth)


def test_weight_decay_is_in_the_ratio(log_dir):
    """AdamW's decay moves the weights beyond Adam's step: the ratio is of what moved."""
    decayed = custom_loop(
        log_dir / "a", keras.optimizers.AdamW(0.01, weight_decay=5.0), two_layer_model(), 3
    )
    plain = custom_loop(
        log_dir / "b", keras.optimizers.AdamW(0.01, weight_decay=0.0), two_layer_model(), 3
    )
    assert decayed[0][0]["model/hidden"] > 2 * plain[0][0]["model/hidden"]


class WeightSnapshots(keras.callbacks.Callback):
    """The trainable weights before and after every batch (`steps_per_execution=1`)."""

    def __init__(self):
        super().__init__()
        self.before, self.after = [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.before.append([v.numpy().copy() for v in self.model.trainable_variables])

    def on_train_batch_end(self, batch, logs=None):
        self.after.append([v.numpy().copy() for v in self.model.trainable_variables])


def test_fit_logs_what_each_update_did(log_dir):
    model = small_model(keras.optimizers.SGD(0.05, momentum=0.9))
    x, y = data(10)
    snapshots = WeightSnapshots()
    model.fit(
        x,
        y,
        batch_size=8,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(log_dir, update_ratios=True), snapshots],
    )
    variables = model.trainable_variables
    ratios = [
        expected_measures(variables, b, a, [])[0]
        for b, a in zip(snapshots.before, snapshots.after, strict=True)
    ]
    run = read_run(log_dir)
    for layer in ratios[0]:
        logged = run.series(f"update_ratio/{layer}")
        np.testing.assert_array_equal(logged.steps, np.arange(20))
        np.testing.assert_allclose(logged.values, [r[layer] for r in ratios], rtol=2e-5)
    assert len(run.series("gradient_norm").steps) == 20


def test_without_the_option_nothing_is_measured(log_dir):
    model = small_model(keras.optimizers.SGD(0.05))
    x, y = data(4)
    model.fit(x, y, batch_size=8, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    names = read_run(log_dir).tags
    assert not [n for n in names if n.startswith("update_ratio") or n == "gradient_norm"]


def test_every_layer_of_a_300_layer_model_is_measured(log_dir):
    keras.utils.set_random_seed(0)
    # Identity kernels: the gradient reaches the first layer undiminished.
    layers = [
        keras.layers.Dense(3, kernel_initializer="identity", name=f"dense_{i:03d}")
        for i in range(300)
    ]
    model = keras.Sequential(
        [keras.Input((3,)), *layers, keras.layers.Dense(1, name="out")], name="deep"
    )
    truth = custom_loop(log_dir, keras.optimizers.SGD(0.001), model, steps=2)
    assert len(truth[0][0]) == 301 and min(truth[0][0].values()) > 1e-6
    assert_measures_logged(log_dir, truth)


def fit_measures(log_dir, every: int = 1, **compile_options) -> list:
    """The gradient norm, then each layer's ratios in layer order, of a small `fit`."""
    model = small_model(keras.optimizers.AdamW(0.01, weight_decay=0.1), **compile_options)
    x, y = data(12)
    logger = tblr.LearningRateLogger(log_dir, update_ratios=True, update_ratio_every=every)
    model.fit(x, y, batch_size=8, epochs=2, shuffle=False, verbose=0, callbacks=[logger])
    run = read_run(log_dir)
    layers = [f"update_ratio/{layer.path}" for layer in model.layers]
    assert sorted(n for n in run.tags if n.startswith("update_ratio/")) == sorted(layers)
    return [run.series(name) for name in ["gradient_norm", *layers]]


@pytest.mark.skipif(BACKEND != "tensorflow", reason="steps_per_execution and XLA of TensorFlow")
@pytest.mark.parametrize("options", [{"steps_per_execution": 5}, {"jit_compile": True}])
def test_every_step_is_measured_with_several_steps_per_execution_and_xla(log_dir, options):
    plain = fit_measures(log_dir / "plain", jit_compile=False)
    other = fit_measures(log_dir / "other", **options)
    assert len(plain) == len(other) == 3
    for expected, series in zip(plain, other, strict=True):
        np.testing.assert_array_equal(series.steps, np.arange(24))
        np.testing.assert_allclose(series.values, expected.values, rtol=1e-5)


@pytest.mark.skipif(
    BACKEND == "jax", reason="Keras' LossScaleOptimizer.apply cannot run eagerly on JAX"
)
def test_an_update_skipped_on_overflow_is_not_a_step_and_is_counted(log_dir):
    """`LossScaleOptimizer` skips the update of non-finite gradients: no step, no measure;
    `skipped_updates` counts the skips before each step (the scale also doubles here
    after every two applied updates, so halvings and doublings mix)."""
    model = two_layer_model()
    optimizer = keras.optimizers.LossScaleOptimizer(
        keras.optimizers.SGD(0.1), initial_scale=4.0, dynamic_growth_steps=2
    )
    x, y = data(1, batch_size=16)
    variables = model.trainable_variables
    truth, skipped_before, skipped = [], [], 0
    with tblr.LearningRateWriter(log_dir, optimizer, update_ratios=True) as writer:
        for call in range(14):
            # The gradients of the loss `optimizer.scale_loss` gives.
            scale = float(keras.ops.convert_to_numpy(optimizer.scale_loss(1.0)))
            grads = [g * scale for g in gradients(model, x, y)]
            overflow = call in (0, 3, 4, 7, 8, 9, 13)
            if overflow:
                grads[0] = grads[0] * np.float32("inf")
            before = [v.numpy().copy() for v in variables]
            optimizer.apply(grads, variables)
            writer.log()
            after = [v.numpy().copy() for v in variables]
            if overflow:
                skipped += 1
                assert all(np.array_equal(a, b) for a, b in zip(after, before, strict=True))
            else:
                unscaled = [keras.ops.convert_to_numpy(g) / scale for g in grads]
                truth.append(expected_measures(variables, before, after, unscaled))
                skipped_before.append(skipped)
    assert_measures_logged(log_dir, truth)
    counts = read_run(log_dir).series("skipped_updates")
    changes = [0, *np.flatnonzero(np.diff(skipped_before) != 0) + 1]
    np.testing.assert_array_equal(counts.steps, changes)
    np.testing.assert_array_equal(counts.values, np.array(skipped_before)[changes])
    assert counts.values.tolist() == [1, 3, 6]  # The skip after the last step has no step.


@pytest.mark.parametrize(
    "steps_per_execution",
    [1, pytest.param(4, marks=pytest.mark.skipif(BACKEND == "torch", reason="spe 1 only"))],
)
def test_fit_counts_the_updates_a_loss_scale_optimizer_skipped(log_dir, steps_per_execution):
    """Batches whose loss overflows are skipped: the steps are the others, and
    `skipped_updates` says how many were skipped before each."""
    optimizer = keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.01))
    model = small_model(optimizer, steps_per_execution=steps_per_execution)
    x, y = data(12)
    poisoned = (2, 5, 6, 11)
    for batch in poisoned:
        x[batch * 8 : batch * 8 + 8] = 1e30  # The loss overflows: gradients are not finite.
    logger = tblr.LearningRateLogger(log_dir, update_ratios=True)
    model.fit(x, y, batch_size=8, shuffle=False, verbose=0, callbacks=[logger])
    applied = [b for b in range(12) if b not in poisoned]
    assert int(keras.ops.convert_to_numpy(optimizer.iterations)) == len(applied)
    before = np.array([sum(p < b for p in poisoned) for b in applied])
    changes = [0, *np.flatnonzero(np.diff(before) != 0) + 1]
    counts = read_run(log_dir).series("skipped_updates")
    np.testing.assert_array_equal(counts.steps, changes)
    np.testing.assert_array_equal(counts.values, before[changes])
    assert len(read_run(log_dir).series("gradient_norm").steps) == len(applied)


def test_a_stride_measures_every_nth_update_and_copies_nothing_between(log_dir):
    stride = custom_loop(log_dir / "stride", keras.optimizers.SGD(0.1), two_layer_model(), 10, 4)
    every = custom_loop(log_dir / "every", keras.optimizers.SGD(0.1), two_layer_model(), 10)
    for name in ["update_ratio/model/hidden", "update_ratio/model/out", "gradient_norm"]:
        measured_steps = read_run(log_dir / "stride").series(name)
        np.testing.assert_array_equal(measured_steps.steps, [0, 4, 8])
        all_steps = read_run(log_dir / "every").series(name)
        np.testing.assert_allclose(measured_steps.values, all_steps.values[[0, 4, 8]], rtol=1e-6)
    assert stride == every  # The ground truth: the same training either way.


@pytest.mark.parametrize("every", [0, -1, 2.5, True])
def test_a_stride_that_is_no_whole_number_is_refused(log_dir, every):
    with pytest.raises(ValueError, match="update_ratio_every must be a whole number"):
        tblr.LearningRateLogger(log_dir, update_ratios=True, update_ratio_every=every)
    with pytest.raises(ValueError, match="update_ratio_every must be a whole number"):
        tblr.LearningRateWriter(log_dir, keras.optimizers.SGD(), update_ratio_every=every)


@pytest.mark.parametrize(
    "steps_per_execution",
    [1, pytest.param(5, marks=pytest.mark.skipif(BACKEND == "torch", reason="spe 1 only"))],
)
def test_fit_with_a_stride_measures_every_nth_update(log_dir, steps_per_execution):
    every = fit_measures(log_dir / "every", steps_per_execution=1)
    stride = fit_measures(log_dir / "stride", 3, steps_per_execution=steps_per_execution)
    for all_steps, series in zip(every, stride, strict=True):
        np.testing.assert_array_equal(series.steps, np.arange(0, 24, 3))
        np.testing.assert_allclose(series.values, all_steps.values[::3], rtol=1e-5)
