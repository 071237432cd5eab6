"""Writes the browser tests' logdir with the real logger and writer.

Usage: python tests/browser/write_logs.py LOGDIR

Runs (small, so the whole script takes seconds after TensorFlow's start-up):

* `cosine`: `fit` with `Adam(CosineDecay(..., warmup))`, 3 epochs of 50 steps, and a
  layer that calls `tblr.record("gate_mean", ...)` and `tblr.record(HOSTILE_VALUE, ...)`:
  applied == schedule.
* `plateau`: `fit` with `SGD(0.1)` and `ReduceLROnPlateau` halving the rate after every
  epoch from the second on: deviations at steps 100 and 150 (source `ReduceLROnPlateau`).
* `manual`: a custom loop (`LearningRateWriter`) with `SGD(0.1)`, assigned 0.05 by hand
  before step 60: a deviation with source `manual assign`; its `momentum`, 0.9, set to 0.5 then
  (the only hyperparameter of these runs that changes).
* `<img src=x onerror=alert(1)>`: a custom loop with `PiecewiseConstantDecay` named
  `HOSTILE_CONFIG`; its name and its configuration must show as text everywhere.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

HOSTILE_RUN = "<img src=x onerror=alert(1)>"
# Markup in a recorded value's name and in a schedule's configuration: text too.
HOSTILE_VALUE = "<svg onload=alert(2)>"
HOSTILE_CONFIG = "<b onmouseover=alert(3)>piecewise"
RUNS = ("cosine", "manual", "plateau", HOSTILE_RUN)
STEPS = {"cosine": 150, "plateau": 200, "manual": 120, HOSTILE_RUN: 80}
STEPS_PER_EPOCH = 50


def main(logdir: str) -> None:
    """Writes every run of the module docstring into `logdir`."""
    import warnings

    import keras
    import numpy as np
    import tensorflow as tf

    import tb_lr_plugin as tblr

    warnings.simplefilter("ignore")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS_PER_EPOCH * 8, 3)).astype("float32")
    y = rng.normal(size=(len(x), 1)).astype("float32")

    class Gate(keras.layers.Layer):
        def call(self, inputs):
            gate = keras.ops.sigmoid(inputs)
            tblr.record("gate_mean", keras.ops.mean(gate))
            tblr.record(HOSTILE_VALUE, keras.ops.max(gate))
            return inputs * gate

    def model(optimizer, gate=False):
        keras.utils.set_random_seed(0)
        layers = [keras.Input((3,)), keras.layers.Dense(4, name="hidden")]
        if gate:
            layers.append(Gate(name="gate"))
        net = keras.Sequential([*layers, keras.layers.Dense(1, name="out")])
        net.compile(optimizer=optimizer, loss="mse")
        return net

    cosine = keras.optimizers.schedules.CosineDecay(0.1, 120, warmup_target=0.2, warmup_steps=30)
    model(keras.optimizers.Adam(cosine), gate=True).fit(
        x,
        y,
        batch_size=8,
        epochs=STEPS["cosine"] // STEPS_PER_EPOCH,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(logdir, run_name="cosine")],
    )
    model(keras.optimizers.SGD(0.1)).fit(
        x,
        y,
        batch_size=8,
        epochs=STEPS["plateau"] // STEPS_PER_EPOCH,
        verbose=0,
        callbacks=[
            tblr.LearningRateLogger(logdir, run_name="plateau"),
            # min_delta too large to ever improve: the rate halves after every epoch.
            keras.callbacks.ReduceLROnPlateau(
                monitor="loss", factor=0.5, patience=0, min_delta=1e9
            ),
        ],
    )

    def custom_loop(run_name, optimizer, steps, before_step=None):
        variable = keras.Variable(np.zeros((3,), "float32"))
        optimizer.build([variable])
        with tblr.LearningRateWriter(
            logdir, optimizer, total_steps=steps, run_name=run_name
        ) as writer:
            for step in range(steps):
                if step % STEPS_PER_EPOCH == 0:
                    writer.begin_epoch(step // STEPS_PER_EPOCH)
                if before_step is not None:
                    before_step(step, optimizer)
                optimizer.apply_gradients([(tf.ones((3,)), variable)])
                writer.log()

    def halve_at_60(step, optimizer):
        if step == 60:
            optimizer.learning_rate.assign(0.05)
            optimizer.momentum = 0.5  # A hyperparameter that changes: it gets a chart.

    custom_loop("manual", keras.optimizers.SGD(0.1, momentum=0.9), STEPS["manual"], halve_at_60)
    piecewise = keras.optimizers.schedules.PiecewiseConstantDecay(
        [40], [0.05, 0.01], name=HOSTILE_CONFIG
    )
    custom_loop(HOSTILE_RUN, keras.optimizers.SGD(piecewise), STEPS[HOSTILE_RUN])


if __name__ == "__main__":
    main(sys.argv[1])
