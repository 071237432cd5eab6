"""Writes the logdir of `test_format_versions.py` with the real logger.

Usage: python tests/plugin/write_format_logs.py LOGDIR

Runs:

* `cosine`, `plateau`, `manual`: the stored version-1 logs of
  `tests/format/v1_logs`, copied as they are;
* `resumed`: the version-1 `cosine` run (60 steps of `Adam(CosineDecay(0.01,
  60))`, 20 per epoch), resumed under the current version from a checkpoint
  taken at step 40 and trained on to step 80: steps 40-59 are written again;
* `own_scalars`: `fit` with the logger and, in the same run directory, the
  user's own `tf.summary.scalar("learning_rate")` and `("epoch")` per epoch,
  written before the logger's first record.

Beside LOGDIR, `expected_rates.json` holds the rates of the real
`CosineDecay(0.01, 60)` at steps 0-79.
"""

from __future__ import annotations

import json
import os
import shutil
import sys
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

V1_LOGS = Path(__file__).resolve().parents[1] / "format" / "v1_logs"
STEPS_PER_EPOCH = 20


def main(logdir: str) -> None:
    import warnings

    import keras
    import numpy as np
    import tensorflow as tf

    import tb_lr_plugin as tblr

    warnings.simplefilter("ignore")
    shutil.copytree(V1_LOGS, logdir)
    # The ground truth: the real schedule object of `cosine` and `resumed`.
    schedule = keras.optimizers.schedules.CosineDecay(0.01, 60)
    expected = [float(schedule(step)) for step in range(4 * STEPS_PER_EPOCH)]
    (Path(logdir).parent / "expected_rates.json").write_text(json.dumps(expected))
    shutil.copytree(V1_LOGS / "cosine", Path(logdir) / "resumed")
    rng = np.random.default_rng(0)
    x = rng.normal(size=(STEPS_PER_EPOCH * 10, 3)).astype("float32")
    y = rng.normal(size=(len(x), 1)).astype("float32")

    def model(optimizer):
        keras.utils.set_random_seed(0)
        net = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(1)])
        net.compile(optimizer=optimizer, loss="mse")
        return net

    optimizer = keras.optimizers.Adam(schedule)
    net = model(optimizer)
    optimizer.build(net.trainable_variables)
    optimizer.iterations.assign(2 * STEPS_PER_EPOCH)  # As a restored checkpoint leaves it.
    net.fit(
        x,
        y,
        batch_size=10,
        initial_epoch=2,
        epochs=4,
        verbose=0,
        callbacks=[tblr.LearningRateLogger(logdir, run_name="resumed")],
    )

    writer = tf.summary.create_file_writer(os.path.join(logdir, "own_scalars"))

    class OwnScalars(keras.callbacks.Callback):
        def on_epoch_begin(self, epoch, logs=None):
            with writer.as_default():
                rate = float(keras.ops.convert_to_numpy(self.model.optimizer.learning_rate))
                tf.summary.scalar("learning_rate", rate, step=epoch)
                tf.summary.scalar("epoch", float(epoch), step=epoch)
            writer.flush()

    model(keras.optimizers.SGD(0.1)).fit(
        x,
        y,
        batch_size=10,
        epochs=3,
        verbose=0,
        # The user's callback first: its tags are in the run before the logger's.
        callbacks=[OwnScalars(), tblr.LearningRateLogger(logdir, run_name="own_scalars")],
    )
    writer.close()


if __name__ == "__main__":
    main(sys.argv[1])
