"""The `range_test` route and the `range_test` flag of `runs`.

Over the real `find_learning_rate`'s run `range_test` of `training_logdir`,
and the hand-made runs of `range_test_documents` in `edge_logdir`: several
records (the latest readable wins), a damaged latest record, and nothing
readable at all. They are read by TensorBoard's Python data provider in this
process and by a real `tensorboard` process with each loader.
"""

from __future__ import annotations

import dataclasses

import pytest
from plugin.range_test_documents import SERVED
from plugin.test_tensorboard_process import TensorBoardProcess

from tb_lr_plugin import event_format


def expected_body(run: str) -> dict:
    """What the route answers for `run`: its served document, JSON-safe, each rule once."""
    test = SERVED[run]
    if test is None:
        fields = {
            **dict.fromkeys(("divergence", "stopped", "optimizer", "wall_time")),
            **{key: [] for key in ("learning_rates", "losses", "smoothed_losses", "suggestions")},
            "settings": {},
        }
    else:
        fields = dataclasses.asdict(test)
        fields["suggestions"] = [
            dataclasses.asdict(test.suggestion(rule)) for rule in event_format.RULES
        ]
    return {"run": run, **event_format.json_safe(fields)}


def test_the_range_test_find_learning_rate_wrote_is_served(server):
    runs = {run["name"]: run for run in server.json("runs")["runs"]}
    assert runs["range_test"]["range_test"] is True and runs["range_test"]["series"] == []
    assert not any(run["range_test"] for name, run in runs.items() if name != "range_test")
    body = server.json("range_test", run="range_test")
    assert body["problems"] == [] and body["optimizer"] == "SGD"
    rates = body["learning_rates"]
    assert 1 < len(rates) <= 40 == body["settings"]["num_steps"]
    assert len(body["losses"]) == len(body["smoothed_losses"]) == len(rates)
    assert rates[0] == pytest.approx(1e-4, rel=1e-6) and rates == sorted(rates)
    assert body["stopped"] in event_format.STOP_REASONS
    assert [s["rule"] for s in body["suggestions"]] == list(event_format.RULES)
    for suggestion in body["suggestions"]:
        # A rate within the sweep, or why there is none.
        rate = suggestion["learning_rate"]
        assert (rate is None) != (suggestion["reason"] is None), suggestion
        assert rate is None or rates[0] / 10 <= rate <= rates[-1], suggestion


def test_runs_says_which_runs_have_a_range_test(edge_server):
    runs = {run["name"]: run for run in edge_server.json("runs")["runs"]}
    for run in SERVED:
        # Even one whose only record is damaged: the route says what is wrong with it.
        assert runs[run]["range_test"] is True, run
        assert runs[run]["series"] == [] and runs[run]["schedule"] is False
    assert runs["damaged"]["range_test"] is False and runs["epoch_only"]["range_test"] is False


def test_the_latest_readable_range_test_is_served(edge_server):
    body = edge_server.json("range_test", run="range_test")
    assert body == {**expected_body("range_test"), "problems": []}
    assert body["optimizer"] == "SGD"  # The later of the two sweeps.
    # The last step's loss was NaN: JSON null, as every route writes it.
    assert body["losses"][-1] is None and body["smoothed_losses"][-1] is None
    assert [s["rule"] for s in body["suggestions"]] == list(event_format.RULES)
    assert body["suggestions"][3] == {
        "rule": "steep",
        "learning_rate": None,
        "reason": "the loss never fell by 1%",
    }


def test_a_damaged_range_test_is_named_and_the_readable_one_served(edge_server):
    body = edge_server.json("range_test", run="range_test_damaged")
    (problem,) = body.pop("problems")
    assert "checksum mismatch" in problem["message"] and problem["step_range"] is None
    assert body == expected_body("range_test_damaged")
    # A rule the record lacks is still listed, with why it has no rate.
    steep = body["suggestions"][3]
    assert steep == {"rule": "steep", "learning_rate": None, "reason": "not recorded"}


def test_an_unreadable_range_test_is_empty_with_its_problem(edge_server):
    body = edge_server.json("range_test", run="range_test_unreadable")
    (problem,) = body.pop("problems")
    assert "checksum mismatch" in problem["message"]
    assert body == expected_body("range_test_unreadable")


@pytest.mark.parametrize("run", ["epoch_only", "damaged", "nope"])
def test_a_run_without_a_range_test_is_404_saying_how_to_make_one(edge_server, run):
    response = edge_server.get("range_test", run=run)
    assert response.status_code == 404
    error = response.get_json()["error"]
    if run == "nope":
        assert "no run 'nope'" in error
    else:
        assert f"run {run!r} has no range test" in error
        assert "tb_lr_plugin.find_learning_rate(" in error and "log_dir=" in error


@pytest.mark.slow
@pytest.mark.parametrize("load_fast", ["false", "true"], ids=["python_loader", "rust_loader"])
def test_a_real_tensorboard_serves_the_range_tests(
    edge_logdir, edge_server, tensorboard_environment, tmp_path, load_fast
):
    process = TensorBoardProcess(
        edge_logdir, load_fast, tensorboard_environment, tmp_path / "tensorboard.log"
    )
    try:
        process.wait_for(
            lambda: (
                process.json("/data/plugin/lr/range_test", run="range_test")["optimizer"] == "SGD"
            ),
            "the range tests are loaded",
        )
        for run in SERVED:
            served = process.json("/data/plugin/lr/range_test", run=run)
            answers_as = run
            if load_fast == "true" and run == "range_test_damaged":
                # The Rust loader keeps one record per step of a tag (a later one
                # at a step it has seen replaces what it holds from there on, as
                # for a restarted run), and every range test is written at step
                # 0: the damaged latest record is all it has.
                answers_as = "range_test_unreadable"
            assert served == {**edge_server.json("range_test", run=answers_as), "run": run}
    finally:
        process.stop()
