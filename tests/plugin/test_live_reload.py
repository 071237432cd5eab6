"""New data shows on TensorBoard's next reload, without a restart."""

from __future__ import annotations

import shutil
import time

import numpy as np

from tb_lr_plugin import event_format


def test_a_growing_run_and_a_new_run_appear_on_reload(
    make_server, training_logdir, tmp_path, raw_records
):
    chunk, write_records = raw_records
    logdir = tmp_path / "logs"
    shutil.copytree(training_logdir / "manual", logdir / "manual")
    server = make_server(logdir)
    assert server.json("series", run="manual", name="learning_rate")["total"] == 100
    assert len(server.json("deviations", run="manual")["events"]) == 1

    # Training goes on: 50 more steps, at a rate the schedule does not have.
    steps = range(100, 150)
    write_records(
        logdir / "manual",
        [
            ("learning_rate", 100, chunk(steps, [0.07] * 50), event_format.KIND_SERIES),
            ("schedule", 100, chunk(steps, [0.1] * 50), event_format.KIND_SCHEDULE),
        ],
        wall_time=time.time(),
    )
    write_records(
        logdir / "fresh", [("epoch", 0, chunk([0], [0.0]), event_format.KIND_SERIES, "change")]
    )
    # Before the reload, the cached answer is still the one served.
    assert server.json("series", run="manual", name="learning_rate")["total"] == 100
    server.reload()

    body = server.json("series", run="manual", name="learning_rate")
    assert body["total"] == 150 and body["steps"][-1] == 149
    events = server.json("deviations", run="manual")["events"]
    assert [(e["step"], e["end_step"]) for e in events] == [(30, 59), (100, 149)]
    assert [run["name"] for run in server.json("runs")["runs"]] == ["fresh", "manual"]


def test_an_older_event_file_of_a_run_keeps_being_read(
    make_server, tmp_path, raw_records, appended_records
):
    # The logger's file and keras.callbacks.TensorBoard's file share the run
    # `train`; whichever was created first is not the run's newest file, which
    # TensorBoard's Python loader alone polls unless --reload_multifile is on.
    chunk, write_records = raw_records
    run_dir = tmp_path / "logs" / "train"
    write_records(run_dir, [("learning_rate", 0, chunk(range(10), [0.1] * 10), "series")])
    (ours,) = run_dir.iterdir()
    newer_name = ours.name.replace(".tfevents.", ".tfevents.9", 1)  # Sorts after ours.
    write_records(run_dir / "newer", [("epoch", 0, chunk([0], [0.0]), "series", "change")])
    (run_dir / "newer" / next((run_dir / "newer").iterdir()).name).rename(run_dir / newer_name)
    (run_dir / "newer").rmdir()
    server = make_server(tmp_path / "logs")
    assert server.flags.reload_multifile is True
    # A user's explicit choice is kept (and shows what the default would do).
    last_file_only = make_server(tmp_path / "logs", "--reload_multifile=false")
    for each in (server, last_file_only):
        assert each.json("series", run="train", name="learning_rate")["total"] == 10

    # Training goes on: the logger appends to its (older) file.
    with open(ours, "ab") as file:
        appended_records(file, [("learning_rate", 10, chunk(range(10, 20), [0.05] * 10), "series")])
    server.reload()
    last_file_only.reload()
    body = server.json("series", run="train", name="learning_rate")
    assert body["total"] == 20 and body["values"][-1] == float(np.float32(0.05))
    assert last_file_only.json("series", run="train", name="learning_rate")["total"] == 10
