"""Test helpers: small Keras models, and reading logs back as TensorBoard does.

Backend-neutral: imported on TensorFlow, JAX and PyTorch alike.
"""

from __future__ import annotations

import dataclasses

import keras
import numpy as np
from tensorboard import context
from tensorboard.backend.event_processing import data_provider, plugin_event_multiplexer

from tb_lr_plugin import event_format
from tb_lr_plugin.plugin import run_data


@dataclasses.dataclass
class LoggedRun:
    """What TensorBoard's own loader reads back from one run."""

    tags: dict[str, run_data.Tag]
    _data: run_data.RunData
    _run: str

    def series(self, name: str) -> run_data.Series:
        return self._data.series(context.RequestContext(), "", self._run, self.tags[name])

    def documents(self, name: str) -> list:
        docs = self._data.documents(context.RequestContext(), "", self._run, self.tags[name])
        return [d.content for d in docs]


def loaded_multiplexer(log_dir) -> plugin_event_multiplexer.EventMultiplexer:
    """`log_dir` loaded by TensorBoard's Python loader with default flags plus `lr=all`.

    `lr=0` (keep every record) is what the plugin's loader sets for the user.
    """
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        tensor_size_guidance={event_format.PLUGIN_NAME: 0}
    )
    multiplexer.AddRunsFromDirectory(str(log_dir))
    multiplexer.Reload()
    return multiplexer


def read_run(log_dir, run: str = "train") -> LoggedRun:
    """Run `run` of `log_dir`, read as the plugin reads it (`loaded_multiplexer`)."""
    multiplexer = loaded_multiplexer(log_dir)
    data = run_data.RunData(data_provider.MultiplexerDataProvider(multiplexer, str(log_dir)))
    runs, problems = data.tags(context.RequestContext(), "")
    assert not problems
    assert run in runs, f"no run {run!r} in {sorted(runs)}"
    return LoggedRun(runs[run], data, run)


def schedule_at(schedule, steps, *, jit_compile: bool | None = None) -> np.ndarray:
    """The real schedule object called on each step as `fit`'s train step calls it.

    `jit_compile` as given to `compile` (`None`: its default, "auto"). On
    TensorFlow inside a `tf.function` (XLA when `jit_compile`); on JAX inside
    `jax.jit` unless `jit_compile=False`; on PyTorch eagerly. Graph
    optimisations round transcendental schedules differently from eager
    calls in the last bit, and the optimizer applies the compiled value.
    """
    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        compiled = tf.function(
            lambda step: tf.cast(schedule(step), tf.float32), jit_compile=bool(jit_compile)
        )
        return np.array([float(compiled(tf.constant(int(s), tf.int64))) for s in steps], np.float32)
    if backend == "jax" and jit_compile is not False:
        import jax

        call = jax.jit(lambda step: keras.ops.cast(schedule(step), "float32"))
        return np.array([float(call(np.int32(s))) for s in steps], np.float32)
    return eager_schedule_at(schedule, steps)


def eager_schedule_at(schedule, steps) -> np.ndarray:
    """The schedule called eagerly on each step, as a user would in a notebook."""
    dtype = "int32" if keras.backend.backend() == "jax" else "int64"
    return np.array(
        [float(schedule(keras.ops.convert_to_tensor(int(s), dtype))) for s in steps], np.float32
    )


class LinearDecay(keras.optimizers.schedules.LearningRateSchedule):
    """A user-defined schedule: linear decay to zero."""

    def __init__(self, initial, steps):
        self.initial = initial
        self.steps = steps

    def __call__(self, step):
        fraction = keras.ops.cast(step, "float32") / self.steps
        return self.initial * keras.ops.maximum(0.0, 1.0 - fraction)

    def get_config(self):
        return {"initial": self.initial, "steps": self.steps}


class RecordingSGD(keras.optimizers.SGD):
    """SGD that records the learning rate its `update_step` received, per step.

    The ground truth of "the rate update s applied": the value Keras passes to
    the update rule itself.
    """

    capacity = 4096

    def build(self, variables):
        super().build(variables)
        # An optimizer variable: JAX's stateless train step carries it.
        self.received = self.add_variable(
            (self.capacity,), initializer=keras.initializers.Constant(np.nan), name="received"
        )

    def update_step(self, gradient, variable, learning_rate):
        rate = keras.ops.reshape(keras.ops.cast(learning_rate, "float32"), (1,))
        index = keras.ops.cast(self.iterations, "int32")
        self.received.assign(keras.ops.slice_update(self.received.value, (index,), rate))
        super().update_step(gradient, variable, learning_rate)


def small_model(
    optimizer, *, steps_per_execution: int = 1, jit_compile="auto", middle=()
) -> keras.Model:
    """Dense(4), the `middle` layers, Dense(1), compiled with mean squared error."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), *middle, keras.layers.Dense(1)]
    )
    model.compile(
        optimizer=optimizer,
        loss="mse",
        steps_per_execution=steps_per_execution,
        jit_compile=jit_compile,
    )
    return model


def data(batches: int, batch_size: int = 8, *, noise_only: bool = False):
    rng = np.random.default_rng(0)
    x = rng.normal(size=(batches * batch_size, 3)).astype("float32")
    y = rng.normal(size=(len(x), 1)).astype("float32")
    if not noise_only:
        y = x.sum(axis=1, keepdims=True)
    return x, y


def gradients(model: keras.Model, x: np.ndarray, y: np.ndarray) -> list:
    """The gradients of the mean squared error, as each backend's own loop computes them."""
    if keras.backend.backend() == "tensorflow":
        import tensorflow as tf

        with tf.GradientTape() as tape:
            loss = tf.reduce_mean((model(x) - y) ** 2)
        return tape.gradient(loss, model.trainable_variables)
    if keras.backend.backend() == "jax":
        import jax

        def loss(trainable):
            outputs, _ = model.stateless_call(trainable, model.non_trainable_variables, x)
            return keras.ops.mean((outputs - y) ** 2)

        return jax.grad(loss)([v.value for v in model.trainable_variables])
    model.zero_grad()
    loss = keras.ops.mean((model(x) - keras.ops.convert_to_tensor(y)) ** 2)
    loss.backward()
    return [v.value.grad for v in model.trainable_variables]
