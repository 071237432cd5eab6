"""Every route of the HTTP API over logs written by the real writer."""

from __future__ import annotations

import base64
import csv
import io
import math

import numpy as np
import pytest

from tb_lr_plugin import event_format


def as_json_values(values: np.ndarray) -> list:
    return [v if math.isfinite(v) else None for v in np.asarray(values, np.float64).tolist()]


def test_runs_lists_every_run_with_its_series_and_schedule(server):
    body = server.json("runs")
    runs = {run["name"]: run for run in body["runs"]}
    assert sorted(runs) == [
        "cosine",
        "in_graph",
        "manual",
        "plateau",
        "preview",
        "range_test",
        "ratios",
        "scheduler",
        "two_optimizers",
    ]
    assert body["problems"] == []
    cosine = runs["cosine"]
    assert cosine["series"][:2] == ["learning_rate", "epoch"]
    assert "optimizer/beta_1" in cosine["series"]
    assert cosine["schedule"] is True
    assert cosine["optimizers"] == []
    assert runs["preview"] == {
        "name": "preview",
        "series": [],
        "schedule": True,
        "optimizers": [],
        "range_test": False,
    }
    two = runs["two_optimizers"]
    assert two["optimizers"] == ["biases", "kernels"]
    assert two["series"][:2] == ["learning_rate/biases", "learning_rate/kernels"]


def test_series_without_max_points_is_every_point(server):
    body = server.json("series", run="plateau", name="learning_rate")
    full = server.read_back("plateau", "learning_rate")
    assert body["run"] == "plateau" and body["name"] == "learning_rate"
    assert body["sampling"] == "step"
    assert body["steps"] == list(range(200))
    assert body["values"] == full.values.tolist()
    assert body["wall_times"] == full.wall_times.tolist()
    assert body["total"] == 200 and body["downsampled"] is False
    assert body["step_range"] == [0, 199]


def test_series_values_are_the_applied_rates(server):
    body = server.json("series", run="plateau", name="learning_rate")
    rates = np.float32(body["values"])
    expected = np.float32([0.1] * 100 + [0.05] * 50 + [0.025] * 50)
    np.testing.assert_array_equal(rates, expected)


def test_series_with_max_points_keeps_every_drop(server):
    body = server.json("series", run="plateau", name="learning_rate", max_points=20)
    assert body["downsampled"] is True and body["total"] == 200
    assert len(body["steps"]) <= 20
    kept = dict(zip(body["steps"], body["values"], strict=True))
    # Both sides of each ReduceLROnPlateau drop, at their exact steps.
    for before, after in ((99, 100), (149, 150)):
        assert before in kept and after in kept
        assert kept[after] == pytest.approx(kept[before] / 2)


def test_series_window_is_full_resolution(server):
    body = server.json("series", run="cosine", name="learning_rate", start=10, end=40)
    full = server.read_back("cosine", "learning_rate")
    assert body["steps"] == list(range(10, 41))
    assert body["values"] == full.values[10:41].tolist()
    assert body["total"] == 31 and body["downsampled"] is False
    assert body["step_range"] == [0, 149]


def test_series_window_with_max_points_is_full_resolution_when_it_fits(server):
    fits = server.json("series", run="cosine", name="learning_rate", start=0, end=19, max_points=20)
    assert fits["steps"] == list(range(20)) and fits["downsampled"] is False
    over = server.json("series", run="cosine", name="learning_rate", start=0, end=99, max_points=20)
    assert over["downsampled"] is True and over["total"] == 100
    assert len(over["steps"]) <= 20 and over["steps"][0] == 0 and over["steps"][-1] == 99


def test_series_window_past_the_end_is_empty(server):
    body = server.json("series", run="cosine", name="learning_rate", start=10_000)
    assert body["steps"] == [] and body["values"] == [] and body["total"] == 0


