"""The on-disk format shared by the writer and the reader (format version 1).

This is the only module both sides import, so it imports neither TensorFlow
nor Keras: only NumPy and TensorBoard's own protos. `docs/FORMAT.md` is the
prose version of what is encoded here.

Every record is a TensorBoard summary value whose metadata names the plugin
`lr` and carries a small JSON object `{"version": 1, "kind": ...}`. The tensor
is a scalar string tensor holding either:

* a *chunk* (kind `series` or `schedule`): many points of one series packed
  into one event, so a million steps cost about a thousand events and about
  8 bytes per step; or
* a JSON document (kind `schedule_config` or `assignment`).

Chunks are packed little-endian:

    u8  layout        (always 1 in format version 1)
    u8  flags         bit 0: explicit int64 steps follow, else steps are
                      contiguous from `first_step`; bit 1: values are float64,
                      else float32; bit 2: float32 wall-time offsets follow
    u32 count
    i64 first_step
    f64 base_wall_time
    [i64 steps[count]] [f32 wall_time_offsets[count]] values[count]

Example:
    >>> payload = encode_chunk(np.arange(5, 8), np.float32([0.1, 0.2, 0.3]))
    >>> decode_chunk(payload).steps.tolist()
    [5, 6, 7]
"""

from __future__ import annotations

import dataclasses
import json
import struct
from typing import Any

import numpy as np
from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "lr"
FORMAT_VERSION = 1

# Metadata kinds.
KIND_SERIES = "series"  # Points of a named series (tag = series name).
KIND_SCHEDULE = "schedule"  # The configured schedule's curve, one point per step.
KIND_SCHEDULE_CONFIG = "schedule_config"  # JSON: what the schedule is.
KIND_ASSIGNMENT = "assignment"  # JSON: one learning-rate assignment and its source.
KINDS = (KIND_SERIES, KIND_SCHEDULE, KIND_SCHEDULE_CONFIG, KIND_ASSIGNMENT)

# How the points of a series are sampled.
SAMPLED_EVERY_STEP = "step"  # One point per optimizer step.
SAMPLED_ON_CHANGE = "change"  # A point where the value changes; it holds until the next.

# Tags of the records that are not series.
SCHEDULE_TAG = "schedule"
SCHEDULE_CONFIG_TAG = "schedule_config"
ASSIGNMENT_TAG = "assignment"

# Series names (docs/ARCHITECTURE.md).
LEARNING_RATE = "learning_rate"
EPOCH = "epoch"
OPTIMIZER_PREFIX = "optimizer/"
LAYERS_PREFIX = "layers/"

# Sources of a learning-rate change, as shown in deviations.
SOURCE_SCHEDULE = "schedule"
SOURCE_REDUCE_LR_ON_PLATEAU = "ReduceLROnPlateau"
SOURCE_LEARNING_RATE_SCHEDULER = "LearningRateScheduler"
SOURCE_MANUAL = "manual assign"
SOURCE_UNKNOWN = "unknown"

# Rates closer than this (see `rates_agree`) are the same rate.
RELATIVE_TOLERANCE = 1e-6

_CHUNK_LAYOUT = 1
_HEADER = struct.Struct("<BBIqd")
_EXPLICIT_STEPS = 1
_FLOAT64_VALUES = 2
_HAS_WALL_TIMES = 4


class FormatError(ValueError):
    """Raised when a record cannot be decoded (corrupt or from a newer writer)."""


@dataclasses.dataclass(frozen=True)
class Chunk:
    """Decoded points of one chunk: parallel arrays of equal length."""

    steps: np.ndarray  # int64
    values: np.ndarray  # float32 or float64
    wall_times: np.ndarray | None  # float64, or None when not recorded


