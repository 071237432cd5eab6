"""The on-disk format: the whole contract between the writer and the reader.

This is the only module both sides import, so it imports neither TensorFlow
nor Keras: only NumPy and TensorBoard's protos. Every record either side
writes or reads is defined, encoded and decoded here; `docs/FORMAT.md` is
the prose version. Steps follow the step convention of
`tb_lr_plugin/writer/step_convention.py`, their single definition.

A record is one TensorBoard summary value: its metadata names the plugin
`lr` and carries `{"version", "kind"[, "sampling"]}` as JSON; its tensor is a
scalar string holding a chunk of points (kinds `series`, `schedule`) or a
JSON document (`schedule_config`, `assignment`).

Version 2 (written) differs from version 1 (still read) in three ways:

* tags are the public names under `TAG_NAMESPACE`, so a user's own
  `learning_rate` scalar never takes this plugin's tag;
* every payload starts with the CRC-32 of the rest, so a damaged chunk is
  reported, never shown as data;
* an assignment's source is structured (`{"kind", "callback"}`), not a phrase.

Example:
    >>> chunk = Chunk(np.arange(5, 8), np.float32([0.1, 0.2, 0.3]))
    >>> decode_chunk(encode_chunk(chunk)).steps.tolist()
    [5, 6, 7]
"""

from __future__ import annotations

import dataclasses
import json
import math
import struct
import zlib
from typing import Any

import numpy as np
from tensorboard.compat.proto import summary_pb2

PLUGIN_NAME = "lr"
FORMAT_VERSION = 2  # Written; every version from 1 up to it is read.

# Version-2 tags are `TAG_NAMESPACE + name`; version-1 tags are the bare name.
TAG_NAMESPACE = "tb_lr_plugin/"

# Kinds of record.
KIND_SERIES = "series"  # Points of a named series.
KIND_SCHEDULE = "schedule"  # The configured schedule's curve, one point per step.
KIND_SCHEDULE_CONFIG = "schedule_config"  # A `ScheduleConfig` document.
KIND_ASSIGNMENT = "assignment"  # An `Assignment` document.
KIND_RANGE_TEST = "range_test"  # A `RangeTest` document: a learning-rate range test.
KINDS = (KIND_SERIES, KIND_SCHEDULE, KIND_SCHEDULE_CONFIG, KIND_ASSIGNMENT, KIND_RANGE_TEST)

# How the points of a series are sampled.
SAMPLED_EVERY_STEP = "step"  # One point per optimizer step.
SAMPLED_ON_CHANGE = "change"  # A point where the value changes; it holds until the next.

# Names (the HTTP API's and the tab's; `name_for` adds an optimizer's name).
LEARNING_RATE = "learning_rate"
EPOCH = "epoch"
OPTIMIZER = "optimizer"  # `optimizer[/<optimizer>]/<hyperparameter>`
LAYERS = "layers"  # `layers/<layer path>/<name>`
UPDATE_RATIO = "update_ratio"  # `update_ratio/<layer path>`: ||w_after - w_before|| / ||w_before||
GRADIENT_NORM = "gradient_norm"  # `gradient_norm[/<optimizer>]`: of the gradients an update got
# `skipped_updates[/<optimizer>]`: updates a LossScaleOptimizer skipped before each step.
SKIPPED_UPDATES = "skipped_updates"
SCHEDULE = "schedule"
SCHEDULE_CONFIG = "schedule_config"
ASSIGNMENT = "assignment"
RANGE_TEST = "range_test"

# Rates closer than this (see `rates_agree`) are the same rate.
RELATIVE_TOLERANCE = 1e-6


class FormatError(ValueError):
    """A record that cannot be decoded: damaged, foreign, or from a newer writer."""


class ChecksumError(FormatError):
    """A version-2 payload whose bytes are not those written.

    Attributes:
        step_range: `(first, last)` step the chunk says it holds, when its
            (unverified) header is consistent with its length; else `None`.
    """

    def __init__(self, message: str, step_range: tuple[int, int] | None = None):
        super().__init__(message)
        self.step_range = step_range


