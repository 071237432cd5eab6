"""Demo: train a small model with CosineDecay and warm-up, logging for the LR tab.

Usage: python demo/train_demo.py runs/demo

Writes the run `cosine_warmup/train` (3 epochs of 1,000 steps, about half a
minute on 2 CPU cores) with `LearningRateLogger` next to Keras' own
TensorBoard callback, then `tensorboard --logdir runs/demo` shows it.
"""

from __future__ import annotations

import argparse
import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras
import numpy as np

import tb_lr_plugin as tblr

STEPS_PER_EPOCH = 1000
EPOCHS = 3
BATCH = 32


def make_data(seed: int = 0) -> tuple[np.ndarray, np.ndarray]:
    """A regression problem generated on the spot: no downloads."""
    rng = np.random.default_rng(seed)
    x = rng.normal(size=(STEPS_PER_EPOCH * BATCH, 16)).astype("float32")
    y = np.sin(x[:, :4].sum(axis=1, keepdims=True)) + 0.1 * rng.normal(size=(len(x), 1))
    return x, y.astype("float32")


def cosine_with_warmup(log_dir: str) -> None:
    """`fit` with CosineDecay after a linear warm-up: the most common recipe."""
    total = EPOCHS * STEPS_PER_EPOCH
    schedule = keras.optimizers.schedules.CosineDecay(
        initial_learning_rate=0.0,
        decay_steps=total - 300,
        warmup_target=1e-2,
        warmup_steps=300,
        alpha=0.05,
    )
    model = keras.Sequential(
        [keras.Input((16,)), keras.layers.Dense(64, activation="relu"), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse", steps_per_execution=8)
    x, y = make_data()
    run = os.path.join(log_dir, "cosine_warmup")
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=EPOCHS,
        verbose=2,
        callbacks=[keras.callbacks.TensorBoard(run), tblr.LearningRateLogger(run)],
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("log_dir", help="where to write the runs (then: tensorboard --logdir)")
    args = parser.parse_args()
    keras.utils.set_random_seed(0)
    cosine_with_warmup(args.log_dir)


if __name__ == "__main__":
    main()
