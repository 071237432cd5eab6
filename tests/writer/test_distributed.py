"""Under MirroredStrategy (two logical CPUs): one value per step, exact rates."""

from __future__ import annotations

import pathlib
import subprocess
import sys

import numpy as np
from training_logs import read_run

SCRIPT = pathlib.Path(__file__).with_name("mirrored_training.py")


def test_mirrored_strategy_logs_each_step_once(log_dir):
    subprocess.run([sys.executable, str(SCRIPT), str(log_dir)], check=True, timeout=300)
    run = read_run(log_dir)
    applied = run.series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(20))
    np.testing.assert_array_equal(run.series("layers/net/probe/rate").values, applied.values)
    np.testing.assert_array_equal(run.series("layers/net/probe/step").values, np.arange(20))
    # The mean over both replicas' halves of each global batch: the batch's mean.
    batch_means = np.load(log_dir / "batch_means.npy")
    np.testing.assert_allclose(
        run.series("layers/net/probe/input_mean").values, np.tile(batch_means, 2), rtol=1e-6
    )