# -- Names and tags. --


def name_for(base: str, optimizer: str = "", leaf: str = "") -> str:
    """The name of `base` for one optimizer (`""` when the run has one).

    Example:
        >>> name_for(LEARNING_RATE), name_for(LEARNING_RATE, "adam")
        ('learning_rate', 'learning_rate/adam')
        >>> name_for(OPTIMIZER, "adam", "beta_1"), name_for(LAYERS, leaf="dense/mean")
        ('optimizer/adam/beta_1', 'layers/dense/mean')
    """
    return "/".join(part for part in (base, optimizer, leaf) if part)


def optimizer_of(name: str, base: str) -> str | None:
    """The optimizer whose `base` record `name` is; `None` when it is not one.

    Example:
        >>> optimizer_of("schedule/sgd", SCHEDULE), optimizer_of("schedule", SCHEDULE)
        ('sgd', '')
        >>> optimizer_of("epoch", SCHEDULE) is None
        True
    """
    if name == base:
        return ""
    if name.startswith(base + "/"):
        return name[len(base) + 1 :]
    return None


def tag_for(name: str) -> str:
    """The tag a record of `name` is written under.

    Example:
        >>> tag_for("learning_rate")
        'tb_lr_plugin/learning_rate'
    """
    return TAG_NAMESPACE + name


def name_of(tag: str, version: int) -> str:
    """The name a tag of format `version` holds.

    Raises:
        FormatError: for a version-2 tag outside `TAG_NAMESPACE`.

    Example:
        >>> name_of("tb_lr_plugin/epoch", 2), name_of("epoch", 1)
        ('epoch', 'epoch')
    """
    if version == 1:
        return tag
    if not tag.startswith(TAG_NAMESPACE) or tag == TAG_NAMESPACE:
        raise FormatError(f"tag {tag!r} of format version {version} is not under {TAG_NAMESPACE}")
    return tag[len(TAG_NAMESPACE) :]


# -- Metadata. --


@dataclasses.dataclass(frozen=True)
class RecordMetadata:
    """What a tag's metadata says about its records.

    Attributes:
        kind: One of `KINDS`.
        version: The format version the records were written in.
        sampling: For series, `SAMPLED_EVERY_STEP` or `SAMPLED_ON_CHANGE`.
        position: For `update_ratio/<layer>` series, the layer's place in
            the model (0 first), the tab's row order: names alone would
            sort `dense_10` before `dense_2`. `None` elsewhere.
    """

    kind: str
    version: int = FORMAT_VERSION
    sampling: str = SAMPLED_EVERY_STEP
    position: int | None = None