def test_change_sampled_series_window_starts_with_the_value_in_force(server):
    body = server.json("series", run="plateau", name="epoch", start=60, end=120)
    assert body["sampling"] == "change"
    # Epoch 1 began at step 50 and is in force at step 60; epoch 2 begins at 100.
    assert body["steps"] == [50, 100]
    assert body["values"] == [1.0, 2.0]


def test_schedule_curve_is_readable_as_a_series(server):
    body = server.json("series", run="preview", name="schedule")
    assert body["total"] == 100
    # PiecewiseConstantDecay([50], ...): 0.1 up to step 50 included.
    assert np.float32(body["values"][50]) == np.float32(0.1)
    assert np.float32(body["values"][51]) == np.float32(0.01)


def test_series_of_several_optimizers(server):
    biases = server.json("series", run="two_optimizers", name="learning_rate/biases")
    kernels = server.json("series", run="two_optimizers", name="learning_rate/kernels")
    assert biases["total"] == kernels["total"] == 100
    np.testing.assert_array_equal(
        np.float32(biases["values"]), np.float32([0.1] * 61 + [0.01] * 39)
    )
    np.testing.assert_array_equal(
        np.float32(kernels["values"]), np.float32([0.001] * 50 + [0.0005] * 50)
    )


def test_non_finite_values_are_null(edge_server):
    server = edge_server
    body = server.json("series", run="non_finite", name="learning_rate")
    rate = float(np.float32(0.1))
    assert body["values"] == [rate, None, None, None, rate, rate]


def test_unreadable_records_are_skipped_and_reported(edge_server):
    server = edge_server
    runs = server.json("runs")
    by_name = {run["name"]: run for run in runs["runs"]}
    # A tag from a newer format is left out, with a note; the rest of the run is served.
    assert by_name["newer_format"]["series"] == ["epoch"]
    assert any("newer_format" in problem["message"] for problem in runs["problems"])
    body = server.json("series", run="corrupt", name="learning_rate")
    assert body["steps"] == [5, 6]


def test_records_damaged_after_writing_are_left_out_and_named(edge_server):
    body = edge_server.json("series", run="damaged", name="learning_rate")
    assert body["steps"] == [0, 1, 2, 3, 4]  # 0.05 at steps 5-9 is never served.
    (problem,) = body["problems"]
    assert problem["step_range"] == [5, 9] and "checksum mismatch" in problem["message"]
    schedule = edge_server.json("schedule", run="damaged")
    assert schedule["kind"] is None and schedule["total"] == 10
    assert ["checksum mismatch" in p["message"] for p in schedule["problems"]] == [True]
    # The damaged assignment is not used: nothing deviates among the readable steps.
    assert edge_server.json("deviations", run="damaged")["events"] == []


def test_schedule_describes_the_configured_curve(server):
    body = server.json("schedule", run="preview")
    assert body["run"] == "preview" and body["optimizer"] is None
    assert body["series"] == "learning_rate"
    assert body["kind"] == "PiecewiseConstantDecay"
    assert body["source"] == "LearningRateSchedule"
    assert body["config"]["boundaries"] == [50]
    assert body["total_steps"] == 100
    assert body["steps"] == list(range(100)) and body["total"] == 100
    assert "wall_times" not in body


def test_schedule_with_max_points_keeps_the_boundary(server):
    body = server.json("schedule", run="preview", max_points=10)
    assert body["downsampled"] is True and len(body["steps"]) <= 10
    assert {50, 51} <= set(body["steps"])


def test_schedule_of_a_learning_rate_scheduler_is_its_epoch_curve(server):
    body = server.json("schedule", run="scheduler")
    assert body["kind"] == "LearningRateScheduler"
    np.testing.assert_array_equal(
        np.float32(body["values"][::50]), np.float32([0.1, 0.05, 0.025, 0.0125])
    )


