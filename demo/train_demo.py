"""Demo: the questions users bring about learning rates, answered by runs in the LR tab.

Usage: python demo/train_demo.py runs/demo   (any backend: KERAS_BACKEND=jax ...)

Writes one run per question into the log directory (about a minute on 2 CPU
cores, on data generated here: no downloads), then `tensorboard --logdir
runs/demo` shows them in the LR tab:

- `fit_cosine_warmup`: `fit` with CosineDecay after a warm-up, and a custom
  layer that reads the current learning rate and step inside `call` and
  records two values.
- `loop_exponential`: a custom loop with ExponentialDecay (TensorFlow's
  GradientTape, JAX's `jax.grad` or PyTorch's `backward`, per backend).
- `loop_manual_assign`: a loop with a float rate halved by hand halfway
  (a deviation from the configured flat rate).
- `epoch_scheduler`: a `LearningRateScheduler` epoch function.
- `plateau`: `ReduceLROnPlateau` on a loss that plateaus.
- `custom_schedule_and_optimizer`: a user-defined `LearningRateSchedule`
  (linear decay) with a custom optimizer whose own hyperparameter changes
  during training.
- `update_ratios`: `fit` with `update_ratios=True` of an MLP with one layer
  whose weights start 10,000 times smaller than usual (Adam's rate is far too
  high for it: red in the heat map) and one whose start 20 times larger (it
  barely learns: blue).
- `range_test`: an LR range test (`find_learning_rate`) of an MLP with SGD and
  momentum, and `after_range_test`: the same model then trained with a warm-up
  to the rate the test suggested (its `valley`) and a cosine decay.
- `preview/*`: three schedules written with `write_schedule`, no training.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import tb_lr_plugin as tblr

BATCH = 32
STEPS_PER_EPOCH = 250
schedules = keras.optimizers.schedules


def make_data(seed: int = 0, steps: int = STEPS_PER_EPOCH) -> tuple[np.ndarray, np.ndarray]:
    """A regression problem generated on the spot."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(steps * BATCH, 16)).astype("float32")
    y = np.sin(x[:, :4].sum(axis=1, keepdims=True)) + 0.1 * rng.normal(size=(len(x), 1))
    return x, y.astype("float32")


def mlp(*extra: keras.layers.Layer) -> keras.Model:
    return keras.Sequential(
        [
            keras.Input((16,)),
            keras.layers.Dense(64, activation="relu"),
            *extra,
            keras.layers.Dense(1),
        ]
    )


class AnnealedNoise(keras.layers.Layer):
    """Gaussian noise scaled by the learning rate of the current step.

    `tblr.current_learning_rate()` is a tensor read inside the compiled step,
    so the scale follows the schedule (a Python float would be frozen when
    `fit` traces its train function).
    """

    def __init__(self, **kwargs):
        super().__init__(**kwargs)
        self.seed_generator = keras.random.SeedGenerator(0)  # JAX traces no unseeded noise.

    def call(self, x, training=False):
        rate = tblr.current_learning_rate(default=0.0)
        step = tblr.current_step(default=0)
        tblr.record("noise_scale", rate * 10.0)
        tblr.record("steps_seen", step)
        if not training:
            return x
        return x + rate * 10.0 * keras.random.normal(keras.ops.shape(x), seed=self.seed_generator)


def fit_cosine_warmup(log_dir: str) -> None:
    """How do I see the learning rate of a CosineDecay with warm-up, per step?"""
    epochs = 4
    total = epochs * STEPS_PER_EPOCH
    schedule = schedules.CosineDecay(
        0.0, decay_steps=total - 200, warmup_target=1e-2, warmup_steps=200, alpha=0.05
    )
    model = mlp(AnnealedNoise(name="annealed_noise"))
    # PyTorch's `fit` runs one step per execution.
    per_execution = 1 if keras.backend.backend() == "torch" else 8
    model.compile(
        optimizer=keras.optimizers.Adam(schedule), loss="mse", steps_per_execution=per_execution
    )
    x, y = make_data()
    run = os.path.join(log_dir, "fit_cosine_warmup")
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=epochs,
        verbose=0,
        callbacks=[*keras_tensorboard(run), tblr.LearningRateLogger(run)],
    )


def keras_tensorboard(run: str) -> list[keras.callbacks.Callback]:
    """Keras' own TensorBoard callback beside the logger, where it runs (it needs TensorFlow)."""
    return [keras.callbacks.TensorBoard(run)] if keras.backend.backend() == "tensorflow" else []


