"""One worker of a MultiWorkerMirroredStrategy cluster, started by test_distributed.py.

Every worker of the cluster runs this with its own `TF_CONFIG` (the cluster's
addresses and this worker's index) and trains the runs of
mirrored_training.py in custom loops, in step with the others:

    TF_CONFIG='{"cluster": {"worker": ["127.0.0.1:P0", "127.0.0.1:P1"]},
                "task": {"type": "worker", "index": 0}}' \\
        python tests/writer/multi_worker_training.py LOG_DIR
"""

from __future__ import annotations

import sys

import tensorflow as tf


def main(log_dir: str) -> None:
    # Imported here, not at the top: this directory is on the path only when
    # this file runs as a script.
    import mirrored_training

    # Created first: it starts this worker's server and connects to the others.
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    # Keras 3.15's `fit` fails under this strategy before any callback runs
    # (keras-team/keras#20585): custom loops drive the logger instead.
    mirrored_training.train_all(
        strategy, log_dir, names=mirrored_training.MULTI_WORKER_SCHEDULES, fit=False
    )


if __name__ == "__main__":
    main(sys.argv[1])