def create_metadata(
    kind: str, sampling: str = SAMPLED_EVERY_STEP, position: int | None = None
) -> summary_pb2.SummaryMetadata:
    """The summary metadata of a record of this plugin, in the current version.

    Example:
        >>> create_metadata(KIND_SERIES).plugin_data.plugin_name
        'lr'
        >>> create_metadata(KIND_SERIES, position=3).plugin_data.content
        b'{"kind": "series", "position": 3, "sampling": "step", "version": 2}'
    """
    if kind not in KINDS:
        raise ValueError(f"unknown kind {kind!r}; expected one of {KINDS}")
    if sampling not in (SAMPLED_EVERY_STEP, SAMPLED_ON_CHANGE):
        raise ValueError(f"unknown sampling {sampling!r}")
    content: dict[str, Any] = {"version": FORMAT_VERSION, "kind": kind}
    if kind == KIND_SERIES:
        content["sampling"] = sampling
        if position is not None:
            if not _is_int(position) or position < 0:
                raise ValueError(f"position must be an integer >= 0; got {position!r}")
            content["position"] = position
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=json.dumps(content, sort_keys=True).encode()
        ),
        # TensorBoard serves DATA_CLASS_TENSOR through `read_tensors`.
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def parse_metadata(content: bytes) -> RecordMetadata:
    """Parses `plugin_data.content` of a record of this plugin.

    Raises:
        FormatError: when the content is not ours, or comes from a newer version.

    Example:
        >>> parse_metadata(b'{"version": 1, "kind": "series", "sampling": "change"}')
        RecordMetadata(kind='series', version=1, sampling='change', position=None)
    """
    parsed = _parse_json_object(content, "metadata")
    version = parsed.get("version")
    if not isinstance(version, int) or isinstance(version, bool) or version < 1:
        raise FormatError(f"metadata has no valid version: {version!r}")
    if version > FORMAT_VERSION:
        raise FormatError(
            f"written by format version {version}; this reader knows up to "
            f"{FORMAT_VERSION}: upgrade tb-lr-plugin"
        )
    kind = parsed.get("kind")
    if kind not in KINDS:
        raise FormatError(f"metadata has no known kind: {kind!r}")
    sampling = parsed.get("sampling", SAMPLED_EVERY_STEP)
    if sampling not in (SAMPLED_EVERY_STEP, SAMPLED_ON_CHANGE):
        raise FormatError(f"metadata has an unknown sampling: {sampling!r}")
    position = parsed.get("position")
    if position is not None and not (_is_int(position) and position >= 0):
        raise FormatError(f"metadata has an invalid position: {position!r}")
    return RecordMetadata(kind=kind, version=version, sampling=sampling, position=position)


# -- Chunks: the points of `series` and `schedule` records. --

# Little-endian; then [i64 steps] [f32 wall-time offsets] f32|f64 values.
_CHUNK_HEADER = struct.Struct("<BBIqd")  # layout, flags, count, first_step, base_wall_time
_CHUNK_LAYOUT = 1
_EXPLICIT_STEPS = 1  # Else steps run contiguously from first_step.
_FLOAT64_VALUES = 2  # Else float32.
_HAS_WALL_TIMES = 4
_CHECKSUM = struct.Struct("<I")  # Version 2: CRC-32 (zlib's) of the bytes after it.


@dataclasses.dataclass(frozen=True, eq=False)
class Chunk:
    """Points of one series: parallel arrays of equal length.

    Attributes:
        steps: Strictly increasing int64 steps.
        values: One value per step; float32 is kept, anything else is float64.
        wall_times: Seconds since the epoch per step, or `None` when not recorded.
    """

    steps: np.ndarray
    values: np.ndarray
    wall_times: np.ndarray | None = None


def encode_chunk(chunk: Chunk) -> bytes:
    """The payload of a chunk: about 8 bytes per float32 step with wall times.

    Example:
        >>> len(encode_chunk(Chunk(np.arange(1000), np.zeros(1000, np.float32))))
        4026
    """
    steps = np.asarray(chunk.steps, dtype=np.int64)
    values = np.asarray(chunk.values)
    count = len(steps)
    if steps.shape != (count,) or values.shape != (count,):
        raise ValueError(f"need one value per step: {values.shape} for {steps.shape} steps")
    if count and np.any(np.diff(steps) <= 0):
        raise ValueError("steps must be strictly increasing")
    flags, parts = 0, []
    first_step = int(steps[0]) if count else 0
    if count and steps[-1] - first_step != count - 1:
        flags |= _EXPLICIT_STEPS
        parts.append(steps.astype("<i8").tobytes())
    base_wall_time = 0.0
    if chunk.wall_times is not None:
        wall_times = np.asarray(chunk.wall_times, dtype=np.float64)
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
    header = _CHUNK_HEADER.pack(_CHUNK_LAYOUT, flags, count, first_step, base_wall_time)
    return _with_checksum(header + b"".join(parts))


