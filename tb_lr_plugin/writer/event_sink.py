"""Writing this plugin's records into one run's event file."""

from __future__ import annotations

import uuid

import tensorflow as tf

from tb_lr_plugin import event_format


class LogDirError(OSError):
    """Raised when a log directory cannot be created or written."""


def check_writable(run_dir: str) -> None:
    """Creates `run_dir` and proves it writable, through TensorFlow's file system.

    Going through `tf.io.gfile` (never `os.path`) keeps remote schemes
    (`gs://`, `ram://`, and `s3://` or `hdfs://` with tensorflow-io) working
    like local paths.

    Raises:
        LogDirError: with the path and the reason, before any training starts;
            for a scheme TensorFlow does not know, which ones it does.

    Example:
        >>> check_writable("/dev/null/run")  # doctest: +ELLIPSIS
        Traceback (most recent call last):
        ...
        tb_lr_plugin.writer.event_sink.LogDirError: ... '/dev/null/run': ... not a directory
    """
    probe = tf.io.gfile.join(run_dir, f".tb_lr_plugin_probe_{uuid.uuid4().hex}")
    try:
        tf.io.gfile.makedirs(run_dir)
        with tf.io.gfile.GFile(probe, "wb") as file:
            file.write(b"")
        tf.io.gfile.remove(probe)
    except (tf.errors.OpError, OSError) as error:
        message = getattr(error, "message", None) or str(error)
        if isinstance(error, tf.errors.UnimplementedError):
            schemes = sorted(s for s in tf.io.gfile.get_registered_schemes() if s)
            message += (
                f"; TensorFlow here knows {', '.join(f'{s}://' for s in schemes)} "
                "(s3:// and hdfs:// come with `pip install tensorflow-io`)"
            )
        raise LogDirError(
            f"tb_lr_plugin cannot write to log directory {run_dir!r}: {message}"
        ) from None


class EventSink:
    """Appends this plugin's records to a run's event file, under their tags.

    Example:
        >>> import tempfile
        >>> sink = EventSink(tempfile.mkdtemp())
        >>> sink.write_points(event_format.EPOCH, event_format.Chunk([0, 10], [0.0, 1.0]))
        >>> sink.close()
    """

    def __init__(self, run_dir: str):
        check_writable(run_dir)
        # Flushing is the recorder's decision (every few seconds), so the
        # writer's own timer and queue are set out of its way.
        self._writer = tf.summary.create_file_writer(
            run_dir, max_queue=1000, flush_millis=3_600_000, filename_suffix=".lr"
        )
        self._metadata: dict[tuple[str, str], bytes] = {}

    def write_points(
        self,
        name: str,
        chunk: event_format.Chunk,
        *,
        kind: str = event_format.KIND_SERIES,
        sampling: str = event_format.SAMPLED_EVERY_STEP,
    ) -> None:
        """Writes the points of series `name` as one record at its first step."""
        if len(chunk.steps) == 0:
            return
        self._write(name, event_format.encode_chunk(chunk), int(chunk.steps[0]), kind, sampling)

    def write_document(
        self, name: str, step: int, document: event_format.ScheduleConfig | event_format.Assignment
    ) -> None:
        """Writes one document record at `step`."""
        if isinstance(document, event_format.Assignment):
            kind = event_format.KIND_ASSIGNMENT
        else:
            kind = event_format.KIND_SCHEDULE_CONFIG
        self._write(name, event_format.encode_document(document), int(step), kind)

    def flush(self) -> None:
        """Makes everything written so far readable by TensorBoard."""
        self._writer.flush()

    def close(self) -> None:
        """Flushes and closes the event file."""
        self._writer.close()

    def _write(
        self,
        name: str,
        payload: bytes,
        step: int,
        kind: str,
        sampling: str = event_format.SAMPLED_EVERY_STEP,
    ) -> None:
        metadata = self._metadata.get((kind, sampling))
        if metadata is None:
            metadata = event_format.create_metadata(kind, sampling).SerializeToString()
            self._metadata[(kind, sampling)] = metadata
        # `record_if(True)`: `keras.callbacks.TensorBoard(update_freq=N)` sets
        # a global `record_if(step % N == 0)` during `fit`, which would
        # silently drop most of these writes.
        with self._writer.as_default(), tf.summary.record_if(True):
            tf.summary.write(
                event_format.tag_for(name),
                tf.constant(payload, tf.string),
                step=tf.constant(step, tf.int64),
                metadata=metadata,
            )
