"""Writes range tests made by the real `find_learning_rate`, beside a training run.

Usage: python tests/browser/write_range_test_logs.py LOGDIR

* `range_test`: `find_learning_rate` of a `Dense` layer on least-squares data,
  plain SGD, every sample in each batch, rates from 1e-4 to 10 over 60 steps:
  the loss falls, then blows up well before 10.
* `train`: a `fit` of the same model logged by `LearningRateLogger`.
* `HOSTILE_RUN`: the same range test under a hostile run name, with an
  optimizer class whose name is hostile too (and no Python identifier).
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HOSTILE_RUN = "<img src=x onerror=window.__pwned='range'>"
HOSTILE_OPTIMIZER = "<b onmouseover=window.__pwned='optimizer'>SGD"
SAMPLES = 64
MIN_LR, MAX_LR, NUM_STEPS = 1e-4, 10.0, 60
TRAIN_STEPS = 40


def main(logdir: str) -> None:
    """Writes every run of the module docstring into `logdir`."""
    import warnings

    import keras
    import numpy as np

    import tb_lr_plugin as tblr

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(SAMPLES, 8)).astype("float32")
    y = (x @ rng.normal(size=(8, 1)) + 0.1 * rng.normal(size=(SAMPLES, 1))).astype("float32")

    def model(optimizer):
        keras.utils.set_random_seed(0)
        net = keras.Sequential([keras.Input((8,)), keras.layers.Dense(1)])
        net.compile(optimizer=optimizer, loss="mse")
        return net

    def range_test(run, optimizer):
        tblr.find_learning_rate(
            model(optimizer),
            x,
            y,
            batch_size=SAMPLES,
            min_lr=MIN_LR,
            max_lr=MAX_LR,
            num_steps=NUM_STEPS,
            log_dir=logdir,
            run_name=run,
            seed=0,
        )

    range_test("range_test", keras.optimizers.SGD())
    hostile = type(HOSTILE_OPTIMIZER, (keras.optimizers.SGD,), {})
    range_test(HOSTILE_RUN, hostile())
    model(keras.optimizers.SGD(0.01)).fit(
        x,
        y,
        batch_size=SAMPLES // 4,
        epochs=TRAIN_STEPS // 4,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(logdir, run_name="train")],
    )


if __name__ == "__main__":
    main(sys.argv[1])
