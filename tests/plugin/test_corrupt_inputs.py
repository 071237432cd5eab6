"""Damaged and foreign inputs: served as far as readable, the rest named, never a 5xx.

One logdir holds a run per kind of damage (`RUNS`). Each run but the
metadata cases has the same 40 steps of `learning_rate` in 4 records of 10
steps, so what a loader lost is counted in steps. They are read three ways:
through TensorBoard's Python data provider in this process (`PluginServer`,
as the other tests here), and by a real `tensorboard` process with
`--load_fast=false` and with `--load_fast=true` (the Rust data server).

The loaders differ where the event file itself is damaged, and the tests
pin what each one does (docs/RELIABILITY.md explains the figures):

* a record whose data CRC fails: the Python loader stops reading that file
  there; the Rust loader does not check the data CRC and hands the record
  on, so the plugin sees a damaged chunk, skips it and names it;
* a value byte flipped and the record's CRC recomputed (a faulty copy):
  both loaders hand the record on; the chunk's own checksum fails, so its
  steps are left out and named as a problem with their step range, never
  served with the damaged value;
* a record whose length CRC fails: both stop reading the file there;
* a file cut mid-record (a crash while writing): both read every whole
  record and wait for the rest, as for a file still being written.
"""

from __future__ import annotations

import json
import math
import zlib

import numpy as np
import pytest
from plugin.test_tensorboard_process import TensorBoardProcess
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
from tensorboard.compat.tensorflow_stub.pywrap_tensorflow import masked_crc32c

from tb_lr_plugin import event_format

SERIES = event_format.KIND_SERIES
STEPS = 40
PER_RECORD = 10

# run -> steps of `learning_rate` served by (python loader, rust loader);
# `None`: no such series (the run or the tag is not listed).
SERVED_STEPS = {
    "intact": (40, 40),
    "truncated": (30, 30),
    "bad_data_crc": (10, 30),
    "bad_length_crc": (10, 10),
    "zero_beside_good": (40, 40),
    "garbage_beside_good": (40, 40),
    "other_plugins": (40, 40),
    "bad_chunk_layout": (30, 30),
    "not_a_string_tensor": (30, 30),
    "newer_tag": (None, None),
    "user_scalars_beside_ours": (40, 40),
    "value_byte_flipped": (30, 30),
}
# Runs that must not be listed at all (nothing of this plugin is readable).
UNLISTED = ("zero_byte", "garbage_only", "only_other_plugins", "newer_run", "bad_metadata")
# run -> words every loader's answer must name (in `runs` or in the series' `problems`).
RUN_PROBLEMS = {"newer_run": "upgrade tb-lr-plugin", "newer_tag": "upgrade tb-lr-plugin"}
SERIES_PROBLEMS = {
    "bad_chunk_layout": "unknown chunk layout",
    "not_a_string_tensor": "string",
    "value_byte_flipped": "checksum mismatch",
}
# run -> the step range its series' problem names.
PROBLEM_STEPS = {"value_byte_flipped": [10, 19]}


def _rates(first: int) -> list[float]:
    return [0.1 + 0.001 * step for step in range(first, first + PER_RECORD)]


def _good_run(raw_records, run_dir, second: bytes | None = None) -> bytes:
    """Writes the 40 steps of `learning_rate`; returns the payload of the second record.

    Args:
        second: Written instead of the second record's payload (steps 10-19).
    """
    chunk, write_records = raw_records
    payloads = [
        chunk(range(first, first + PER_RECORD), _rates(first))
        for first in range(0, STEPS, PER_RECORD)
    ]
    written = list(payloads)
    if second is not None:
        written[1] = second
    records = [("learning_rate", PER_RECORD * i, p, SERIES) for i, p in enumerate(written)]
    write_records(run_dir, records)
    return payloads[1]


def _checksummed(body: bytes) -> bytes:
    """A version-2 payload around `body`: its CRC-32 first (docs/FORMAT.md)."""
    return zlib.crc32(body).to_bytes(4, "little") + body


def _event_file(run_dir):
    (path,) = run_dir.glob("events.out.tfevents.*")
    return path