def create_metadata(kind: str, **extra: Any) -> summary_pb2.SummaryMetadata:
    """Returns the summary metadata that marks a record of this plugin.

    Args:
        kind: One of `KINDS`.
        **extra: JSON-serialisable fields stored beside the kind, e.g.
            `sampling=SAMPLED_ON_CHANGE` for a series.

    Example:
        >>> create_metadata(KIND_SERIES, sampling=SAMPLED_EVERY_STEP).plugin_data.plugin_name
        'lr'
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    content = {"version": FORMAT_VERSION, "kind": kind, **extra}
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME,
            content=json.dumps(content, sort_keys=True).encode("utf-8"),
        ),
        # DATA_CLASS_TENSOR: TensorBoard serves it through `read_tensors`.
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def parse_metadata_content(content: bytes) -> dict[str, Any]:
    """Parses `plugin_data.content` written by `create_metadata`.

    Raises:
        FormatError: when the content is not ours, or was written by a newer
            format version than this reader knows.

    Example:
        >>> parse_metadata_content(b'{"version": 1, "kind": "series"}')["kind"]
        'series'
    """
    try:
        parsed = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise FormatError(f"metadata is not JSON: {error}") from None
    if not isinstance(parsed, dict) or parsed.get("kind") not in KINDS:
        raise FormatError(f"metadata has no known kind: {parsed!r}")
    version = parsed.get("version")
    if not isinstance(version, int) or version < 1:
        raise FormatError(f"metadata has no valid version: {version!r}")
    if version > FORMAT_VERSION:
        raise FormatError(
            f"written by format version {version}; this reader knows up to "
            f"{FORMAT_VERSION}: upgrade tb-lr-plugin"
        )
    return parsed


def encode_chunk(
    steps: np.ndarray,
    values: np.ndarray,
    wall_times: np.ndarray | None = None,
) -> bytes:
    """Packs points into a chunk payload.

    Contiguous steps are stored as one integer; values keep float32 when they
    are float32 (learning rates are) and use float64 otherwise.

    Args:
        steps: Increasing integer steps.
        values: One value per step.
        wall_times: Optional seconds since the epoch, one per step.

    Example:
        >>> len(encode_chunk(np.arange(1000), np.zeros(1000, np.float32))) < 4100
        True
    """
    steps = np.asarray(steps, dtype=np.int64)
    values = np.asarray(values)
    count = len(steps)
    if values.shape != (count,):
        raise ValueError(f"need one value per step: {values.shape} for {count} steps")
    if count and np.any(np.diff(steps) <= 0):
        raise ValueError("steps must be strictly increasing")
    flags = 0
    parts = []
    first_step = int(steps[0]) if count else 0
    if count and steps[-1] - first_step != count - 1:
        flags |= _EXPLICIT_STEPS
        parts.append(steps.astype("<i8").tobytes())
    base_wall_time = 0.0
    if wall_times is not None:
        wall_times = np.asarray(wall_times, dtype=np.float64)
        if wall_times.shape != (count,):
            raise ValueError("need one wall time per step")
        flags |= _HAS_WALL_TIMES
        base_wall_time = float(wall_times[0]) if count else 0.0
        parts.append((wall_times - base_wall_time).astype("<f4").tobytes())
    if values.dtype == np.float32:
        parts.append(values.astype("<f4").tobytes())
    else:
        flags |= _FLOAT64_VALUES
        parts.append(values.astype("<f8").tobytes())
    header = _HEADER.pack(_CHUNK_LAYOUT, flags, count, first_step, base_wall_time)
    return header + b"".join(parts)


def decode_chunk(payload: bytes) -> Chunk:
    """Unpacks a chunk payload written by `encode_chunk`.

    Raises:
        FormatError: when the payload is truncated or of an unknown layout.

    Example:
        >>> decode_chunk(encode_chunk([3], np.float32([0.5]))).values.tolist()
        [0.5]
    """
    if len(payload) < _HEADER.size:
        raise FormatError(f"chunk of {len(payload)} bytes is shorter than its header")
    layout, flags, count, first_step, base_wall_time = _HEADER.unpack_from(payload)
    if layout != _CHUNK_LAYOUT or flags & ~(_EXPLICIT_STEPS | _FLOAT64_VALUES | _HAS_WALL_TIMES):
        raise FormatError(f"unknown chunk layout {layout} (flags {flags:#x})")
    value_size = 8 if flags & _FLOAT64_VALUES else 4
    expected = (
        _HEADER.size
        + (8 * count if flags & _EXPLICIT_STEPS else 0)
        + (4 * count if flags & _HAS_WALL_TIMES else 0)
        + value_size * count
    )
    if len(payload) != expected:
        raise FormatError(f"chunk of {len(payload)} bytes, expected {expected}")
    offset = _HEADER.size
    if flags & _EXPLICIT_STEPS:
        steps = np.frombuffer(payload, "<i8", count, offset).astype(np.int64)
        offset += 8 * count
    else:
        steps = np.arange(first_step, first_step + count, dtype=np.int64)
    wall_times = None
    if flags & _HAS_WALL_TIMES:
        offsets = np.frombuffer(payload, "<f4", count, offset)
        wall_times = base_wall_time + offsets.astype(np.float64)
        offset += 4 * count
    values_dtype = "<f8" if flags & _FLOAT64_VALUES else "<f4"
    values = np.frombuffer(payload, values_dtype, count, offset).astype(values_dtype[1:])
    return Chunk(steps=steps, values=values, wall_times=wall_times)


def rates_agree(applied: np.ndarray, expected: np.ndarray, peak: float) -> np.ndarray:
    """Whether applied rates equal expected ones up to float32 rounding.

    Vector kernels (which sample a curve) and scalar kernels (which the
    optimizer runs) may round differently, and near a zero of a schedule (the
    end of a cosine) the rounding of intermediate terms dominates the tiny
    result. So a rate agrees when it is within `RELATIVE_TOLERANCE` of the
    expected value, or of the schedule's peak.

    Example:
        >>> rates_agree(np.float32([1.0, 1.1]), np.float32([1.0, 1.0]), peak=1.0).tolist()
        [True, False]
    """
    applied = np.asarray(applied, np.float64)
    expected = np.asarray(expected, np.float64)
    peak = float(peak) if np.isfinite(peak) else 0.0
    with np.errstate(invalid="ignore"):
        close = np.abs(applied - expected) <= RELATIVE_TOLERANCE * (
            np.abs(expected) + abs(float(peak))
        )
    identical = (applied == expected) | (np.isnan(applied) & np.isnan(expected))
    return close | identical


def encode_json(document: dict[str, Any]) -> bytes:
    """Serialises a JSON record; non-finite floats become null (JSON has no NaN).

    Example:
        >>> encode_json({"value": float("nan")})
        b'{"value": null}'
    """
    return json.dumps(_finite_or_none(document), sort_keys=True).encode("utf-8")


def decode_json(payload: bytes) -> dict[str, Any]:
    """Parses a JSON record written by `encode_json`.

    Raises:
        FormatError: when the payload is not a JSON object.
    """
    try:
        document = json.loads(payload.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise FormatError(f"record is not JSON: {error}") from None
    if not isinstance(document, dict):
        raise FormatError("record is not a JSON object")
    return document


def _finite_or_none(value: Any) -> Any:
    if isinstance(value, float):
        return value if np.isfinite(value) else None
    if isinstance(value, dict):
        return {str(k): _finite_or_none(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_finite_or_none(v) for v in value]
    return value
