"""Writing this plugin's records into one run's event file, with or without TensorFlow.

The events are built here from TensorBoard's own protos and framed as
TFRecords. File access goes through TensorBoard's compatibility layer
(`tensorboard.compat.tf`): TensorFlow's file systems where TensorFlow is
installed, whatever the backend (remote schemes such as `gs://` included;
importing it costs a few seconds), and its C++ record writer; else
TensorBoard's pure-Python stub, which writes local files (and `s3://` with
boto3, uploading the whole file again at each flush). A JAX or PyTorch user
therefore needs no TensorFlow. Without it, each record's CRC-32C is computed
by `google-crc32c` (C; the `jax` and `torch` extras install it) where it is
installed, else by TensorBoard's Python loop (about 0.4 s per MB: a few
percent of a fast training step).
"""

from __future__ import annotations

import itertools
import os
import socket
import time
import uuid
from typing import Any

from tensorboard.compat import tf as compat_tf
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, tensor_shape_pb2
from tensorboard.compat.proto.types_pb2 import DT_STRING
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

try:
    import google_crc32c
except ImportError:  # Optional: checksums in Python instead.
    google_crc32c = None

from tb_lr_plugin import event_format


class LogDirError(OSError):
    """Raised when a log directory cannot be created or written."""


def check_writable(run_dir: str) -> None:
    """Creates `run_dir` and proves it writable, through TensorBoard's file layer.

    Never `os.path`: a remote scheme the file layer knows works like a local path.

    Raises:
        LogDirError: with the path and the reason, before any training starts;
            for a scheme the file layer does not know, which ones it does.

    Example:
        >>> check_writable("/dev/null/run")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tb_lr_plugin.writer.event_sink.LogDirError: ... '/dev/null/run': ...ot a directory...
    """
    gfile = compat_tf.io.gfile
    probe = f"{run_dir.rstrip('/')}/.tb_lr_plugin_probe_{uuid.uuid4().hex}"
    # TensorBoard's stub file layer cannot remove a file: off a local path,
    # it leaves no probe behind and only creates the directory.
    remove = getattr(gfile, "remove", None) or (os.remove if "://" not in run_dir else None)
    try:
        gfile.makedirs(run_dir)
        if remove is not None:
            with gfile.GFile(probe, "wb") as file:
                file.write(b"")
            remove(probe)
    except (compat_tf.errors.OpError, OSError, ValueError) as error:
        message = getattr(error, "message", None) or str(error)
        if isinstance(error, (compat_tf.errors.UnimplementedError, ValueError)):
            message += f"; {_known_schemes()}"
        raise LogDirError(
            f"tb_lr_plugin cannot write to log directory {run_dir!r}: {message}"
        ) from None


def _known_schemes() -> str:
    registered = getattr(compat_tf.io.gfile, "get_registered_schemes", None)
    if registered is None:
        return (
            "without TensorFlow, log directories are local paths (or s3:// with boto3); "
            "install tensorflow for its file systems"
        )
    schemes = sorted(s for s in registered() if s)
    return (
        f"TensorFlow here knows {', '.join(f'{s}://' for s in schemes)} "
        "(s3:// and hdfs:// come with `pip install tensorflow-io`)"
    )


# Numbers the files this process creates: loaders read a run's files in name
# order, and two made in the same second must sort in the order they were
# made (TensorBoard 2.17's Rust loader served only the first of two that did not).
_FILE_NUMBERS = itertools.count()

_DOCUMENT_KINDS = {
    event_format.ScheduleConfig: event_format.KIND_SCHEDULE_CONFIG,
    event_format.Assignment: event_format.KIND_ASSIGNMENT,
    event_format.RangeTest: event_format.KIND_RANGE_TEST,
}