def decode_chunk(payload: bytes, version: int = FORMAT_VERSION) -> Chunk:
    """The points of a chunk payload of format `version`.

    Raises:
        ChecksumError: when a version-2 payload is not the bytes written.
        FormatError: when it is truncated or of an unknown layout.

    Example:
        >>> decode_chunk(encode_chunk(Chunk([3], np.float32([0.5])))).values.tolist()
        [0.5]
    """
    if version >= 2:
        try:
            payload = _verified(payload)
        except ChecksumError as error:
            error.step_range = _claimed_range(payload[_CHECKSUM.size :])
            raise
    flags, count, first_step, base_wall_time, expected = _chunk_header(payload)
    if len(payload) != expected:
        raise FormatError(f"chunk of {len(payload)} bytes, expected {expected}")
    offset = _CHUNK_HEADER.size
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
    value_type = "<f8" if flags & _FLOAT64_VALUES else "<f4"
    values = np.frombuffer(payload, value_type, count, offset).astype(value_type[1:])
    return Chunk(steps=steps, values=values, wall_times=wall_times)


def _chunk_header(payload: bytes) -> tuple[int, int, int, float, int]:
    if len(payload) < _CHUNK_HEADER.size:
        raise FormatError(f"chunk of {len(payload)} bytes is shorter than its header")
    layout, flags, count, first_step, base_wall_time = _CHUNK_HEADER.unpack_from(payload)
    if layout != _CHUNK_LAYOUT or flags & ~(_EXPLICIT_STEPS | _FLOAT64_VALUES | _HAS_WALL_TIMES):
        raise FormatError(f"unknown chunk layout {layout} (flags {flags:#x})")
    expected = _CHUNK_HEADER.size + count * (
        (8 if flags & _EXPLICIT_STEPS else 0)
        + (4 if flags & _HAS_WALL_TIMES else 0)
        + (8 if flags & _FLOAT64_VALUES else 4)
    )
    return flags, count, first_step, base_wall_time, expected


def _claimed_range(body: bytes) -> tuple[int, int] | None:
    # What a damaged chunk says it holds, if its header fits its length.
    try:
        flags, count, first_step, _, expected = _chunk_header(body)
    except FormatError:
        return None
    if len(body) != expected or count == 0:
        return None
    if flags & _EXPLICIT_STEPS:
        steps = np.frombuffer(body, "<i8", count, _CHUNK_HEADER.size)
        return int(steps[0]), int(steps[-1])
    return first_step, first_step + count - 1


def _with_checksum(body: bytes) -> bytes:
    return _CHECKSUM.pack(zlib.crc32(body)) + body


def _verified(payload: bytes) -> bytes:
    if len(payload) < _CHECKSUM.size:
        raise ChecksumError(f"payload of {len(payload)} bytes has no checksum")
    (stored,) = _CHECKSUM.unpack_from(payload)
    body = payload[_CHECKSUM.size :]
    computed = zlib.crc32(body)
    if stored != computed:
        raise ChecksumError(
            f"checksum mismatch (stored {stored:#010x}, computed {computed:#010x}): "
            "the record was damaged after it was written"
        )
    return body


# -- Documents: `schedule_config` and `assignment` records. --


@dataclasses.dataclass(frozen=True)
class ScheduleConfig:
    """What configured a curve, written with it (and again when the plan grows).

    Attributes:
        kind: The schedule's class (`CosineDecay`, ...), or `constant`.
        source: What set it: `LearningRateSchedule`, `LearningRateScheduler`
            or `float`.
        config: The schedule's `get_config()`, made JSON-safe.
        total_steps: The planned length of training; `None` while unknown.

    Example:
        >>> config = ScheduleConfig("constant", "float", {"learning_rate": 0.1}, 100)
        >>> decode_schedule_config(encode_document(config)) == config
        True
    """

    kind: str | None
    source: str | None
    config: dict[str, Any]
    total_steps: int | None = None


# `AssignmentSource.kind` values.
SOURCE_CALLBACK = "callback"  # A Keras callback assigned it; `callback` names its class.
SOURCE_MANUAL = "manual"  # Code outside any callback assigned it.
SOURCE_UNKNOWN = "unknown"  # Not known (or, in a deviation, no assignment explains it).


