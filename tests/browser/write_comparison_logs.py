"""Writes runs of different lengths, as a user comparing schedules has them.

Usage: python tests/browser/write_comparison_logs.py LOGDIR

* `short`: a custom loop of 60 steps, `CosineDecay` planned over 60 steps;
* `long`: the same over 240 steps;
* `unplanned`: 90 steps at a constant rate, no plan (`total_steps` unknown);
* `preview`: `write_schedule` of a cosine over 3,000 steps, nothing trained.
"""

from __future__ import annotations

import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

STEPS = {"short": 60, "long": 240, "unplanned": 90}
PREVIEW_STEPS = 3000


def main(logdir: str) -> None:
    """Writes every run of the module docstring into `logdir`."""
    import warnings

    import keras
    import numpy as np

    import tb_lr_plugin as tblr

    warnings.simplefilter("ignore")

    def custom_loop(run_name, rate, steps, total_steps):
        variable = keras.Variable(np.zeros((3,), "float32"))
        optimizer = keras.optimizers.SGD(rate)
        optimizer.build([variable])
        with tblr.LearningRateWriter(
            logdir, optimizer, total_steps=total_steps, run_name=run_name
        ) as writer:
            for _ in range(steps):
                optimizer.apply_gradients([(keras.ops.ones((3,)), variable)])
                writer.log()

    for run in ("short", "long"):
        cosine = keras.optimizers.schedules.CosineDecay(0.1, STEPS[run])
        custom_loop(run, cosine, STEPS[run], STEPS[run])
    custom_loop("unplanned", 0.05, STEPS["unplanned"], None)
    preview = keras.optimizers.schedules.CosineDecay(0.1, PREVIEW_STEPS)
    tblr.write_schedule(logdir, preview, PREVIEW_STEPS, run_name="preview")


if __name__ == "__main__":
    main(sys.argv[1])
