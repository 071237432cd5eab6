"""The format on its own: round trips, golden bytes, versions, checksums.

Nothing here imports TensorFlow or Keras (the format module does not, and a
subprocess proves it); the logs these bytes end up in are read by real
TensorBoard loaders in `tests/plugin/test_format_versions.py`.
"""

from __future__ import annotations

import json
import math
import subprocess
import sys
import zlib

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tb_lr_plugin import event_format as fmt

SETTINGS = settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])

# Golden chunks: steps 5-7 of float32 0.5, 0.25, 0.125 with wall times 1000,
# 1000.5, 1001; and steps 0, 10, 1000 of float64 0.1, NaN, 2.0 without.
# Version 1 is what every log before version 2 holds (the stored logs in
# tests/format/v1_logs); version 2 is the same body after its CRC-32.
CONTIGUOUS_V1 = bytes.fromhex(
    "01040300000005000000000000000000000000408f40"
    "000000000000003f0000803f"  # wall-time offsets (f32): 0, 0.5, 1
    "0000003f0000803e0000003e"  # values (f32)
)
EXPLICIT_V1 = bytes.fromhex(
    "01030300000000000000000000000000000000000000"
    "0000000000000000"
    "0a00000000000000"
    "e803000000000000"  # steps (i64): 0, 10, 1000
    "9a9999999999b93f"
    "000000000000f87f"
    "0000000000000040"  # values (f64): 0.1, NaN, 2
)
CONTIGUOUS_V2 = bytes.fromhex("f9402334") + CONTIGUOUS_V1
EXPLICIT_V2 = bytes.fromhex("7671728f") + EXPLICIT_V1
ASSIGNMENT_V2 = bytes.fromhex("039dd765") + (
    b'{"previous": 0.1, "source": {"callback": "ReduceLROnPlateau", "kind": "callback"}, '
    b'"step": 40, "value": 0.05, "wall_time": 1500000000.0}'
)


# -- Strategies. --

steps_strategy = st.lists(st.integers(-(2**62), 2**62), min_size=0, max_size=200, unique=True).map(
    lambda steps: np.array(sorted(steps), dtype=np.int64)
)
contiguous_steps = st.tuples(st.integers(0, 2**40), st.integers(0, 300)).map(
    lambda start_count: np.arange(start_count[0], start_count[0] + start_count[1])
)


@st.composite
def chunks(draw) -> fmt.Chunk:
    steps = draw(st.one_of(steps_strategy, contiguous_steps))
    float32 = draw(st.booleans())
    width = 32 if float32 else 64
    values = draw(st.lists(st.floats(width=width), min_size=len(steps), max_size=len(steps)))
    values = np.array(values, dtype=np.float32 if float32 else np.float64)
    wall_times = None
    if draw(st.booleans()):
        base = draw(st.floats(1e9, 2e9))
        offsets = draw(st.lists(st.floats(0, 1e6), min_size=len(steps), max_size=len(steps)))
        wall_times = base + np.array(offsets, dtype=np.float64)
    return fmt.Chunk(steps, values, wall_times)


json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(st.text(), inner, max_size=4),
    max_leaves=20,
)
names = st.text(min_size=1, max_size=40)
finite = st.floats(allow_nan=False, allow_infinity=False)
sources = st.one_of(
    st.just(fmt.MANUAL),
    st.just(fmt.UNKNOWN),
    names.map(fmt.AssignmentSource.of_callback),
)
schedule_configs = st.builds(
    fmt.ScheduleConfig,
    kind=names,
    source=st.sampled_from(["LearningRateSchedule", "LearningRateScheduler", "float"]),
    config=st.dictionaries(st.text(), json_values, max_size=6),
    total_steps=st.none() | st.integers(0, 2**62),
)
assignments = st.builds(
    fmt.Assignment,
    step=st.integers(0, 2**62),
    previous=finite,
    value=finite,
    source=sources,
    wall_time=st.floats(0, 4e9),
)


@st.composite
def range_tests(draw) -> fmt.RangeTest:
    steps = draw(st.integers(0, 30))
    arrays = [draw(st.lists(finite, min_size=steps, max_size=steps)) for _ in range(3)]
    rules = draw(st.lists(st.sampled_from(fmt.RULES), unique=True))
    suggestions = [
        draw(
            st.builds(fmt.Suggestion, st.just(rule), finite, st.none())
            | st.builds(fmt.Suggestion, st.just(rule), st.none(), names)
        )
        for rule in rules
    ]
    return fmt.RangeTest(
        *arrays,
        suggestions=suggestions,
        divergence=draw(st.none() | finite),
        stopped=draw(st.sampled_from(fmt.STOP_REASONS)),
        settings=draw(st.dictionaries(st.text(), json_values, max_size=6)),
        optimizer=draw(names),
        wall_time=draw(st.floats(0, 4e9)),
    )