@dataclasses.dataclass(frozen=True)
class AssignmentSource:
    """Who assigned a learning rate.

    Example:
        >>> AssignmentSource.of_callback("ReduceLROnPlateau")
        AssignmentSource(kind='callback', callback='ReduceLROnPlateau')
    """

    kind: str
    callback: str | None = None

    @classmethod
    def of_callback(cls, class_name: str) -> AssignmentSource:
        """The source of an assignment made by a callback of class `class_name`."""
        return cls(SOURCE_CALLBACK, class_name)


MANUAL = AssignmentSource(SOURCE_MANUAL)
UNKNOWN = AssignmentSource(SOURCE_UNKNOWN)


@dataclasses.dataclass(frozen=True)
class Assignment:
    """One eager assignment of a learning rate.

    Attributes:
        step: The first update that applies the new value.
        previous: The rate before; NaN when it was not a number.
        value: The rate assigned; NaN when it was not a number.
        source: Who assigned it.
        wall_time: When, in seconds since the epoch.

    Example:
        >>> change = Assignment(40, 0.1, 0.05, AssignmentSource.of_callback("X"), 1.5e9)
        >>> decode_assignment(encode_document(change)) == change
        True
    """

    step: int
    previous: float
    value: float
    source: AssignmentSource
    wall_time: float


# A range test's rules (`RangeTest.suggestions`), in the order the tab lists them.
RULES = ("valley", "slide", "minimum", "steep")
# Why a range test's sweep ended (`RangeTest.stopped`).
STOPPED_COMPLETED = "completed"  # It reached `max_lr`.
STOPPED_DIVERGED = "diverged"  # The smoothed loss exceeded `stop_factor` times its minimum.
STOPPED_NOT_FINITE = "not_finite"  # The loss became NaN or infinite.
STOPPED_OUT_OF_DATA = "out_of_data"  # The data ran out before `max_lr`.
STOP_REASONS = (STOPPED_COMPLETED, STOPPED_DIVERGED, STOPPED_NOT_FINITE, STOPPED_OUT_OF_DATA)


@dataclasses.dataclass(frozen=True)
class Suggestion:
    """One rule's suggested learning rate, or why it has none.

    Attributes:
        rule: One of `RULES`.
        learning_rate: The suggested rate; `None` when the rule found none.
        reason: Why there is none (`None` when there is a rate).
    """

    rule: str
    learning_rate: float | None
    reason: str | None = None


@dataclasses.dataclass(frozen=True)
class RangeTest:
    """A learning-rate range test: the rate and loss of every step of its sweep.

    Attributes:
        learning_rates: The rate each step of the sweep applied.
        losses: The loss of that step's batch (NaN where not finite).
        smoothed_losses: `losses` smoothed as the sweep saw them (the
            rules and the stop read these).
        suggestions: One per rule of `RULES`, in that order.
        divergence: The rate at which the loss began to diverge, or `None`.
        stopped: Why the sweep ended: one of `STOP_REASONS`.
        settings: How it was run: `min_lr`, `max_lr`, `num_steps`, `mode`,
            `stop_factor`, `smoothing`, `batch_size`, `steps_per_execution`.
        optimizer: The optimizer's class name, for the line that configures
            the suggested rate.
        wall_time: When it ended, in seconds since the epoch.

    Example:
        >>> test = RangeTest([1e-3, 1e-2], [1.0, 0.5], [1.0, 0.7], [Suggestion("valley", 1e-3)],
        ...                  None, STOPPED_COMPLETED, {"num_steps": 2}, "SGD", 1.5e9)
        >>> decode_range_test(encode_document(test)) == test
        True
    """

    learning_rates: list[float]
    losses: list[float]
    smoothed_losses: list[float]
    suggestions: list[Suggestion]
    divergence: float | None
    stopped: str
    settings: dict[str, Any]
    optimizer: str
    wall_time: float

    def suggestion(self, rule: str) -> Suggestion:
        """The suggestion of `rule` (one of `RULES`)."""
        for suggestion in self.suggestions:
            if suggestion.rule == rule:
                return suggestion
        return Suggestion(rule, None, "not recorded")


