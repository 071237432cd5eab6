"""Trains until killed: run by test_crash_safety.py, which kills it with SIGKILL.

`python crash_training.py LOG_DIR CHECKPOINT_DIR FLUSH_SECS`: `fit` with
`LearningRateLogger(LOG_DIR, flush_secs=FLUSH_SECS)` over epochs of
`STEPS_PER_EPOCH` steps that never end on their own, saving a
`tf.train.Checkpoint` of the model and optimizer at the end of every epoch
(numbered by epoch). The test imports this module for the constants and the
model, so everything but `main` is import-safe.
"""

from __future__ import annotations

import sys

import keras
import numpy as np
import tensorflow as tf

import tb_lr_plugin as tblr

STEPS_PER_EPOCH = 200
EPOCHS = 1000  # Never reached: the test kills the process.


def schedule(scale: float = 1.0) -> keras.optimizers.schedules.LearningRateSchedule:
    """The configured rate; a resumed run uses another `scale`, so redone steps differ."""
    return keras.optimizers.schedules.CosineDecay(0.1 * scale, decay_steps=100_000, alpha=0.1)


def build_model(optimizer: keras.optimizers.Optimizer) -> keras.Model:
    """A tiny model compiled with `optimizer`, its optimizer built (for restoring)."""
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(optimizer=optimizer, loss="mse")
    optimizer.build(model.trainable_variables)
    return model


def dataset() -> tf.data.Dataset:
    """One batch of 8, repeated forever: an epoch is `steps_per_epoch` steps."""
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8, 3)).astype("float32")
    return tf.data.Dataset.from_tensors((x, x.sum(axis=1, keepdims=True))).repeat()


def checkpoint(model: keras.Model, directory: str) -> tf.train.CheckpointManager:
    """A manager keeping every epoch's checkpoint of the model and its optimizer."""
    state = tf.train.Checkpoint(model=model, optimizer=model.optimizer)
    return tf.train.CheckpointManager(state, directory, max_to_keep=None)


class SaveEveryEpoch(keras.callbacks.Callback):
    """Saves a checkpoint numbered by the epoch that ended."""

    def __init__(self, manager: tf.train.CheckpointManager):
        super().__init__()
        self.manager = manager

    def on_epoch_end(self, epoch, logs=None):
        self.manager.save(checkpoint_number=epoch + 1)


def main(log_dir: str, checkpoint_dir: str, flush_secs: float) -> None:
    model = build_model(keras.optimizers.Adam(schedule()))
    model.fit(
        dataset(),
        epochs=EPOCHS,
        steps_per_epoch=STEPS_PER_EPOCH,
        shuffle=False,
        verbose=0,
        # The logger first: its epoch-end flush comes before the checkpoint.
        callbacks=[
            tblr.LearningRateLogger(log_dir, flush_secs=flush_secs),
            SaveEveryEpoch(checkpoint(model, checkpoint_dir)),
        ],
    )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]))