def test_schedule_of_several_optimizers_needs_the_optimizer(server):
    response = server.get("schedule", run="two_optimizers")
    assert response.status_code == 400
    assert "optimizer" in response.get_json()["error"]
    biases = server.json("schedule", run="two_optimizers", optimizer="biases")
    assert biases["optimizer"] == "biases" and biases["series"] == "learning_rate/biases"
    assert biases["kind"] == "PiecewiseConstantDecay"
    kernels = server.json("schedule", run="two_optimizers", optimizer="kernels")
    assert kernels["kind"] == "constant" and kernels["config"]["learning_rate"] == pytest.approx(
        0.001
    )


def test_schedule_of_a_run_without_one_is_404(edge_server):
    response = edge_server.get("schedule", run="epoch_only")
    assert response.status_code == 404
    assert "no schedule" in response.get_json()["error"]


def test_export_csv_is_every_point(server):
    response = server.get("export", run="manual", name="learning_rate", format="csv")
    assert response.status_code == 200
    assert response.mimetype == "text/csv"
    assert 'filename="manual__learning_rate.csv"' in response.headers["Content-Disposition"]
    rows = list(csv.reader(io.StringIO(response.get_data(as_text=True))))
    assert rows[0] == ["step", "value", "wall_time"]
    full = server.read_back("manual", "learning_rate")
    assert [int(row[0]) for row in rows[1:]] == full.steps.tolist()
    assert [float(row[1]) for row in rows[1:]] == full.values.tolist()
    assert [float(row[2]) for row in rows[1:]] == full.wall_times.tolist()


def test_export_json_is_every_point(server):
    response = server.get("export", run="plateau", name="learning_rate", format="json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert 'filename="plateau__learning_rate.json"' in response.headers["Content-Disposition"]
    body = response.get_json()
    full = server.read_back("plateau", "learning_rate")
    assert body["steps"] == full.steps.tolist()
    assert body["values"] == full.values.tolist()
    assert body["total"] == 200


def test_export_window_and_non_finite_values(edge_server):
    server = edge_server
    text = server.get(
        "export", run="non_finite", name="learning_rate", format="csv", start=1, end=3
    ).get_data(as_text=True)
    assert text.splitlines()[1:] == ["1,nan,1001.0", "2,inf,1002.0", "3,-inf,1003.0"]
    body = server.get("export", run="non_finite", name="learning_rate", format="json").get_json()
    assert body["values"][1:4] == [None, None, None]


def test_an_empty_logdir_has_no_runs_and_an_inactive_tab(make_server, tmp_path):
    server = make_server(tmp_path)
    assert server.json("runs") == {"runs": [], "problems": []}
    listing = server.client.get("/data/plugins_listing").get_json()
    assert listing["lr"]["enabled"] is False


def test_every_answer_is_json_with_nosniff(server):
    for route, params in [
        ("runs", {}),
        ("series", {"run": "cosine", "name": "epoch"}),
        ("schedule", {"run": "cosine"}),
        ("deviations", {"run": "cosine"}),
        ("series", {"run": "nope", "name": "epoch"}),
    ]:
        response = server.get(route, **params)
        assert response.mimetype == "application/json"
        assert response.headers["X-Content-Type-Options"] == "nosniff"


def test_applied_rate_agrees_with_the_schedule_for_a_pure_schedule_run(server):
    applied = server.json("series", run="cosine", name="learning_rate")["values"]
    curve = server.json("schedule", run="cosine")["values"]
    peak = max(abs(v) for v in curve)
    assert event_format.rates_agree(np.array(applied), np.array(curve), peak).all()


def test_schedule_ends_at_the_latest_plan(make_server, tmp_path):
    # A dataset of unknown length: the curve is first written ahead (4096+
    # steps), then re-planned once the first epoch has measured the run.
    script = """
import sys
import keras, numpy as np, tensorflow as tf
import tb_lr_plugin as tblr
x = np.zeros((80, 3), "float32"); y = np.zeros((80, 1), "float32")
dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(8).filter(lambda a, b: True)
model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
model.compile(optimizer=keras.optimizers.SGD(keras.optimizers.schedules.CosineDecay(0.1, 50)),
              loss="mse")
model.fit(dataset, epochs=2, verbose=0, callbacks=[tblr.LearningRateLogger(sys.argv[1])])
print(int(model.optimizer.iterations.numpy()))
"""
    import subprocess
    import sys

    done = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path)], check=True, capture_output=True, text=True
    )
    updates = int(done.stdout.split()[-1])
    body = make_server(tmp_path).json("schedule", run="train")
    assert body["total_steps"] == updates
    assert body["steps"] == list(range(updates))