def encode_document(document: ScheduleConfig | Assignment | RangeTest) -> bytes:
    """The payload of a document record; non-finite floats become `null`."""
    fields = dataclasses.asdict(document)
    return _with_checksum(json.dumps(json_safe(fields), sort_keys=True).encode())


def decode_schedule_config(payload: bytes, version: int = FORMAT_VERSION) -> ScheduleConfig:
    """The `ScheduleConfig` in a `schedule_config` payload of format `version`.

    Raises:
        FormatError: when the payload is damaged or not such a document.
    """
    fields = _document_fields(payload, version)
    config = fields.get("config")
    return ScheduleConfig(
        kind=_optional_text(fields.get("kind")),
        source=_optional_text(fields.get("source")),
        config=config if isinstance(config, dict) else {},
        total_steps=fields["total_steps"] if _is_int(fields.get("total_steps")) else None,
    )


def decode_assignment(payload: bytes, version: int = FORMAT_VERSION) -> Assignment:
    """The `Assignment` in an `assignment` payload of format `version`.

    Raises:
        FormatError: when the payload is damaged, or holds no integer step.
    """
    fields = _document_fields(payload, version)
    step = fields.get("step")
    if not _is_int(step):
        raise FormatError(f"assignment has no integer step: {step!r}")
    raw_source = fields.get("source")
    if version == 1:
        source = _source_from_phrase(raw_source)
    elif isinstance(raw_source, dict) and raw_source.get("kind") in (
        SOURCE_CALLBACK,
        SOURCE_MANUAL,
    ):
        source = AssignmentSource(raw_source["kind"], _optional_text(raw_source.get("callback")))
    else:
        source = UNKNOWN
    return Assignment(
        step=step,
        previous=_float_or_nan(fields.get("previous")),
        value=_float_or_nan(fields.get("value")),
        source=source,
        wall_time=_float_or_nan(fields.get("wall_time")),
    )


def decode_range_test(payload: bytes, version: int = FORMAT_VERSION) -> RangeTest:
    """The `RangeTest` in a `range_test` payload of format `version`.

    Raises:
        FormatError: when the payload is damaged, or its arrays are not
            numbers of one length.
    """
    fields = _document_fields(payload, version)
    arrays = {}
    for key in ("learning_rates", "losses", "smoothed_losses"):
        values = fields.get(key)
        if not isinstance(values, list) or not all(
            value is None or isinstance(value, (int, float)) for value in values
        ):
            raise FormatError(f"range test's {key} is not a list of numbers")
        arrays[key] = [_float_or_nan(value) for value in values]
    if len({len(values) for values in arrays.values()}) != 1:
        raise FormatError("range test's arrays differ in length")
    recorded = fields.get("suggestions")
    suggestions = []
    for item in recorded if isinstance(recorded, list) else []:
        if isinstance(item, dict) and item.get("rule") in RULES:
            rate = item.get("learning_rate")
            suggestions.append(
                Suggestion(
                    item["rule"],
                    _float_or_nan(rate) if rate is not None else None,
                    _optional_text(item.get("reason")),
                )
            )
    settings = fields.get("settings")
    divergence = fields.get("divergence")
    return RangeTest(
        **arrays,
        suggestions=suggestions,
        divergence=_float_or_nan(divergence) if divergence is not None else None,
        stopped=fields.get("stopped") if fields.get("stopped") in STOP_REASONS else "unknown",
        settings=settings if isinstance(settings, dict) else {},
        optimizer=_optional_text(fields.get("optimizer")) or "",
        wall_time=_float_or_nan(fields.get("wall_time")),
    )