def assert_same_chunk(decoded: fmt.Chunk, chunk: fmt.Chunk) -> None:
    np.testing.assert_array_equal(decoded.steps, chunk.steps)
    assert decoded.values.dtype == chunk.values.dtype
    # Bit for bit: NaN payloads and signed zeros included.
    assert decoded.values.tobytes() == chunk.values.tobytes()
    if chunk.wall_times is None:
        assert decoded.wall_times is None
    else:
        # Offsets from the first are float32: within their rounding.
        offsets = chunk.wall_times - chunk.wall_times[:1].sum()
        tolerance = np.abs(offsets) * 2.0**-23 + 1e-9
        assert np.all(np.abs(decoded.wall_times - chunk.wall_times) <= tolerance)


# -- Round trips. --


@SETTINGS
@given(chunk=chunks())
def test_every_chunk_reads_back_as_written(chunk):
    assert_same_chunk(fmt.decode_chunk(fmt.encode_chunk(chunk)), chunk)


@SETTINGS
@given(config=schedule_configs)
def test_every_schedule_config_reads_back_as_written(config):
    assert fmt.decode_schedule_config(fmt.encode_document(config)) == config


@SETTINGS
@given(assignment=assignments)
def test_every_assignment_reads_back_as_written(assignment):
    assert fmt.decode_assignment(fmt.encode_document(assignment)) == assignment


@SETTINGS
@given(test=range_tests())
def test_every_range_test_reads_back_as_written(test):
    assert fmt.decode_range_test(fmt.encode_document(test)) == test


def test_a_range_test_s_non_finite_losses_read_back_as_nan():
    test = fmt.RangeTest(
        [0.1, 1.0], [1.0, math.inf], [1.0, math.nan], [], None, fmt.STOPPED_NOT_FINITE, {}, "", 0.0
    )
    decoded = fmt.decode_range_test(fmt.encode_document(test))
    assert decoded.losses[0] == 1.0 and math.isnan(decoded.losses[1])
    assert math.isnan(decoded.smoothed_losses[1])
    assert decoded.suggestion("valley") == fmt.Suggestion("valley", None, "not recorded")


@pytest.mark.parametrize(
    "fields, message",
    [
        ({"learning_rates": [0.1], "losses": [1.0, 2.0], "smoothed_losses": [1.0]}, "length"),
        ({"learning_rates": "0.1", "losses": [], "smoothed_losses": []}, "learning_rates"),
        ({"learning_rates": [], "losses": ["x"], "smoothed_losses": []}, "losses"),
        ({"losses": [], "smoothed_losses": []}, "learning_rates"),
    ],
)
def test_a_malformed_range_test_is_a_format_error(fields, message):
    payload = fmt._with_checksum(json.dumps(fields).encode())
    with pytest.raises(fmt.FormatError, match=message):
        fmt.decode_range_test(payload)


def test_a_range_test_s_unknown_rules_and_reasons_are_dropped():
    fields = {
        "learning_rates": [],
        "losses": [],
        "smoothed_losses": [],
        "suggestions": [{"rule": "magic", "learning_rate": 1.0}, {"rule": "steep"}, 3],
        "stopped": "bored",
    }
    decoded = fmt.decode_range_test(fmt._with_checksum(json.dumps(fields).encode()))
    assert decoded.suggestions == [fmt.Suggestion("steep", None, None)]
    assert decoded.stopped == "unknown"


def test_non_finite_numbers_in_documents_read_back_as_nan_or_none():
    change = fmt.Assignment(3, math.inf, math.nan, fmt.MANUAL, 1.0)
    decoded = fmt.decode_assignment(fmt.encode_document(change))
    assert math.isnan(decoded.previous) and math.isnan(decoded.value)
    config = fmt.ScheduleConfig("X", "float", {"rate": np.float32(np.nan), "steps": np.arange(2)})
    assert fmt.decode_schedule_config(fmt.encode_document(config)).config == {
        "rate": None,
        "steps": [0, 1],
    }


@SETTINGS
@given(name=st.text(min_size=1))
def test_every_name_has_a_tag_that_gives_it_back(name):
    assert fmt.name_of(fmt.tag_for(name), fmt.FORMAT_VERSION) == name
    assert fmt.name_of(name, 1) == name


def test_a_version_2_tag_outside_the_namespace_is_not_ours():
    for tag in ("learning_rate", "tb_lr_plugin/", "epoch_learning_rate"):
        with pytest.raises(fmt.FormatError, match="not under tb_lr_plugin/"):
            fmt.name_of(tag, 2)