def _record_offsets(data: bytes) -> list[int]:
    """Where each TFRecord (u64 length, u32 length CRC, data, u32 data CRC) starts."""
    offsets, offset = [], 0
    while offset < len(data):
        offsets.append(offset)
        offset += 16 + int.from_bytes(data[offset : offset + 8], "little")
    return offsets


def _event(tag, step, wall_time, *, metadata=None, simple_value=None, tensor=None):
    value = summary_pb2.Summary.Value(tag=tag, metadata=metadata)
    if simple_value is not None:
        value.simple_value = simple_value
    if tensor is not None:
        value.tensor.CopyFrom(tensor)
    return event_pb2.Event(
        wall_time=wall_time, step=step, summary=summary_pb2.Summary(value=[value])
    )


def _chunk_events(chunk, second: tensor_pb2.TensorProto | None = None) -> list:
    """The events `_good_run` writes, with `second` as the second record's tensor."""
    metadata = event_format.create_metadata(SERIES, sampling=event_format.SAMPLED_EVERY_STEP)
    tensors = [
        tensor_pb2.TensorProto(
            dtype=types_pb2.DT_STRING,
            string_val=[chunk(range(first, first + PER_RECORD), _rates(first))],
        )
        for first in range(0, STEPS, PER_RECORD)
    ]
    if second is not None:
        tensors[1] = second
    return [
        _event(
            event_format.tag_for("learning_rate"),
            PER_RECORD * i,
            1000.0 + i,
            metadata=metadata,
            tensor=tensor,
        )
        for i, tensor in enumerate(tensors)
    ]


def _write_events(run_dir, events) -> None:
    from tensorboard.summary.writer.event_file_writer import EventFileWriter

    writer = EventFileWriter(str(run_dir))
    for event in events:
        writer.add_event(event)
    writer.close()


def _plugin_metadata(plugin_name: str) -> summary_pb2.SummaryMetadata:
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(plugin_name=plugin_name)
    )