def _document_fields(payload: bytes, version: int) -> dict[str, Any]:
    return _parse_json_object(_verified(payload) if version >= 2 else payload, "document")


def _source_from_phrase(phrase: Any) -> AssignmentSource:
    # Version 1 wrote a phrase: a callback's class, "callback <Class>" or "manual assign".
    if phrase in ("ReduceLROnPlateau", "LearningRateScheduler"):
        return AssignmentSource.of_callback(phrase)
    if isinstance(phrase, str) and phrase.startswith("callback ") and len(phrase) > 9:
        return AssignmentSource.of_callback(phrase[9:])
    return MANUAL if phrase == "manual assign" else UNKNOWN


# -- JSON. --


def json_safe(value: Any, unsupported: list[Any] | None = None) -> Any:
    """`value` with only JSON types: the one sanitiser of records and HTTP bodies.

    NumPy arrays and scalars become Python lists and numbers, non-finite
    floats `None` (JSON has no NaN), mapping keys strings, and anything else
    its `repr` (appended to `unsupported` when given).

    Example:
        >>> json_safe({"a": np.float32([0.5, np.nan]), 1: (np.int64(2), math.inf, len)})
        {'a': [0.5, None], '1': [2, None, '<built-in function len>']}
    """
    if value is None or isinstance(value, (str, bool, int)):
        return value
    if isinstance(value, (float, np.floating)):
        return float(value) if math.isfinite(value) else None
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iub":
            return value.tolist()
        if value.dtype.kind == "f":
            values = value.astype(np.float64)
            if np.isfinite(values).all():
                return values.tolist()
            cleaned = values.astype(object)
            cleaned[~np.isfinite(values)] = None
            return cleaned.tolist()
        return [json_safe(item, unsupported) for item in value.tolist()]
    if isinstance(value, (np.integer, np.bool_)):
        return value.item()
    if isinstance(value, dict):
        return {str(key): json_safe(item, unsupported) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [json_safe(item, unsupported) for item in value]
    if unsupported is not None:
        unsupported.append(value)
    return repr(value)


def _parse_json_object(data: bytes, what: str) -> dict[str, Any]:
    try:
        parsed = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, ValueError) as error:
        raise FormatError(f"{what} is not JSON: {error}") from None
    if not isinstance(parsed, dict):
        raise FormatError(f"{what} is not a JSON object")
    return parsed


def _is_int(value: Any) -> bool:
    return isinstance(value, int) and not isinstance(value, bool)


def _optional_text(value: Any) -> str | None:
    return value if isinstance(value, str) and value else None


def _float_or_nan(value: Any) -> float:
    # A JSON integer too large for a float (a damaged record) must not raise.
    if isinstance(value, float) or (_is_int(value) and abs(value) < 2**1023):
        return float(value)
    return math.nan


# -- What "the same rate" means between series. --


def rates_agree(applied: np.ndarray, expected: np.ndarray, peak: float) -> np.ndarray:
    """Whether rates equal the configured curve's up to float32 rounding.

    The writer samples a curve with vector kernels and the optimizer runs
    scalar ones; they may round differently, and near a zero of a schedule
    (the end of a cosine) the rounding of intermediate terms dominates the
    tiny result. So a rate agrees when it is within `RELATIVE_TOLERANCE` of
    the expected value, or of the schedule's peak. The writer checks its
    curves against this; the reader calls whatever disagrees a deviation.

    Example:
        >>> rates_agree(np.float32([1.0, 1.1]), np.float32([1.0, 1.0]), peak=1.0).tolist()
        [True, False]
    """
    applied = np.asarray(applied, np.float64)
    expected = np.asarray(expected, np.float64)
    peak = float(peak) if np.isfinite(peak) else 0.0
    with np.errstate(invalid="ignore"):
        close = np.abs(applied - expected) <= RELATIVE_TOLERANCE * (np.abs(expected) + abs(peak))
    identical = (applied == expected) | (np.isnan(applied) & np.isnan(expected))
    return close | identical