def test_names_of_optimizers_and_hyperparameters():
    assert fmt.name_for(fmt.LEARNING_RATE, "adam") == "learning_rate/adam"
    assert fmt.name_for(fmt.OPTIMIZER, "", "beta_1") == "optimizer/beta_1"
    assert fmt.optimizer_of("schedule_config/adam", fmt.SCHEDULE) is None
    assert fmt.optimizer_of("schedule/a/b", fmt.SCHEDULE) == "a/b"


# -- Golden bytes. --


def test_chunk_layouts_of_both_versions_are_stable():
    contiguous = fmt.Chunk(
        np.arange(5, 8), np.float32([0.5, 0.25, 0.125]), np.array([1000.0, 1000.5, 1001.0])
    )
    explicit = fmt.Chunk(np.array([0, 10, 1000]), np.array([0.1, np.nan, 2.0]))
    assert fmt.encode_chunk(contiguous) == CONTIGUOUS_V2
    assert fmt.encode_chunk(explicit) == EXPLICIT_V2
    for payload, version in ((CONTIGUOUS_V1, 1), (CONTIGUOUS_V2, 2)):
        assert_same_chunk(fmt.decode_chunk(payload, version), contiguous)
    for payload, version in ((EXPLICIT_V1, 1), (EXPLICIT_V2, 2)):
        assert_same_chunk(fmt.decode_chunk(payload, version), explicit)


def test_document_bytes_are_stable():
    plateau = fmt.AssignmentSource.of_callback("ReduceLROnPlateau")
    change = fmt.Assignment(40, 0.1, 0.05, plateau, 1.5e9)
    assert fmt.encode_document(change) == ASSIGNMENT_V2
    assert fmt.decode_assignment(ASSIGNMENT_V2) == change


def test_metadata_of_version_2():
    content = fmt.create_metadata(fmt.KIND_SERIES, fmt.SAMPLED_ON_CHANGE).plugin_data.content
    assert content == b'{"kind": "series", "sampling": "change", "version": 2}'
    assert fmt.parse_metadata(content) == fmt.RecordMetadata("series", 2, "change")
    assert fmt.create_metadata(fmt.KIND_ASSIGNMENT).plugin_data.content == (
        b'{"kind": "assignment", "version": 2}'
    )


def test_a_layers_position_round_trips():
    content = fmt.create_metadata(fmt.KIND_SERIES, position=7).plugin_data.content
    assert fmt.parse_metadata(content).position == 7
    with pytest.raises(ValueError, match="position"):
        fmt.create_metadata(fmt.KIND_SERIES, position=-1)


# -- Version 1 documents, as the stored logs hold them. --


@pytest.mark.parametrize(
    ("phrase", "source"),
    [
        ("ReduceLROnPlateau", fmt.AssignmentSource.of_callback("ReduceLROnPlateau")),
        ("LearningRateScheduler", fmt.AssignmentSource.of_callback("LearningRateScheduler")),
        ("callback HalveAtEpoch2", fmt.AssignmentSource.of_callback("HalveAtEpoch2")),
        ("manual assign", fmt.MANUAL),
        ("unknown", fmt.UNKNOWN),
        ("callback ", fmt.UNKNOWN),
        (None, fmt.UNKNOWN),
        (7, fmt.UNKNOWN),
    ],
)
def test_version_1_sources_become_structured(phrase, source):
    payload = json.dumps({"step": 4, "previous": 0.1, "value": 0.05, "source": phrase})
    assert fmt.decode_assignment(payload.encode(), version=1).source == source


def test_version_1_documents_are_read_as_tolerantly_as_before():
    payload = b'{"step": 40, "previous": 0.1, "value": 1' + b"0" * 400 + b', "source": "x"}'
    decoded = fmt.decode_assignment(payload, version=1)
    assert decoded.step == 40 and math.isnan(decoded.value) and math.isnan(decoded.wall_time)
    config = fmt.decode_schedule_config(b'{"kind": "CosineDecay", "config": [1]}', version=1)
    assert config == fmt.ScheduleConfig("CosineDecay", None, {}, None)
    with pytest.raises(fmt.FormatError, match="no integer step"):
        fmt.decode_assignment(b'{"step": true, "value": 0.5}', version=1)
    with pytest.raises(fmt.FormatError, match="not a JSON object"):
        fmt.decode_schedule_config(b"[1, 2]", version=1)


# -- Versions. --


def test_a_newer_version_is_refused_with_a_clear_message():
    content = b'{"version": 3, "kind": "series"}'
    with pytest.raises(fmt.FormatError, match=r"format version 3.*upgrade tb-lr-plugin"):
        fmt.parse_metadata(content)


