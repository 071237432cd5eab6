"""Trains until killed: run by test_crash_safety.py, which kills it with SIGKILL.

`python crash_training.py LOG_DIR CHECKPOINT_DIR FLUSH_SECS`: `fit` with
`LearningRateLogger(LOG_DIR, flush_secs=FLUSH_SECS)` over epochs of
`STEPS_PER_EPOCH` steps that never end on their own, with Keras'
`ModelCheckpoint` saving the weights and the optimizer at every epoch's end
(`epoch_<n>.weights.h5`). Any backend. The test imports this module for the
constants and the model, so everything but `main` is import-safe.
"""

from __future__ import annotations

import sys

import keras
import numpy as np

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


def data() -> tuple[np.ndarray, np.ndarray]:
    """`STEPS_PER_EPOCH` batches of 8."""
    x = np.random.default_rng(0).normal(size=(8 * STEPS_PER_EPOCH, 3)).astype("float32")
    return x, x.sum(axis=1, keepdims=True)


def checkpoint_callback(directory: str) -> keras.callbacks.ModelCheckpoint:
    """Saves weights and optimizer state at every epoch's end, numbered by epoch (from 1)."""
    return keras.callbacks.ModelCheckpoint(
        f"{directory}/epoch_{{epoch}}.weights.h5", save_weights_only=True
    )


def main(log_dir: str, checkpoint_dir: str, flush_secs: str) -> None:
    model = build_model(keras.optimizers.SGD(schedule()))
    x, y = data()
    logger = tblr.LearningRateLogger(log_dir, flush_secs=float(flush_secs))
    # The logger first: an epoch's checkpoint is never ahead of the log.
    callbacks = [logger, checkpoint_callback(checkpoint_dir)]
    model.fit(x, y, batch_size=8, epochs=EPOCHS, verbose=0, shuffle=False, callbacks=callbacks)


if __name__ == "__main__":
    main(*sys.argv[1:])
