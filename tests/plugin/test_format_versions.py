"""Both format versions, read by a real `tensorboard` with each loader.

The logdir (`write_format_logs.py`) holds the stored version-1 logs as
written before version 2, a version-1 run resumed under version 2, and a run
where the user logs their own `learning_rate` and `epoch` scalars beside the
logger's series. Rates are checked against the real Keras schedule object.
"""

from __future__ import annotations

import json
import urllib.parse
import urllib.request

import numpy as np
import pytest
from browser import harness

from tb_lr_plugin import event_format

pytestmark = pytest.mark.slow

RUNS = ("cosine", "manual", "own_scalars", "plateau", "resumed")


@pytest.fixture(scope="module")
def format_logdir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("formats") / "logs"
    harness.write_logs("plugin/write_format_logs.py", logdir)
    return logdir


@pytest.fixture(scope="module")
def expected_rates(format_logdir) -> np.ndarray:
    return np.array(json.loads((format_logdir.parent / "expected_rates.json").read_text()))


@pytest.fixture(scope="module", params=["false", "true"], ids=["python_loader", "rust_loader"])
def board(request, format_logdir):
    with harness.TensorBoardProcess(format_logdir, f"--load_fast={request.param}") as board:
        board.wait_for_runs(len(RUNS))
        for run, total in (("cosine", 60), ("resumed", 80), ("own_scalars", 60)):
            board.wait_for_series(run, "learning_rate", total)
        yield board


def get(board, path: str, **params):
    url = f"{board.url}{path}?{urllib.parse.urlencode(params)}"
    with urllib.request.urlopen(url, timeout=30) as response:
        return json.load(response)


def assert_rates(values, expected) -> None:
    values, expected = np.array(values, np.float64), np.asarray(expected, np.float64)
    assert values.shape == expected.shape
    assert event_format.rates_agree(values, expected, peak=expected.max()).all()


def test_version_1_logs_are_served_as_written(board, expected_rates):
    listing = board.get_json("runs")
    assert [run["name"] for run in listing["runs"]] == list(RUNS)
    assert listing["problems"] == []
    cosine = board.get_json("series", run="cosine", name="learning_rate")
    assert cosine["steps"] == list(range(60)) and cosine["problems"] == []
    assert_rates(cosine["values"], expected_rates[:60])
    gate = board.get_json("series", run="cosine", name="layers/sequential/gate/gate_mean")
    assert gate["total"] == 60
    epoch = board.get_json("series", run="cosine", name="epoch")
    assert (epoch["steps"], epoch["values"], epoch["sampling"]) == (
        [0, 20, 40],
        [0, 1, 2],
        "change",
    )
    beta = board.get_json("series", run="cosine", name="optimizer/beta_1")
    assert np.float32(beta["values"][0]) == np.float32(0.9)
    schedule = board.get_json("schedule", run="cosine")
    assert (schedule["kind"], schedule["source"], schedule["total_steps"]) == (
        "CosineDecay",
        "LearningRateSchedule",
        60,
    )
    assert schedule["config"]["decay_steps"] == 60
    assert_rates(schedule["values"], expected_rates[:60])


def test_version_1_assignment_sources_come_out_structured(board):
    plateau = board.get_json("deviations", run="plateau")["events"]
    # At step 40 ReduceLROnPlateau halved the rate, then a callback set 0.025:
    # the last assignment at a step is the one in force.
    assert [(e["step"], e["source"]) for e in plateau] == [
        (40, {"kind": "callback", "callback": "HalveAtEpoch2"}),
        (60, {"kind": "callback", "callback": "ReduceLROnPlateau"}),
    ]
    assert [np.float32(e["applied"]) for e in plateau] == [np.float32(0.025), np.float32(0.0125)]
    (manual,) = board.get_json("deviations", run="manual")["events"]
    assert (manual["step"], manual["source"]) == (30, {"kind": "manual", "callback": None})


def test_a_version_1_run_resumed_under_version_2_is_one_series(board, expected_rates):
    (resumed,) = [run for run in board.get_json("runs")["runs"] if run["name"] == "resumed"]
    assert resumed["series"].count("learning_rate") == 1
    assert resumed["series"].count("epoch") == 1
    rates = board.get_json("series", run="resumed", name="learning_rate")
    # Steps 0-59 from version 1, 40-79 from version 2: one point per step.
    assert rates["steps"] == list(range(80)) and rates["problems"] == []
    assert_rates(rates["values"], expected_rates)
    epoch = board.get_json("series", run="resumed", name="epoch")
    assert epoch["steps"] == [0, 20, 40, 60] and epoch["values"] == [0, 1, 2, 3]
    schedule = board.get_json("schedule", run="resumed")
    assert schedule["steps"] == list(range(80)) and schedule["total_steps"] == 80
    assert_rates(schedule["values"], expected_rates)
    assert board.get_json("deviations", run="resumed")["events"] == []


def test_the_users_own_scalars_and_the_loggers_series_coexist(board):
    rates = board.get_json("series", run="own_scalars", name="learning_rate")
    assert rates["steps"] == list(range(60))
    assert all(np.float32(value) == np.float32(0.1) for value in rates["values"])
    epoch = board.get_json("series", run="own_scalars", name="epoch")
    assert (epoch["steps"], epoch["sampling"]) == ([0, 20, 40], "change")
    # The scalars dashboard shows the user's own, and none of ours.
    tags = get(board, "/data/plugin/scalars/tags")["own_scalars"]
    assert sorted(tags) == ["epoch", "learning_rate"]
    points = get(board, "/data/plugin/scalars/scalars", run="own_scalars", tag="learning_rate")
    assert [(step, np.float32(value)) for _, step, value in points] == [
        (epoch, np.float32(0.1)) for epoch in range(3)
    ]
