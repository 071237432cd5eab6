"""Log directories on a non-local file system: TensorFlow's `ram://`.

The writer goes through TensorFlow's file system layer (`tf.io.gfile`,
`tf.summary`), so a scheme it knows (`gs://`, or `s3://` and `hdfs://` with
tensorflow-io) works like a local path. `ram://` is the one that runs here:
an in-memory file system of this process.
"""

from __future__ import annotations

import struct
import uuid

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.compat.proto import event_pb2
from training_logs import data, read_run, schedule_at, small_model

import tb_lr_plugin as tblr
from tb_lr_plugin import event_format
from tb_lr_plugin.writer import event_sink

BATCHES = 15


@pytest.fixture
def ram_dir():
    """A fresh `ram://` directory, removed afterwards (the file system is process-wide)."""
    root = f"ram://tblr-{uuid.uuid4().hex}"
    yield root
    if tf.io.gfile.exists(root):
        tf.io.gfile.rmtree(root)


def _events(run_dir: str) -> list[event_pb2.Event]:
    """Every event of the run's event files, read with `tf.io.gfile` (TFRecord framing)."""
    events = []
    for path in sorted(tf.io.gfile.glob(f"{run_dir}/events.out.tfevents.*")):
        with tf.io.gfile.GFile(path, "rb") as file:
            content = file.read()
        offset = 0
        while offset < len(content):
            (length,) = struct.unpack_from("<Q", content, offset)
            start = offset + 12  # u64 length, u32 CRC of the length
            events.append(event_pb2.Event.FromString(content[start : start + length]))
            offset = start + length + 4  # u32 CRC of the data
    return events


def _chunks(events: list[event_pb2.Event], name: str) -> tuple[np.ndarray, np.ndarray]:
    steps, values = [], []
    for event in events:
        for value in event.summary.value:
            if value.tag == event_format.tag_for(name):
                chunk = event_format.decode_chunk(value.tensor.string_val[0])
                steps.append(chunk.steps)
                values.append(chunk.values)
    return np.concatenate(steps), np.concatenate(values)


def test_logger_writes_every_step_into_ram_file_system(ram_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)  # A local "ram:" directory would land here.
    schedule = keras.optimizers.schedules.CosineDecay(0.0, 25, warmup_target=0.1, warmup_steps=5)
    model = small_model(keras.optimizers.Adam(schedule))
    x, y = data(BATCHES)
    logger = tblr.LearningRateLogger(ram_dir)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=[logger])

    assert logger.run_dir == f"{ram_dir}/train"
    expected = schedule_at(schedule, range(2 * BATCHES))
    steps, values = _chunks(_events(logger.run_dir), event_format.LEARNING_RATE)
    np.testing.assert_array_equal(steps, np.arange(2 * BATCHES))
    np.testing.assert_array_equal(values, expected)
    # TensorBoard's own loader reads ram:// through TensorFlow too.
    run = read_run(ram_dir)
    np.testing.assert_array_equal(run.series("learning_rate").values.astype(np.float32), expected)
    np.testing.assert_array_equal(run.series("epoch").steps, [0, BATCHES])
    assert list(tmp_path.iterdir()) == []


def test_write_schedule_into_ram_file_system(ram_dir):
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([10, 20], [0.1, 0.01, 0.001])
    run_dir = tblr.write_schedule(ram_dir, schedule, 30, run_name="preview")
    assert run_dir == f"{ram_dir}/preview"
    steps, values = _chunks(_events(run_dir), event_format.SCHEDULE)
    np.testing.assert_array_equal(steps, np.arange(30))
    np.testing.assert_array_equal(values, schedule_at(schedule, range(30)))
    (config,) = read_run(ram_dir, "preview").documents(event_format.SCHEDULE_CONFIG)
    assert config.total_steps == 30


def test_writability_check_goes_through_tensorflow(ram_dir, tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    run_dir = f"{ram_dir}/deep/run"
    event_sink.check_writable(run_dir)
    assert tf.io.gfile.isdir(run_dir)
    assert tf.io.gfile.listdir(run_dir) == []  # The probe file is gone.
    assert list(tmp_path.iterdir()) == []  # Nothing local, as os.makedirs would do.


@pytest.mark.parametrize("scheme", ["s3", "nofs"])
def test_a_scheme_tensorflow_lacks_fails_before_training(scheme, tmp_path, monkeypatch):
    if scheme in tf.io.gfile.get_registered_schemes():
        pytest.skip(f"{scheme}:// is registered here (tensorflow-io)")
    monkeypatch.chdir(tmp_path)
    with pytest.raises(tblr.LogDirError, match=f"{scheme}://bucket/logs/train.*not implemented"):
        tblr.LearningRateLogger(f"{scheme}://bucket/logs")
    with pytest.raises(tblr.LogDirError, match=r"knows .*ram://.*tensorflow-io"):
        tblr.write_schedule(f"{scheme}://bucket/logs", 0.1, 10)
    assert list(tmp_path.iterdir()) == []