class EventSink:
    """Appends this plugin's records to a new event file of a run, under their tags.

    Records are written when given, on the caller's thread; `flush` makes them
    readable. Nothing runs in the background.

    Example:
        >>> import tempfile
        >>> sink = EventSink(tempfile.mkdtemp())
        >>> sink.write_points(event_format.EPOCH, event_format.Chunk([0, 10], [0.0, 1.0]))
        >>> sink.close()
    """

    def __init__(self, run_dir: str):
        check_writable(run_dir)
        name = (
            f"events.out.tfevents.{int(time.time()):010d}.{socket.gethostname()}."
            f"{os.getpid()}.{next(_FILE_NUMBERS):06d}.{uuid.uuid4().hex[:8]}.lr"
        )
        self._records = _record_writer(f"{run_dir.rstrip('/')}/{name}")
        self._metadata: dict[tuple, Any] = {}  # By (kind, sampling, position), built once.
        self._add(event_pb2.Event(wall_time=time.time(), file_version="brain.Event:2"))

    def write_points(
        self,
        name: str,
        chunk: event_format.Chunk,
        *,
        kind: str = event_format.KIND_SERIES,
        sampling: str = event_format.SAMPLED_EVERY_STEP,
        position: int | None = None,
    ) -> None:
        """Writes the points of series `name` as one record at its first step.

        `position`: the series' place in its group (a layer's in its model),
        see `event_format.RecordMetadata`.
        """
        if len(chunk.steps) == 0:
            return
        payload = event_format.encode_chunk(chunk)
        self._write(name, payload, int(chunk.steps[0]), kind, sampling, position)

    def write_document(
        self,
        name: str,
        step: int,
        document: event_format.ScheduleConfig | event_format.Assignment | event_format.RangeTest,
    ) -> None:
        """Writes one document record at `step`."""
        kind = _DOCUMENT_KINDS[type(document)]
        self._write(name, event_format.encode_document(document), int(step), kind)

    def flush(self) -> None:
        """Makes everything written so far readable by TensorBoard."""
        self._records.flush()

    def close(self) -> None:
        """Flushes and closes the event file."""
        self._records.close()

    def _write(
        self,
        name: str,
        payload: bytes,
        step: int,
        kind: str,
        sampling: str = event_format.SAMPLED_EVERY_STEP,
        position: int | None = None,
    ) -> None:
        key = (kind, sampling, position)
        metadata = self._metadata.get(key)
        if metadata is None:
            metadata = event_format.create_metadata(kind, sampling, position)
            self._metadata[key] = metadata
        tensor = tensor_pb2.TensorProto(
            dtype=DT_STRING, string_val=[payload], tensor_shape=tensor_shape_pb2.TensorShapeProto()
        )
        value = summary_pb2.Summary.Value(
            tag=event_format.tag_for(name), tensor=tensor, metadata=metadata
        )
        self._add(
            event_pb2.Event(
                wall_time=time.time(), step=step, summary=summary_pb2.Summary(value=[value])
            )
        )

    def _add(self, event: event_pb2.Event) -> None:
        self._records.write(event.SerializeToString())


def _record_writer(path: str):
    """TensorFlow's record writer where it is installed, else one over TensorBoard's files."""
    if hasattr(compat_tf.io, "TFRecordWriter"):
        return compat_tf.io.TFRecordWriter(path)
    return _RecordWriter(compat_tf.io.gfile.GFile(path, "wb"))


def record_checksum(data: bytes) -> int:
    """The masked CRC-32C a TFRecord stores after its length and after its data.

    Example:
        >>> record_checksum(b"") == masked_crc32c(b"")
        True
    """
    if google_crc32c is None:
        return masked_crc32c(data)
    crc = google_crc32c.value(data)
    return (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF


class _RecordWriter:
    """TFRecord framing (as TensorBoard's `RecordWriter`), with `record_checksum`."""

    def __init__(self, file: Any):
        self._file = file

    def write(self, data: bytes) -> None:
        # Little-endian: the length (8 bytes), its checksum, the data, its checksum (4 each).
        header = len(data).to_bytes(8, "little")
        self._file.write(
            header
            + record_checksum(header).to_bytes(4, "little")
            + data
            + record_checksum(data).to_bytes(4, "little")
        )

    def flush(self) -> None:
        self._file.flush()

    def close(self) -> None:
        self._file.close()