@pytest.fixture(scope="module")
def corrupt_logdir(tmp_path_factory, raw_records):
    """A run per case of `SERVED_STEPS` and `UNLISTED`."""
    chunk, write_records = raw_records
    logdir = tmp_path_factory.mktemp("corrupt") / "logs"
    rng = np.random.default_rng(7)
    _good_run(raw_records, logdir / "intact")

    # A crash while writing: the file ends 20 bytes into its last record.
    _good_run(raw_records, logdir / "truncated")
    path = _event_file(logdir / "truncated")
    path.write_bytes(path.read_bytes()[:-20])

    # A flipped bit in the second chunk's `count`: its record's data CRC fails.
    second = _good_run(raw_records, logdir / "bad_data_crc")
    path = _event_file(logdir / "bad_data_crc")
    data = bytearray(path.read_bytes())
    data[data.index(second) + 2] ^= 0x01
    path.write_bytes(bytes(data))

    # A flipped bit in the length of the record holding steps 10-19.
    _good_run(raw_records, logdir / "bad_length_crc")
    path = _event_file(logdir / "bad_length_crc")
    data = bytearray(path.read_bytes())
    data[_record_offsets(bytes(data))[2]] ^= 0x01  # Record 0 is the file-version event.
    path.write_bytes(bytes(data))

    (logdir / "zero_byte").mkdir(parents=True)
    (logdir / "zero_byte" / "events.out.tfevents.1000.host.1.v2").write_bytes(b"")
    _good_run(raw_records, logdir / "zero_beside_good")
    (logdir / "zero_beside_good" / "events.out.tfevents.2000.host.1.v2").write_bytes(b"")
    (logdir / "garbage_only").mkdir()
    (logdir / "garbage_only" / "events.out.tfevents.1000.host.1.v2").write_bytes(rng.bytes(4096))
    _good_run(raw_records, logdir / "garbage_beside_good")
    garbage = logdir / "garbage_beside_good" / "events.out.tfevents.2000.host.1.v2"
    garbage.write_bytes(rng.bytes(4096))

    # Other plugins' data beside ours (a scalar, an image-plugin tag, a text tensor).
    text = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[b"<b>hi</b>"])
    foreign = [
        _event("epoch_loss", step, 900.0 + step, simple_value=1.0 / (step + 1)) for step in range(5)
    ] + [
        _event("images/x", 0, 950.0, metadata=_plugin_metadata("images"), tensor=text),
        _event("notes", 0, 951.0, metadata=_plugin_metadata("text"), tensor=text),
    ]
    _write_events(logdir / "other_plugins", foreign)
    _good_run(raw_records, logdir / "other_plugins")
    _write_events(logdir / "only_other_plugins", foreign)

    # The user's own `tf.summary.scalar("learning_rate")` and `("epoch")` in the
    # same run, written first: TensorBoard gives a tag one plugin, and ours are
    # under their own namespace, so both are served. One file: a fixed order.
    epoch = tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[chunk([0], [0.0])])
    _write_events(
        logdir / "user_scalars_beside_ours",
        [
            _event("learning_rate", 0, 900.0, simple_value=0.1),
            _event("epoch", 0, 900.0, simple_value=0.0),
            *_chunk_events(chunk),
            _event(
                event_format.tag_for("epoch"),
                0,
                2000.0,
                metadata=event_format.create_metadata(SERIES, sampling="change"),
                tensor=epoch,
            ),
        ],
    )

    # One value byte of the second chunk flipped and the record's data CRC
    # recomputed, as a faulty copy leaves it: every loader reads the record.
    second = _good_run(raw_records, logdir / "value_byte_flipped")
    path = _event_file(logdir / "value_byte_flipped")
    data = bytearray(path.read_bytes())
    at = data.index(second)
    data[at + len(second) - 1] ^= 0x40  # The last value's most significant byte.
    record = max(offset for offset in _record_offsets(bytes(data)) if offset < at)
    length = int.from_bytes(data[record : record + 8], "little")
    body = bytes(data[record + 12 : record + 12 + length])
    data[record + 12 + length : record + 16 + length] = masked_crc32c(body).to_bytes(4, "little")
    path.write_bytes(bytes(data))

    # A newer writer: one tag of a newer format version, or every tag of a run.
    future = {"version": event_format.FORMAT_VERSION + 1}
    write_records(
        logdir / "newer_tag",
        [
            ("learning_rate", 0, chunk(range(STEPS), _rates(0) * 4), SERIES, "step", future),
            ("epoch", 0, chunk([0, 20], [0.0, 1.0]), SERIES, event_format.SAMPLED_ON_CHANGE),
        ],
    )
    write_records(
        logdir / "newer_run",
        [("learning_rate", 0, chunk(range(STEPS), _rates(0) * 4), SERIES, "step", future)],
    )

    # Readable records of this plugin that the reader cannot decode: a chunk
    # layout from the future, and a float tensor, each as the second record.
    body = bytearray(chunk(range(PER_RECORD, 2 * PER_RECORD), _rates(PER_RECORD))[4:])
    body[0] = 2
    _good_run(raw_records, logdir / "bad_chunk_layout", second=_checksummed(bytes(body)))
    floats = tensor_pb2.TensorProto(dtype=types_pb2.DT_FLOAT, float_val=[0.5])
    _write_events(logdir / "not_a_string_tensor", _chunk_events(chunk, second=floats))
    bad = _plugin_metadata(event_format.PLUGIN_NAME)
    bad.plugin_data.content = b"\xff not json"
    bad.data_class = summary_pb2.DATA_CLASS_TENSOR
    _write_events(
        logdir / "bad_metadata",
        [_event(event_format.tag_for("learning_rate"), 0, 900.0, metadata=bad)],
    )

    # A schedule whose description is not JSON, and an assignment too large for a float.
    write_records(
        logdir / "bad_documents",
        [
            ("learning_rate", 0, chunk(range(4), [0.1, 0.1, 0.05, 0.05]), SERIES),
            ("schedule", 0, chunk(range(4), [0.1] * 4), event_format.KIND_SCHEDULE),
            ("schedule_config", 0, _checksummed(b"{not json"), event_format.KIND_SCHEDULE_CONFIG),
            (
                "assignment",
                2,
                _checksummed(
                    b'{"step": 2, "value": 1' + b"0" * 400 + b', "source": {"kind": "manual"}}'
                ),
                event_format.KIND_ASSIGNMENT,
            ),
        ],
    )
    return logdir


