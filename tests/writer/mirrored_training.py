"""Training under a `tf.distribute` strategy, run by test_distributed.py in a fresh process.

Two logical CPUs (and a multi-worker cluster) must be set up before TensorFlow
initialises its devices, so this runs in its own process:

    python tests/writer/mirrored_training.py LOG_DIR

It trains one small model per schedule of `SCHEDULES` with `fit` and a
`LearningRateLogger` (run `<schedule name>`), one more under a
`LossScaleOptimizer` (run `loss_scaled`), then one custom loop with a
`LearningRateWriter` (run `custom_loop`), and, under `MirroredStrategy`, one
`fit` with `update_ratios=True` (run `update_ratios`) whose weights before and
after each update it saves beside. multi_worker_training.py reuses
`train_all` under `MultiWorkerMirroredStrategy`, where Keras 3.15's `fit`
fails on its own (keras-team/keras#20585), with custom loops that drive the
logger through `keras.callbacks.CallbackList`; central_storage_training.py
reuses these runs under `CentralStorageStrategy`. The tests rebuild the same
schedules from this module for their ground truth.
"""

from __future__ import annotations

import sys
from pathlib import Path

import keras
import numpy as np
import tensorflow as tf

# Run as a script: the shared test helpers live one directory up.
sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
from training_logs import LinearDecay

import tb_lr_plugin as tblr

schedules = keras.optimizers.schedules

EPOCHS = 2
BATCHES = 10  # global batches (optimizer steps) per epoch
GLOBAL_BATCH = 16
TOTAL = EPOCHS * BATCHES


# A subset of test_fit_exactness.py's schedules: transcendental with warm-up,
# branching, and a user subclass.
SCHEDULES = {
    "cosine_warmup": lambda: schedules.CosineDecay(
        0.0, 15, alpha=0.1, warmup_target=0.1, warmup_steps=5
    ),
    "piecewise": lambda: schedules.PiecewiseConstantDecay([4, 9, 13], [0.1, 0.05, 0.01, 0.001]),
    "user_subclass": lambda: LinearDecay(0.1, 17),
}
# Multi-worker training is slower to start and trace: two of them there.
# Loss scaling runs the inner update in replica threads of its own.
LOSS_SCALED_RUN, LOSS_SCALED_SCHEDULE = "loss_scaled", "piecewise"
MULTI_WORKER_SCHEDULES = ("cosine_warmup", "piecewise")
CUSTOM_LOOP_SCHEDULE = lambda: schedules.ExponentialDecay(  # noqa: E731
    0.1, decay_steps=3, decay_rate=0.7, staircase=True
)


class Probe(keras.layers.Layer):
    """Records what a layer sees in replica context: the batch, step, rate and epoch."""

    def call(self, x):
        tblr.record("input_mean", keras.ops.mean(x))
        tblr.record("step", tblr.current_step(default=0))
        tblr.record("rate", tblr.current_learning_rate(default=0.0))
        tblr.record("epoch", tblr.current_epoch(default=0))
        return x


def training_data() -> tuple[np.ndarray, np.ndarray]:
    """`BATCHES` global batches with distinct means, so a wrong reduction shows."""
    x = np.arange(BATCHES * GLOBAL_BATCH * 3, dtype="float32").reshape(-1, 3) / 100.0
    return x, x.sum(axis=1, keepdims=True)


def batch_means() -> np.ndarray:
    """The mean of each global batch, in step order over the whole run."""
    x, _ = training_data()
    return np.tile(x.reshape(BATCHES, -1).mean(axis=1), EPOCHS)


def build_model(
    strategy: tf.distribute.Strategy, optimizer_factory, *, steps_per_execution: int = 1
) -> keras.Model:
    """A small model with a `Probe`, compiled in `strategy`'s scope."""
    with strategy.scope():
        keras.utils.set_random_seed(0)
        model = keras.Sequential(
            [keras.Input((3,)), Probe(name="probe"), keras.layers.Dense(1)], name="net"
        )
        model.compile(
            optimizer=optimizer_factory(), loss="mse", steps_per_execution=steps_per_execution
        )
    return model


def fit_with_logger(
    strategy: tf.distribute.Strategy,
    log_dir: str,
    name: str,
    *,
    loss_scaling: bool = False,
    steps_per_execution: int = 1,
) -> None:
    """`fit` with a `LearningRateLogger` writing run `name` (or `LOSS_SCALED_RUN`)."""

    def optimizer():
        adam = keras.optimizers.Adam(SCHEDULES[name]())
        return keras.optimizers.LossScaleOptimizer(adam) if loss_scaling else adam

    model = build_model(strategy, optimizer, steps_per_execution=steps_per_execution)
    x, y = training_data()
    model.fit(
        x,
        y,
        batch_size=GLOBAL_BATCH,
        epochs=EPOCHS,
        shuffle=False,
        verbose=0,
        callbacks=[
            tblr.LearningRateLogger(log_dir, run_name=LOSS_SCALED_RUN if loss_scaling else name)
        ],
    )


