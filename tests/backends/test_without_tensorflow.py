"""JAX and PyTorch users need no TensorFlow: training logs, and the LR tab serves the logs.

Runs in the virtualenvs of `make test` that hold Keras, the backend, TensorBoard
and this package only.
"""

from __future__ import annotations

import importlib.util
import sys

import keras
import numpy as np
import pytest
from browser import harness
from training_logs import data, schedule_at, small_model

import tb_lr_plugin as tblr

pytestmark = pytest.mark.skipif(
    keras.backend.backend() == "tensorflow", reason="checks the other backends' installs"
)


def test_tensorflow_is_not_installed_here():
    assert importlib.util.find_spec("tensorflow") is None


def test_training_imports_no_tensorflow_and_tensorboard_serves_its_logs(log_dir):
    schedule = keras.optimizers.schedules.CosineDecay(0.1, 40, warmup_target=0.2, warmup_steps=8)
    model = small_model(keras.optimizers.Adam(schedule))
    x, y = data(10)
    model.fit(x, y, batch_size=8, epochs=4, verbose=0, callbacks=[tblr.LearningRateLogger(log_dir)])
    assert "tensorflow" not in sys.modules

    with harness.TensorBoardProcess(log_dir) as board:
        (run,) = board.wait_for_runs(1)
        assert run["name"] == "train"
        body = board.wait_for_series("train", "learning_rate", 40)
    assert body["steps"] == list(range(40))
    np.testing.assert_array_equal(np.float32(body["values"]), schedule_at(schedule, range(40)))
