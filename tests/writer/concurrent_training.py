"""One of two training processes run at once by test_concurrent_writers.py.

`python concurrent_training.py LOG_DIR RUN SCALE GO_FILE`: builds a model, says
it is ready (`GO_FILE.RUN`), waits for `GO_FILE` so both processes train at
the same time, then runs two sequential `fit`s into the run `RUN/train`, each
with its own `LearningRateLogger` beside one `keras.callbacks.TensorBoard`:
the run directory ends up with several event files. The test imports this
module for the constants and the schedule, so everything but `main` is
import-safe.
"""

from __future__ import annotations

import os
import sys
import time

import keras
import numpy as np

import tb_lr_plugin as tblr

STEPS_PER_EPOCH = 50
EPOCHS_PER_FIT = 2
FITS = 2
FLUSH_SECS = 0.1


def schedule(scale: float) -> keras.optimizers.schedules.LearningRateSchedule:
    """Each process's configured rate: `scale` tells the two runs apart."""
    return keras.optimizers.schedules.ExponentialDecay(0.1 * scale, decay_steps=37, decay_rate=0.9)


def main(log_dir: str, run: str, scale: float, go_file: str) -> None:
    keras.utils.set_random_seed(0)
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(schedule(scale)), loss="mse")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(8 * STEPS_PER_EPOCH, 3)).astype("float32")
    y = x.sum(axis=1, keepdims=True)
    run_dir = os.path.join(log_dir, run)
    keras_tensorboard = keras.callbacks.TensorBoard(run_dir, update_freq=10, write_graph=False)
    open(f"{go_file}.{run}", "w").close()
    while not os.path.exists(go_file):
        time.sleep(0.01)
    for fit in range(FITS):
        model.fit(
            x,
            y,
            batch_size=8,
            epochs=(fit + 1) * EPOCHS_PER_FIT,
            initial_epoch=fit * EPOCHS_PER_FIT,
            shuffle=False,
            verbose=0,
            callbacks=[
                keras_tensorboard,
                tblr.LearningRateLogger(run_dir, flush_secs=FLUSH_SECS),
            ],
        )


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2], float(sys.argv[3]), sys.argv[4])