def test_batch_answers_what_each_route_answers(server):
    runs = ["cosine", "two_optimizers", "preview", "nope"]
    body = server.json("batch", run=runs, window="0:49", max_points="20")
    answers = {answer["run"]: answer for answer in body["runs"]}
    assert [answer["run"] for answer in body["runs"]] == runs
    window = {"start": "0", "end": "49", "max_points": "20"}
    cosine = answers["cosine"]
    assert cosine["learning_rates"] == [
        server.json("series", run="cosine", name="learning_rate", **window)
    ]
    assert cosine["schedules"] == [server.json("schedule", run="cosine", **window)]
    # Marks are whole runs, whatever the window.
    assert cosine["epoch"] == server.json("series", run="cosine", name="epoch")
    assert cosine["deviations"] == server.json("deviations", run="cosine")
    two = answers["two_optimizers"]
    assert [s["name"] for s in two["learning_rates"]] == [
        "learning_rate/biases",
        "learning_rate/kernels",
    ]
    assert [s["optimizer"] for s in two["schedules"]] == ["biases", "kernels"]
    preview = answers["preview"]
    assert preview["learning_rates"] == [] and preview["epoch"] is None
    assert preview["schedules"] == [server.json("schedule", run="preview", **window)]
    assert "no run 'nope'" in answers["nope"]["error"]


def unpacked(body):
    """`body` with every packed array (`arrays=packed`) as the JSON list it stands for."""
    if isinstance(body, dict) and set(body) == {"dtype", "base64"}:
        array = np.frombuffer(
            base64.b64decode(body["base64"]), np.dtype(body["dtype"]).newbyteorder("<")
        )
        return as_json_values(array) if array.dtype.kind == "f" else array.tolist()
    if isinstance(body, dict):
        return {key: unpacked(value) for key, value in body.items()}
    if isinstance(body, list):
        return [unpacked(value) for value in body]
    return body


@pytest.mark.parametrize("logs", ["server", "edge_server"])
@pytest.mark.parametrize("window", [{}, {"window": "3:40", "max_points": "12"}])
def test_batch_packs_exactly_what_it_lists(logs, window, request):
    """Packed arrays are the very numbers of the lists, NaN and infinities included."""
    server = request.getfixturevalue(logs)
    runs = [run["name"] for run in server.json("runs")["runs"]]
    as_lists = server.json("batch", run=runs, **window)
    packed = server.json("batch", run=runs, arrays="packed", **window)
    assert unpacked(packed) == as_lists
    first = packed["runs"][0]["learning_rates"][0]
    assert first["steps"]["dtype"] == "int32" and first["values"]["dtype"] == "float32"
    if logs == "server":  # Real wall times need float64; the edge cases' are whole seconds.
        assert first["wall_times"]["dtype"] == "float64"


def test_batch_takes_a_window_per_run_and_only_the_parts_asked(server):
    body = server.json("batch", run=["cosine", "plateau"], window=["10:19", ""], include="curves")
    cosine, plateau = body["runs"]
    assert cosine["learning_rates"][0]["steps"] == list(range(10, 20))
    assert plateau["learning_rates"][0] == server.json(
        "series", run="plateau", name="learning_rate"
    )
    assert "epoch" not in cosine and "deviations" not in plateau
    marks = server.json("batch", run="plateau", include="marks")["runs"][0]
    assert set(marks) == {"run", "epoch", "deviations"}
    (cosine,) = server.json("batch", run="cosine", window="0:9", include="hyperparameters")["runs"]
    names = [series["name"] for series in cosine["hyperparameters"]]
    assert "optimizer/beta_1" in names and all(n.startswith("optimizer/") for n in names)
    beta = cosine["hyperparameters"][names.index("optimizer/beta_1")]
    assert beta == server.json("series", run="cosine", name="optimizer/beta_1")  # Whole.