def _check_served(answer, loader_index: int) -> None:
    """Asserts `SERVED_STEPS` etc. against `answer(route, **params) -> (status, body)`."""
    status, listing = answer("runs")
    assert status == 200
    listed = {run["name"]: run for run in listing["runs"]}
    assert not set(UNLISTED) & set(listed), listed
    messages = [problem["message"] for problem in listing["problems"]]
    problems = " | ".join(messages)
    for run, words in RUN_PROBLEMS.items():
        assert any(run in p and words in p for p in messages), problems
    assert "bad_metadata" in problems  # Named, whichever loader hit it.

    for run, served in SERVED_STEPS.items():
        steps = served[loader_index]
        status, body = answer("series", run=run, name="learning_rate")
        if steps is None:
            assert status == 404 and set(body) == {"error"}, (run, body)
            continue
        assert status == 200, (run, body)
        # Every point served is a point written, at its step, with its value.
        assert body["total"] == steps, (run, body["steps"])
        assert all(
            math.isclose(value, float(np.float32(0.1 + 0.001 * step)), rel_tol=1e-7)
            for step, value in zip(body["steps"], body["values"], strict=True)
        ), run
        assert body["steps"][:PER_RECORD] == list(range(PER_RECORD)), run
        named = SERIES_PROBLEMS.get(run)
        if named is not None:
            (problem,) = body["problems"]
            assert named in problem["message"], problem
            assert problem["step_range"] == PROBLEM_STEPS.get(run), problem
        # A chunk the loader handed on but the reader could not decode is named.
        if run == "bad_data_crc" and steps == 30:
            (problem,) = body["problems"]
            assert "step 10" in problem["message"], problem

    # The rest of a partly readable run is served.
    status, body = answer("series", run="newer_tag", name="epoch")
    assert status == 200 and body["values"] == [0.0, 1.0]
    status, body = answer("series", run="user_scalars_beside_ours", name="epoch")
    assert status == 200 and body["steps"] == [0] and body["sampling"] == "change"

    status, body = answer("schedule", run="bad_documents")
    assert status == 200 and body["steps"] == [0, 1, 2, 3] and body["kind"] is None
    (problem,) = body["problems"]
    assert "not JSON" in problem["message"]
    status, body = answer("deviations", run="bad_documents")
    assert status == 200 and [e["step"] for e in body["events"]] == [2]
    # The assignment's value is unusable.
    assert body["events"][0]["source"] == {"kind": "unknown", "callback": None}
    for route, params in (
        ("export", {"format": "csv", "name": "learning_rate"}),
        ("deviations", {}),
        ("schedule", {}),
    ):
        for run in (*SERVED_STEPS, *UNLISTED, "bad_documents"):
            status, body = answer(route, run=run, **params)
            assert status in (200, 404), (route, run, status, body)


def test_the_python_data_provider_serves_what_is_readable(make_server, corrupt_logdir):
    server = make_server(corrupt_logdir)

    def answer(route, **params):
        response = server.get(route, **params)
        body = response.get_data(as_text=True)
        return response.status_code, json.loads(body) if response.mimetype.endswith("json") else {}

    _check_served(answer, loader_index=0)


@pytest.fixture(scope="module", params=["false", "true"], ids=["python_loader", "rust_loader"])
def corrupt_tensorboard(request, corrupt_logdir, tensorboard_environment, tmp_path_factory):
    log_path = tmp_path_factory.mktemp("tensorboard") / "tensorboard.log"
    process = TensorBoardProcess(corrupt_logdir, request.param, tensorboard_environment, log_path)
    try:
        # Loaded: the last run written is listed with its whole series.
        process.wait_for(
            lambda: (
                process.json("/data/plugin/lr/series", run="intact", name="learning_rate")["total"]
                == STEPS
                and "bad_documents" in str(process.json("/data/plugin/lr/runs"))
            ),
            "the logdir is loaded",
        )
        yield request.param, process
    finally:
        process.stop()


@pytest.mark.slow
def test_a_real_tensorboard_serves_what_is_readable(corrupt_tensorboard):
    load_fast, process = corrupt_tensorboard

    def answer(route, **params):
        status, content_type, body = process.get(f"/data/plugin/lr/{route}", **params)
        return status, json.loads(body) if "json" in content_type else {}

    _check_served(answer, loader_index=1 if load_fast == "true" else 0)
    # TensorBoard itself says which file it could not read (the Rust loader logs it).
    if load_fast == "true":
        assert "bad_length_crc" in process.output()
