"""Deviations of the applied rate from the schedule, found and explained."""

from __future__ import annotations

import numpy as np
import pytest

from tb_lr_plugin import event_format
from tb_lr_plugin.plugin import deviations

PLATEAU = {"kind": "callback", "callback": "ReduceLROnPlateau"}
UNKNOWN = {"kind": "unknown", "callback": None}


def events_of(server, run, **params):
    return server.json("deviations", run=run, **params)["events"]


@pytest.mark.parametrize("run", ["cosine", "scheduler"])
def test_a_run_that_follows_its_schedule_has_no_deviation(server, run):
    body = server.json("deviations", run=run)
    assert body["events"] == [] and body["total_events"] == 0 and body["truncated"] is False
    (compared,) = body["compared"]
    assert compared["series"] == "learning_rate"
    assert compared["compared_steps"] > 0 and compared["deviating_steps"] == 0


def test_reduce_lr_on_plateau_drops_are_two_events(server):
    body = server.json("deviations", run="plateau")
    assert [(e["step"], e["end_step"], e["steps"]) for e in body["events"]] == [
        (100, 149, 50),
        (150, 199, 50),
    ]
    for event, applied in zip(body["events"], (0.05, 0.025), strict=True):
        assert event["source"] == PLATEAU
        assert event["assignment_step"] == event["step"]
        assert event["series"] == "learning_rate"
        assert np.float32(event["applied"]) == np.float32(applied)
        assert np.float32(event["expected"]) == np.float32(0.1)
    assert body["compared"][0]["deviating_steps"] == 100


def test_manual_assignment_is_one_event_until_the_rate_is_restored(server):
    (event,) = events_of(server, "manual")
    assert (event["step"], event["end_step"], event["steps"]) == (30, 59, 30)
    assert event["source"] == {"kind": "manual", "callback": None}
    assert np.float32(event["applied"]) == np.float32(0.05)
    assert event["largest_deviation"]["step"] == 30


def test_a_change_inside_a_compiled_function_has_an_unknown_source(server):
    (event,) = events_of(server, "in_graph")
    assert (event["step"], event["end_step"]) == (40, 79)
    assert event["source"] == UNKNOWN and event["assignment_step"] is None
    assert np.float32(event["applied"]) == np.float32(0.02)


def test_each_optimizer_is_compared_with_its_own_schedule(server):
    body = server.json("deviations", run="two_optimizers")
    assert sorted(c["series"] for c in body["compared"]) == [
        "learning_rate/biases",
        "learning_rate/kernels",
    ]
    (event,) = body["events"]
    assert event["series"] == "learning_rate/kernels"
    assert (event["step"], event["end_step"]) == (50, 99)
    assert event["source"] == {"kind": "callback", "callback": "HalveAdam"}
    only_biases = server.json("deviations", run="two_optimizers", optimizer="biases")
    assert only_biases["events"] == []


def test_max_events_truncates(server):
    body = server.json("deviations", run="plateau", max_events=1)
    assert len(body["events"]) == 1 and body["events"][0]["step"] == 100
    assert body["total_events"] == 2 and body["truncated"] is True


def test_non_finite_rates_deviate_and_are_null(edge_server):
    (event,) = edge_server.json("deviations", run="non_finite")["events"]
    assert (event["step"], event["end_step"]) == (1, 3)
    assert event["applied"] is None and event["source"] == UNKNOWN


def test_a_run_without_schedule_compares_nothing(edge_server):
    body = edge_server.json("deviations", run="epoch_only")
    assert body == {
        "run": "epoch_only",
        "events": [],
        "total_events": 0,
        "truncated": False,
        "compared": [],
    }


# The grouping rules on their own, on made-up series.


def test_a_steep_smooth_departure_is_one_event():
    steps = np.arange(100)
    curve = np.full(100, 0.1)
    applied = np.linspace(0.2, 0.5, 100)  # Not the curve, and changing at every step.
    found = deviations.compare("learning_rate", steps, applied, steps, curve, [])
    assert [(e.step, e.end_step) for e in found.events] == [(0, 99)]


def test_a_jump_inside_a_departure_starts_a_new_event():
    steps = np.arange(10)
    curve = np.full(10, 0.1)
    applied = np.array([0.1, 0.1, 0.3, 0.3, 0.3, 0.6, 0.6, 0.1, 0.1, 0.1])
    found = deviations.compare("learning_rate", steps, applied, steps, curve, [])
    assert [(e.step, e.end_step, e.source) for e in found.events] == [
        (2, 4, event_format.UNKNOWN),
        (5, 6, event_format.UNKNOWN),
    ]


def test_an_assignment_explains_the_steps_that_apply_its_value():
    steps = np.arange(10)
    curve = np.linspace(0.1, 0.01, 10)  # A decaying schedule...
    applied = curve.copy()
    applied[4:] = 0.05  # ...held at 0.05 by hand from step 4.
    assignments = [event_format.Assignment(4, 0.06, 0.05, event_format.MANUAL, 0.0)]
    found = deviations.compare("learning_rate", steps, applied, steps, curve, assignments)
    # At step 5 the curve passes through 0.05: two events, both held by the assignment.
    assert [(e.step, e.end_step, e.source, e.assignment_step) for e in found.events] == [
        (4, 4, event_format.MANUAL, 4),
        (6, 9, event_format.MANUAL, 4),
    ]


def test_rounding_differences_are_not_deviations():
    steps = np.arange(1000)
    curve = np.float32(0.1 * np.cos(np.linspace(0, np.pi / 2, 1000)))
    # One float32 ulp of the peak off, everywhere (as vector and scalar kernels differ).
    applied = curve + np.float32(np.spacing(np.float32(0.1)))
    found = deviations.compare("learning_rate", steps, applied, steps, curve, [])
    assert found.deviating_steps == 0 and found.compared_steps == 1000


def test_steps_outside_the_curve_are_not_compared():
    found = deviations.compare(
        "learning_rate", np.arange(10), np.full(10, 0.5), np.arange(5), np.full(5, 0.5), []
    )
    assert (found.compared_steps, found.uncompared_steps, found.events) == (5, 5, [])


def test_the_latest_assignment_at_a_step_is_the_one_in_force():
    plateau = event_format.AssignmentSource.of_callback("ReduceLROnPlateau")
    later = event_format.Assignment(3, 0.5, 0.2, plateau, 2.0)
    assignments = deviations.in_force(
        [
            event_format.Assignment(3, 1.0, 0.5, event_format.MANUAL, 1.0),
            later,
            event_format.Assignment(1, 1.0, 0.9, event_format.MANUAL, 3.0),
        ]
    )
    assert [a.step for a in assignments] == [1, 3] and assignments[1] == later
