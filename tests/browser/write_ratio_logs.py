"""Writes runs logged with `update_ratios=True`, one with a layer whose rate is too high.

Usage: python tests/browser/write_ratio_logs.py LOGDIR

* `hot_layer`: `fit` of a model `net` of twelve `Dense` layers `layer_0` to
  `layer_11` with `Adam(0.01)`, 120 steps. `layer_5` starts with weights
  10,000 times smaller than the others: Adam moves every weight by about the
  rate, so its update ratio is far above the rest (the rate is too high for
  it). By name, `layer_10` sorts before `layer_2`; the tab shows model order.
* `HOSTILE_RUN`: the same over two layers, 40 steps: its name must show as text.
* `overflow`: two layers with a `LossScaleOptimizer`, 40 batches of which
  `POISONED` overflow: those updates are skipped, 37 steps.
* `no_ratios`: `fit` logged without `update_ratios`.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

LAYERS = [f"net/layer_{i}" for i in range(12)]
HOT_LAYER = "net/layer_5"
HOSTILE_RUN = "<img src=x onerror=alert(4)>"
STEPS = {"hot_layer": 120, HOSTILE_RUN: 40, "no_ratios": 40, "overflow": 37}
POISONED = (10, 11, 30)
BATCH = 8


def main(logdir: str) -> None:
    """Writes every run of the module docstring into `logdir`."""
    import warnings

    import keras
    import numpy as np

    import tb_lr_plugin as tblr

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)

    def fit(run, layers, steps, optimizer=None, poisoned=(), **options):
        keras.utils.set_random_seed(0)
        model = keras.Sequential([keras.Input((8,)), *layers], name="net")
        model.compile(optimizer=optimizer or keras.optimizers.Adam(0.01), loss="mse")
        x = rng.normal(size=((steps + len(poisoned)) * BATCH, 8)).astype("float32")
        y = rng.normal(size=(len(x), 1)).astype("float32")
        for batch in poisoned:
            x[batch * BATCH : (batch + 1) * BATCH] = 1e30  # The loss overflows.
        logger = tblr.LearningRateLogger(logdir, run_name=run, **options)
        model.fit(x, y, batch_size=BATCH, shuffle=False, verbose=0, callbacks=[logger])

    def dense(i, **options):
        units = 1 if i == 11 else 16
        return keras.layers.Dense(units, activation="tanh", name=f"layer_{i}", **options)

    tiny = keras.initializers.RandomNormal(stddev=1e-4)
    fit(
        "hot_layer",
        [dense(i, **({"kernel_initializer": tiny} if i == 5 else {})) for i in range(12)],
        STEPS["hot_layer"],
        update_ratios=True,
    )
    fit(
        HOSTILE_RUN,
        [keras.layers.Dense(4, name="hidden"), keras.layers.Dense(1, name="out")],
        STEPS[HOSTILE_RUN],
        update_ratios=True,
    )
    fit(
        "overflow",
        [keras.layers.Dense(4, name="hidden"), keras.layers.Dense(1, name="out")],
        STEPS["overflow"],
        optimizer=keras.optimizers.LossScaleOptimizer(keras.optimizers.SGD(0.01)),
        poisoned=POISONED,
        update_ratios=True,
    )
    fit("no_ratios", [keras.layers.Dense(1)], STEPS["no_ratios"])


if __name__ == "__main__":
    main(sys.argv[1])
