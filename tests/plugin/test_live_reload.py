"""New data shows on TensorBoard's next reload, without a restart."""

from __future__ import annotations

import shutil
import time

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
