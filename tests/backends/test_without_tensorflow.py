"""JAX and PyTorch users need no TensorFlow: training logs, and the LR tab serves the logs.

Runs in the virtualenvs of `make test` that hold Keras, the backend, TensorBoard
and this package only.
"""

from __future__ import annotations

import importlib.util
import pathlib
import sys

import keras
import numpy as np
import pytest
from browser import harness
from tensorboard.compat.tensorflow_stub import errors
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import PyRecordReader_New, masked_crc32c
from training_logs import data, schedule_at, small_model

import tb_lr_plugin as tblr
from tb_lr_plugin import event_format
from tb_lr_plugin.writer import event_sink

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


@pytest.mark.parametrize("length", [0, 1, 7, 8, 9, 100, 4099])
def test_record_checksums_are_tensorboards(length):
    """The C checksum the extras install computes what TensorBoard's Python one does."""
    assert event_sink.google_crc32c is not None  # Pinned in this virtualenv.
    data = np.random.default_rng(length).bytes(length)
    assert event_sink.record_checksum(data) == masked_crc32c(data)


def test_tensorboards_reader_verifies_every_record_written(log_dir):
    """TensorBoard's own record reader, which checks both checksums of every record."""
    sink = event_sink.EventSink(str(log_dir))
    for start in range(0, 300, 100):
        steps = np.arange(start, start + 100)
        sink.write_points("learning_rate", event_format.Chunk(steps, np.float32(steps) / 7))
    sink.close()
    (path,) = pathlib.Path(log_dir).glob("events.out.tfevents.*")
    reader = PyRecordReader_New(str(path))
    records = 0
    while True:
        try:
            reader.GetNext()  # Raises DataLossError for a checksum that does not match.
        except errors.OutOfRangeError:  # The end of the file.
            break
        records += 1
    assert records == 4  # The file version, then three chunks.
