"""Hand-made records of this plugin, written with TensorBoard's own writers (no TensorFlow).

For tests of what the writer never writes: damaged, foreign or future records.
A record is `(name, step, payload, kind[, sampling[, metadata overrides]])`.
"""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2

from tb_lr_plugin import event_format


def damaged(payload: bytes) -> bytes:
    """`payload` with its last byte changed, as damage after writing leaves it."""
    return payload[:-1] + bytes([payload[-1] ^ 0x40])


def chunk(steps, values) -> bytes:
    """A chunk payload of float32 values with wall times 1000 + step."""
    steps = np.asarray(list(steps), dtype=np.int64)
    return event_format.encode_chunk(event_format.Chunk(steps, np.float32(values), 1000.0 + steps))


def plugin_event(record, wall_time: float) -> event_pb2.Event:
    """One event of this plugin from `(name, step, payload, kind[, sampling[, overrides]])`."""
    name, step, payload, kind, *rest = record
    tag = event_format.tag_for(name)
    sampling = rest[0] if rest else event_format.SAMPLED_EVERY_STEP
    metadata = event_format.create_metadata(kind, sampling)
    if len(rest) > 1:
        content = {**json.loads(metadata.plugin_data.content), **rest[1]}
        metadata.plugin_data.content = json.dumps(content).encode()
    tensor = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[payload])
    value = summary_pb2.Summary.Value(tag=tag, metadata=metadata, tensor=tensor)
    return event_pb2.Event(
        wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=[value])
    )


def write_records(run_dir: Path, records, wall_time: float = 1000.0) -> None:
    """Writes raw records of this plugin to a new event file, with TensorBoard's own writer.

    Args:
        run_dir: The run's directory.
        records: `(name, step, payload, kind[, sampling[, metadata overrides]])`.
        wall_time: The event wall time of the first record (one second apart).
    """
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(run_dir))
    for offset, record in enumerate(records):
        writer.add_event(plugin_event(record, wall_time + offset))
    writer.close()


def append_records(file, records, wall_time: float = 1000.0) -> None:
    """Appends raw records (as `write_records` takes them) to an open event file."""
    from tensorboard.summary.writer.record_writer import RecordWriter

    writer = RecordWriter(file)
    for offset, record in enumerate(records):
        writer.write(plugin_event(record, wall_time + offset).SerializeToString())
    writer.flush()