def distributed_batches(strategy: tf.distribute.Strategy):
    """The training data as `strategy` hands it to its replicas, global batch by batch."""
    x, y = training_data()
    return strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    )


def compiled_train_step(strategy: tf.distribute.Strategy, model: keras.Model):
    """A `tf.function` running one update on every replica with `strategy.run`."""

    def replica_step(features, targets):
        with tf.GradientTape() as tape:
            error = model(features, training=True) - targets
            loss = tf.reduce_mean(error**2) / strategy.num_replicas_in_sync
        variables = model.trainable_variables
        gradients = tape.gradient(loss, variables)
        model.optimizer.apply_gradients(zip(gradients, variables, strict=True))

    @tf.function
    def train_step(batch):
        strategy.run(replica_step, args=batch)

    return train_step


def loop_with_logger(strategy: tf.distribute.Strategy, log_dir: str, name: str) -> None:
    """A custom loop driving a `LearningRateLogger` through Keras' `CallbackList`.

    The way to use Keras callbacks without `fit` (which Keras 3.15 cannot run
    under MultiWorkerMirroredStrategy).
    """
    model = build_model(strategy, lambda: keras.optimizers.Adam(SCHEDULES[name]()))
    callbacks = keras.callbacks.CallbackList(
        [tblr.LearningRateLogger(log_dir, run_name=name)],
        model=model,
        epochs=EPOCHS,
        steps=BATCHES,
    )
    train_step = compiled_train_step(strategy, model)
    callbacks.on_train_begin()
    for epoch in range(EPOCHS):
        callbacks.on_epoch_begin(epoch)
        for batch, data in enumerate(distributed_batches(strategy)):
            callbacks.on_train_batch_begin(batch)
            train_step(data)
            callbacks.on_train_batch_end(batch)
        callbacks.on_epoch_end(epoch)
    callbacks.on_train_end()


def custom_loop(strategy: tf.distribute.Strategy, log_dir: str) -> None:
    """A loop with `strategy.run` and a `LearningRateWriter` writing run `custom_loop`."""
    model = build_model(strategy, lambda: keras.optimizers.SGD(CUSTOM_LOOP_SCHEDULE()))
    train_step = compiled_train_step(strategy, model)
    with tblr.LearningRateWriter(
        log_dir, model.optimizer, total_steps=TOTAL, run_name="custom_loop"
    ) as writer:
        for epoch in range(EPOCHS):
            writer.begin_epoch(epoch)
            for data in distributed_batches(strategy):
                train_step(data)
                writer.log()


def train_all(
    strategy: tf.distribute.Strategy,
    log_dir: str,
    *,
    names: tuple[str, ...] = tuple(SCHEDULES),
    fit: bool = True,
) -> None:
    """Every run the distributed tests read back; `fit=False` drives the logger by hand."""
    for name in names:
        if fit:
            fit_with_logger(strategy, log_dir, name)
        else:
            loop_with_logger(strategy, log_dir, name)
    if fit:
        fit_with_logger(strategy, log_dir, LOSS_SCALED_SCHEDULE, loss_scaling=True)
    custom_loop(strategy, log_dir)


UPDATE_RATIO_RUN = "update_ratios"
WEIGHTS_FILE = "update_ratio_weights.npz"


class WeightSnapshots(keras.callbacks.Callback):
    """The trainable weights before and after every update, as NumPy sees them."""

    def __init__(self):
        super().__init__()
        self.before, self.after = [], []

    def on_train_batch_begin(self, batch, logs=None):
        self.before.append([v.numpy() for v in self.model.trainable_variables])

    def on_train_batch_end(self, batch, logs=None):
        self.after.append([v.numpy() for v in self.model.trainable_variables])


def fit_with_update_ratios(strategy: tf.distribute.Strategy, log_dir: str) -> None:
    """`fit` with `update_ratios=True` (run `UPDATE_RATIO_RUN`); the weights in `WEIGHTS_FILE`."""
    model = build_model(strategy, lambda: keras.optimizers.SGD(0.05, momentum=0.9))
    x, y = training_data()
    snapshots = WeightSnapshots()
    logger = tblr.LearningRateLogger(log_dir, run_name=UPDATE_RATIO_RUN, update_ratios=True)
    model.fit(
        x,
        y,
        batch_size=GLOBAL_BATCH,
        epochs=EPOCHS,
        shuffle=False,
        verbose=0,
        callbacks=[logger, snapshots],
    )
    arrays = {"paths": np.array([v.path for v in model.trainable_variables])}
    for when in ("before", "after"):
        for index in range(len(arrays["paths"])):
            arrays[f"{when}_{index}"] = np.stack([w[index] for w in getattr(snapshots, when)])
    np.savez(Path(log_dir) / WEIGHTS_FILE, **arrays)


def use_two_logical_cpus() -> None:
    """Splits the CPU in two devices; only before TensorFlow initialises them."""
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)


def main(log_dir: str) -> None:
    use_two_logical_cpus()
    strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
    train_all(strategy, log_dir)
    fit_with_update_ratios(strategy, log_dir)


if __name__ == "__main__":
    main(sys.argv[1])