RATIO_LAYERS = [f"deep/layer_{i}" for i in range(12)]


def test_update_ratios_are_listed_in_model_order(server):
    (ratios,) = [run for run in server.json("runs")["runs"] if run["name"] == "ratios"]
    measures = [
        name for name in ratios["series"] if name.split("/")[0] in ("update_ratio", "gradient_norm")
    ]
    assert measures == ["gradient_norm"] + [f"update_ratio/{layer}" for layer in RATIO_LAYERS]


@pytest.mark.parametrize("window", [{}, {"start": "7", "end": "61"}])
@pytest.mark.parametrize("columns", ["1", "9", "100", "4000"])
def test_update_ratio_heat_map_keeps_each_columns_extremes(server, window, columns):
    """Every cell is the min and max of the series' own points in its column."""
    body = server.json("update_ratios", run="ratios", columns=columns, **window)
    assert [layer["layer"] for layer in body["layers"]] == RATIO_LAYERS
    assert body["step_range"] == [0, 99]
    first, last = int(window.get("start", 0)), int(window.get("end", 99))
    steps, width = np.array(body["steps"]), body["width"]
    assert body["window"] == [first, last] and steps[0] == first and len(steps) <= int(columns)
    assert np.all(np.diff(steps) == width) and steps[-1] <= last < steps[-1] + width
    for layer in body["layers"]:
        series = server.json("series", run="ratios", name=layer["name"], start=first, end=last)
        points = np.array(series["values"], np.float64)
        column = (np.array(series["steps"]) - first) // width
        assert len(points) == last - first + 1 and np.all(points > 0)
        expected_low = [points[column == k].min() for k in range(len(steps))]
        expected_high = [points[column == k].max() for k in range(len(steps))]
        assert layer["low"] == expected_low and layer["high"] == expected_high
        assert layer["nonfinite"] == []


def test_update_ratio_heat_map_packs_exactly_what_it_lists(server):
    as_lists = server.json("update_ratios", run="ratios", columns="30")
    assert unpacked(server.json("update_ratios", run="ratios", columns="30", arrays="packed")) == (
        as_lists
    )


def test_update_ratio_heat_map_of_a_window_past_the_end_is_empty(server):
    body = server.json("update_ratios", run="ratios", start="500")
    assert body["steps"] == [] and body["window"] is None and body["step_range"] == [0, 99]
    assert all(layer["low"] == [] and layer["nonfinite"] == [] for layer in body["layers"])


def test_update_ratio_heat_map_of_a_run_without_them_is_404(server):
    response = server.get("update_ratios", run="cosine")
    assert response.status_code == 404
    assert "update_ratios=True" in response.get_json()["error"]


def test_update_ratio_heat_map_says_what_it_could_not_read(edge_server):
    """Non-finite ratios are flagged per cell; a damaged chunk is a problem, not data."""
    body = edge_server.json("update_ratios", run="ratio_edges", columns="3")
    assert [layer["layer"] for layer in body["layers"]] == ["early", "late", "a_unplaced"]
    assert body["steps"] == [0, 2, 4] and body["width"] == 2 and body["step_range"] == [0, 5]
    early, late, unplaced = body["layers"]
    assert late["low"] == as_json_values(np.float32([1e-3, 2e-3, 1e-3]))
    assert late["high"] == as_json_values(np.float32([1e-3, 2e-3, 3e-3]))
    assert late["nonfinite"] == [0, 1]
    assert early["high"] == [*as_json_values(np.float32([1e-2, 1e-2])), None]
    assert unplaced["low"] == [None, *as_json_values(np.float32([5e-4, 5e-4]))]
    assert [problem["step_range"] for problem in body["problems"]] == [[4, 7]]