def train_step_of(model: keras.Model, optimizer: keras.optimizers.Optimizer):
    """One update on a batch, written as each backend's own custom loop writes it."""

    def loss_of(outputs, yb):
        return keras.ops.mean((outputs - yb) ** 2)

    backend = keras.backend.backend()
    if backend == "tensorflow":
        import tensorflow as tf

        @tf.function
        def train_step(xb, yb):
            with tf.GradientTape() as tape:
                loss = loss_of(model(xb, training=True), yb)
            grads = tape.gradient(loss, model.trainable_variables)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    elif backend == "jax":
        import jax

        def stateless_loss(trainable, xb, yb):
            outputs, _ = model.stateless_call(
                trainable, model.non_trainable_variables, xb, training=True
            )
            return loss_of(outputs, yb)

        gradient = jax.jit(jax.grad(stateless_loss))

        def train_step(xb, yb):
            grads = gradient([v.value for v in model.trainable_variables], xb, yb)
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    else:

        def train_step(xb, yb):
            model.zero_grad()
            loss_of(model(xb, training=True), keras.ops.convert_to_tensor(yb)).backward()
            grads = [v.value.grad for v in model.trainable_variables]
            optimizer.apply_gradients(zip(grads, model.trainable_variables, strict=True))

    return train_step


def custom_loop(log_dir: str, run_name: str, optimizer, steps: int, assign_at=None) -> None:
    """A custom loop: `LearningRateWriter.log()` after every update."""
    model = mlp()
    x, y = make_data(seed=1)
    train_step = train_step_of(model, optimizer)

    with tblr.LearningRateWriter(log_dir, optimizer, total_steps=steps, run_name=run_name) as w:
        for step in range(steps):
            if step % STEPS_PER_EPOCH == 0:
                w.begin_epoch(step // STEPS_PER_EPOCH)
            if step == assign_at:
                # Applied from the next update on; the tab marks it "manual assign".
                optimizer.learning_rate.assign(float(optimizer.learning_rate) / 2)
            batch = step % STEPS_PER_EPOCH
            train_step(
                x[batch * BATCH : (batch + 1) * BATCH], y[batch * BATCH : (batch + 1) * BATCH]
            )
            w.log()


def epoch_scheduler(log_dir: str) -> None:
    """LearningRateScheduler: a function of the epoch, applied at each epoch's start."""

    def step_down(epoch: int, lr: float) -> float:
        return lr * 0.5 if epoch in (2, 4) else lr

    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(0.05, momentum=0.9), loss="mse")
    x, y = make_data(seed=2, steps=100)
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=6,
        verbose=0,
        callbacks=[
            keras.callbacks.LearningRateScheduler(step_down),
            tblr.LearningRateLogger(log_dir, run_name="epoch_scheduler"),
        ],
    )


def plateau(log_dir: str) -> None:
    """ReduceLROnPlateau: the rate drops where the loss stops improving."""
    rng = np.random.default_rng(3)
    x = rng.normal(size=(100 * BATCH, 16)).astype("float32")
    y = rng.normal(size=(len(x), 1)).astype("float32")  # Noise: the loss plateaus.
    model = mlp()
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=8,
        verbose=0,
        callbacks=[
            keras.callbacks.ReduceLROnPlateau("loss", factor=0.3, patience=1, min_delta=1e-2),
            tblr.LearningRateLogger(log_dir, run_name="plateau"),
        ],
    )


class LinearDecay(schedules.LearningRateSchedule):
    """A user-defined schedule: linear decay from `initial` to 0 over `steps`."""

    def __init__(self, initial: float, steps: int):
        self.initial = initial
        self.steps = steps

    def __call__(self, step):
        fraction = keras.ops.cast(step, "float32") / self.steps
        return self.initial * keras.ops.maximum(0.0, 1.0 - fraction)

    def get_config(self):
        return {"initial": self.initial, "steps": self.steps}


class DampedSGD(keras.optimizers.SGD):
    """A custom optimizer with a hyperparameter of its own, decayed every update.

    `damping` is a scalar variable: the LR tab shows it as `optimizer/damping`
    at every step it changes, and `trust` (a float in `get_config`) once.
    """

    def __init__(self, learning_rate=0.01, trust: float = 0.9, **kwargs):
        super().__init__(learning_rate, **kwargs)
        self.trust = trust

    def build(self, variables):
        super().build(variables)
        self.damping = self.add_variable((), initializer="ones", name="damping")

    def update_step(self, gradient, variable, learning_rate):
        rate = keras.ops.cast(learning_rate, variable.dtype) * self.trust * self.damping
        variable.assign_sub(rate * gradient)

    def apply(self, grads, trainable_variables=None):
        super().apply(grads, trainable_variables)
        self.damping.assign(keras.ops.maximum(0.2, self.damping * 0.999))

    def get_config(self):
        return {**super().get_config(), "trust": self.trust}