@pytest.mark.parametrize(
    "content",
    [
        b"\xff",
        b"[]",
        b'{"version": 0, "kind": "series"}',
        b'{"version": true, "kind": "series"}',
        b'{"version": 2, "kind": "scalars"}',
        b'{"version": 2, "kind": "series", "sampling": "sometimes"}',
        b'{"version": 2, "kind": "series", "position": -1}',
        b'{"version": 2, "kind": "series", "position": "3"}',
        b'{"version": 2, "kind": "series", "position": true}',
    ],
)
def test_foreign_metadata_is_refused(content):
    with pytest.raises(fmt.FormatError):
        fmt.parse_metadata(content)


# -- Checksums. --


@SETTINGS
@given(chunk=chunks(), data=st.data())
def test_any_flipped_byte_fails_the_checksum(chunk, data):
    payload = bytearray(fmt.encode_chunk(chunk))
    at = data.draw(st.integers(0, len(payload) - 1))
    payload[at] ^= data.draw(st.integers(1, 255))
    with pytest.raises(fmt.ChecksumError, match="checksum mismatch"):
        fmt.decode_chunk(bytes(payload))


def test_a_damaged_chunk_names_the_steps_it_held():
    payload = bytearray(CONTIGUOUS_V2)
    payload[-1] ^= 0x40  # The last value's most significant byte: 0.125 becomes 3.4e36.
    with pytest.raises(fmt.ChecksumError) as failure:
        fmt.decode_chunk(bytes(payload))
    assert failure.value.step_range == (5, 7)
    # Read as version 1 (no checksum), the same damage is served: why version 2 has one.
    assert fmt.decode_chunk(bytes(payload[4:]), version=1).values[-1] > 1e36
    payload = bytearray(EXPLICIT_V2)
    payload[-1] ^= 0x01
    with pytest.raises(fmt.ChecksumError) as failure:
        fmt.decode_chunk(bytes(payload))
    assert failure.value.step_range == (0, 1000)
    # A damaged header: no range can be trusted.
    payload = bytearray(CONTIGUOUS_V2)
    payload[6] ^= 0x01  # count
    with pytest.raises(fmt.ChecksumError) as failure:
        fmt.decode_chunk(bytes(payload))
    assert failure.value.step_range is None


@SETTINGS
@given(document=st.one_of(assignments, schedule_configs, range_tests()), data=st.data())
def test_a_flipped_byte_in_a_document_fails_its_checksum(document, data):
    payload = bytearray(fmt.encode_document(document))
    at = data.draw(st.integers(0, len(payload) - 1))
    payload[at] ^= data.draw(st.integers(1, 255))
    decode = {
        fmt.Assignment: fmt.decode_assignment,
        fmt.ScheduleConfig: fmt.decode_schedule_config,
        fmt.RangeTest: fmt.decode_range_test,
    }[type(document)]
    with pytest.raises(fmt.ChecksumError):
        decode(bytes(payload))


@pytest.mark.parametrize("payload", [b"", b"\x00\x01", CONTIGUOUS_V1])
def test_a_payload_without_its_checksum_is_refused(payload):
    with pytest.raises(fmt.ChecksumError):
        fmt.decode_chunk(payload)


def test_a_chunk_with_a_valid_checksum_but_a_bad_layout_is_a_format_error():
    body = bytearray(CONTIGUOUS_V1)
    body[0] = 2
    framed = zlib.crc32(bytes(body)).to_bytes(4, "little") + bytes(body)
    with pytest.raises(fmt.FormatError, match="unknown chunk layout 2") as failure:
        fmt.decode_chunk(framed)
    assert not isinstance(failure.value, fmt.ChecksumError)
    with pytest.raises(fmt.FormatError, match="expected"):
        fmt.decode_chunk(CONTIGUOUS_V2[4:-1], version=1)


# -- Encoding refuses what it cannot write faithfully. --


@pytest.mark.parametrize(
    ("steps", "values", "message"),
    [
        ([1, 1], [0.1, 0.1], "strictly increasing"),
        ([2, 1], [0.1, 0.1], "strictly increasing"),
        ([1, 2], [0.1], "one value per step"),
    ],
)
def test_invalid_points_are_refused(steps, values, message):
    with pytest.raises(ValueError, match=message):
        fmt.encode_chunk(fmt.Chunk(np.array(steps), np.float32(values)))


# -- The one JSON sanitiser. --


def test_json_safe_makes_every_value_json():
    unsupported = []
    safe = fmt.json_safe(
        {"a": (1, np.float32(0.5), np.inf), 2: np.array([[1.0, np.nan]]), "f": print},
        unsupported,
    )
    assert safe == {"a": [1, 0.5, None], "2": [[1.0, None]], "f": repr(print)}
    assert unsupported == [print]
    assert json.loads(json.dumps(safe, allow_nan=False)) == safe


def test_the_format_module_imports_neither_tensorflow_nor_keras():
    code = (
        "import sys, tb_lr_plugin.event_format; "
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras')))"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)
    assert result.returncode == 0, result.stderr
    assert result.stdout.strip() == "[]"
