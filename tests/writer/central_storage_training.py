"""CentralStorageStrategy on two logical CPUs, run by test_distributed.py in a fresh process.

The logical CPUs must be set up before TensorFlow initialises its devices, so
this runs in its own process:

    python tests/writer/central_storage_training.py LOG_DIR STEPS_PER_EXECUTION

The strategy keeps every variable on one device and runs each step on both
replicas, as `MirroredStrategy` does. This trains mirrored_training.py's runs
under it: one `fit` per schedule of `SCHEDULES` with the given
`steps_per_execution` (run `<schedule name>`) and, with 1, also the custom loop
(run `custom_loop`) and the `update_ratios` fit (its weight snapshots are taken
per batch callback, which with more steps per execution sees only every few
updates). Unlike `MirroredStrategy`, Keras 3.15's own `fit` runs here with
`steps_per_execution > 1`. No `LossScaleOptimizer` run: Keras 3.15 cannot
train one under this strategy, with or without a logger ("You must specify an
aggregation method to update a AggregatingVariable in Replica Context").

Keras 3.5 cannot `fit` under this strategy at all (the same error, from its
loss tracker): when a plain `fit` without this package fails, the script says
so and exits with `KERAS_CANNOT_TRAIN`, and the test is skipped.
"""

from __future__ import annotations

import sys

import keras
import tensorflow as tf

# Exit status: Keras' own `fit` fails under the strategy, without this package.
KERAS_CANNOT_TRAIN = 3


def keras_fit_error(strategy: tf.distribute.Strategy, steps_per_execution: int) -> str | None:
    """`None` when a plain Keras `fit` (no logger, no layer of ours) trains under `strategy`."""
    import mirrored_training

    with strategy.scope():
        model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        model.compile(optimizer="sgd", loss="mse", steps_per_execution=steps_per_execution)
    x, y = mirrored_training.training_data()
    try:
        model.fit(x, y, batch_size=mirrored_training.GLOBAL_BATCH, epochs=1, verbose=0)
    except Exception as error:
        return f"{type(error).__name__}: {str(error).strip().splitlines()[-1][:300]}"
    return None


def main(log_dir: str, steps_per_execution: int) -> None:
    # Imported here, not at the top: this directory is on the path only when
    # this file runs as a script.
    import mirrored_training

    mirrored_training.use_two_logical_cpus()
    strategy = tf.distribute.experimental.CentralStorageStrategy(["/cpu:0", "/cpu:1"])
    error = keras_fit_error(strategy, steps_per_execution)
    if error is not None:
        print(f"Keras {keras.__version__} cannot fit under CentralStorageStrategy: {error}")
        sys.exit(KERAS_CANNOT_TRAIN)
    for name in mirrored_training.SCHEDULES:
        mirrored_training.fit_with_logger(
            strategy, log_dir, name, steps_per_execution=steps_per_execution
        )
    if steps_per_execution == 1:
        mirrored_training.custom_loop(strategy, log_dir)
        mirrored_training.fit_with_update_ratios(strategy, log_dir)


if __name__ == "__main__":
    main(sys.argv[1], int(sys.argv[2]))