def custom_schedule_and_optimizer(log_dir: str) -> None:
    epochs = 4
    model = mlp()
    model.compile(
        optimizer=DampedSGD(LinearDecay(0.05, epochs * STEPS_PER_EPOCH), trust=0.9), loss="mse"
    )
    x, y = make_data(seed=4)
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=epochs,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(log_dir, run_name="custom_schedule_and_optimizer")],
    )


def update_ratios(log_dir: str) -> None:
    """Is the rate right for every layer? One layer too small for Adam's steps, one too large."""
    keras.utils.set_random_seed(0)

    def dense(name: str, stddev: float | None = None) -> keras.layers.Dense:
        init = keras.initializers.RandomNormal(stddev=stddev) if stddev else "glorot_uniform"
        return keras.layers.Dense(32, activation="tanh", name=name, kernel_initializer=init)

    model = keras.Sequential(
        [
            keras.Input((16,)),
            dense("hidden_1"),
            dense("hidden_2"),
            dense("small_init", stddev=1e-5),  # Adam moves each weight by ~1e-3: far too far.
            dense("hidden_3"),
            dense("large_init", stddev=4.0),  # The same steps barely move these weights.
            keras.layers.Dense(1, name="output"),
        ],
        name="mlp",
    )
    model.compile(optimizer=keras.optimizers.Adam(1e-3), loss="mse")
    x, y = make_data(seed=5)
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=3,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(log_dir, run_name="update_ratios", update_ratios=True)],
    )


def range_test(log_dir: str) -> None:
    """Which learning rate should I configure?"""
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(momentum=0.9), loss="mse")
    x, y = make_data(seed=7)
    result = tblr.find_learning_rate(
        model, x, y, batch_size=BATCH, min_lr=1e-5, max_lr=10.0, log_dir=log_dir, seed=0
    )
    total = 3 * STEPS_PER_EPOCH
    schedule = schedules.CosineDecay(
        0.0, decay_steps=total - 100, warmup_target=result.valley, warmup_steps=100
    )
    model.compile(optimizer=keras.optimizers.SGD(schedule, momentum=0.9), loss="mse")
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=3,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(log_dir, run_name="after_range_test")],
    )


def previews(log_dir: str) -> None:
    """Look at schedules before training anything."""
    preview_dir = os.path.join(log_dir, "preview")
    tblr.write_schedule(
        preview_dir,
        schedules.CosineDecayRestarts(0.1, 2000, t_mul=2.0, m_mul=0.7),
        30_000,
        run_name="cosine_restarts",
    )
    tblr.write_schedule(
        preview_dir,
        schedules.PiecewiseConstantDecay([10_000, 20_000], [0.1, 0.01, 0.001]),
        30_000,
        run_name="piecewise",
    )
    tblr.write_schedule(
        preview_dir,
        schedules.ExponentialDecay(0.1, 3000, 0.5, staircase=True),
        30_000,
        run_name="exponential_staircase",
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log_dir", help="where to write the runs (then: tensorboard --logdir)")
    log_dir = parser.parse_args().log_dir
    keras.utils.set_random_seed(0)
    steps = [
        ("fit_cosine_warmup", lambda: fit_cosine_warmup(log_dir)),
        (
            "loop_exponential",
            lambda: custom_loop(
                log_dir,
                "loop_exponential",
                keras.optimizers.Adam(schedules.ExponentialDecay(1e-2, 200, 0.7)),
                1000,
            ),
        ),
        (
            "loop_manual_assign",
            lambda: custom_loop(
                log_dir, "loop_manual_assign", keras.optimizers.SGD(0.02), 1000, assign_at=500
            ),
        ),
        ("epoch_scheduler", lambda: epoch_scheduler(log_dir)),
        ("plateau", lambda: plateau(log_dir)),
        ("custom_schedule_and_optimizer", lambda: custom_schedule_and_optimizer(log_dir)),
        ("update_ratios", lambda: update_ratios(log_dir)),
        ("range_test", lambda: range_test(log_dir)),
        ("preview", lambda: previews(log_dir)),
    ]
    for name, write in steps:
        print(f"writing {name} ...", flush=True)
        write()


if __name__ == "__main__":
    main()
