"""Writes runs whose names, layer names, series names and configurations are hostile.

Usage: python tests/browser/write_hostile_logs.py LOGDIR

Every name is written by the real writer (`LearningRateWriter`, `LearningRateLogger`
with `tblr.record` in a layer), so it reaches TensorBoard and the tab exactly as a
user's would. Each string that could run script sets `window.__pwned` when it does.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

# Run names: a run is a directory, so a `/` in a name is a nested directory,
# which TensorBoard lists as one run named with the `/`.
SCRIPT_RUN = "<script>window.__pwned='run'</script>"
QUOTES_RUN = "\"'><img src=x onerror=\"window.__pwned='img'\">"
UNICODE_RUN = "\u202eevil\u202c 🚀👩‍👩‍👧 e\u0301\u0301\u0301 学习率 ﷽"
# 2,000 characters; a file name holds at most 255 bytes, so in 10 directories.
LONG_RUN = "/".join(f"{index}" + "L" * 198 for index in range(10)) + "L"
LAYER_RUN = "layers"
RUNS = (SCRIPT_RUN, QUOTES_RUN, UNICODE_RUN, LONG_RUN, LAYER_RUN)
# A layer name: TensorFlow's name scopes allow only `[A-Za-z0-9_.\\/>-]` (no `/` in
# Keras), so markup cannot reach the tab through one; the series names carry it.
HOSTILE_LAYER = "a>b.c-d_e"
HOSTILE_SERIES = (
    '"><svg onload="window.__pwned=\'series\'">',
    "\u202ertl 🚀 e\u0301\u0301",
    "S" * 2000,
)
# Schedule configurations: the schedule's `name` is in its `get_config()`.
HOSTILE_CONFIGS = {
    # Keras refuses a `/` in a schedule's name, so no closing tag here.
    SCRIPT_RUN: "<img src=x onerror=window.__pwned='config'><script>",
    QUOTES_RUN: "' onmouseover='window.__pwned=\"config\"' x='",
    UNICODE_RUN: "\u202ecfg 🚀 a\u0300\u0300",
    LONG_RUN: "C" * 2000,
}
STEPS = 30


def main(logdir: str) -> None:
    """Writes every run of `RUNS` into `logdir`."""
    import warnings

    import keras
    import numpy as np
    import tensorflow as tf

    import tb_lr_plugin as tblr

    warnings.simplefilter("ignore")
    for run, config_name in HOSTILE_CONFIGS.items():
        schedule = keras.optimizers.schedules.PiecewiseConstantDecay(
            [STEPS // 2], [0.1, 0.01], name=config_name
        )
        optimizer = keras.optimizers.SGD(schedule)
        variable = keras.Variable(np.zeros((2,), "float32"))
        optimizer.build([variable])
        with tblr.LearningRateWriter(logdir, optimizer, total_steps=STEPS, run_name=run) as writer:
            writer.begin_epoch(0)
            for _ in range(STEPS):
                optimizer.apply_gradients([(tf.ones((2,)), variable)])
                writer.log()

    class Hostile(keras.layers.Layer):
        def call(self, inputs):
            for index, name in enumerate(HOSTILE_SERIES):
                tblr.record(name, keras.ops.mean(inputs) + index)
            return inputs

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((2,)), Hostile(name=HOSTILE_LAYER), keras.layers.Dense(1)]
    )
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    x = np.ones((STEPS * 4, 2), "float32")
    model.fit(
        x,
        x[:, :1],
        batch_size=4,
        epochs=1,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(logdir, run_name=LAYER_RUN)],
    )


if __name__ == "__main__":
    main(sys.argv[1])
