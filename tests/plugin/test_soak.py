"""The soak benchmark's harness (bench/soak.py), short, with each loader.

`run_soak` runs in this process for about 35 s against a real `tensorboard`:
runs are added every 1.5 s and the oldest deleted beyond 5 while 4 clients
poll. Asserted: no error (the harness checks the points of every answer against
what it wrote), deleted runs leave the listing, new runs join it. Nothing
about time or memory is asserted. The checks themselves are tested without
TensorBoard below: an answer that differs from what was written must fail them.
"""

from __future__ import annotations

import importlib.util
import sys
from pathlib import Path
from types import ModuleType

import numpy as np
import pytest

SOAK_PATH = Path(__file__).resolve().parents[2] / "bench" / "soak.py"
STEPS = 10_000


def load_soak() -> ModuleType:
    """bench/soak.py as a module (bench/ is not a package)."""
    spec = importlib.util.spec_from_file_location("bench_soak", SOAK_PATH)
    module = importlib.util.module_from_spec(spec)
    # Its dataclasses look their module up in sys.modules while being defined.
    sys.modules[spec.name] = module
    spec.loader.exec_module(module)
    return module


soak = load_soak()


@pytest.fixture(scope="module", params=["false", "true"], ids=["python_loader", "rust_loader"])
def result(request, tmp_path_factory) -> dict:
    config = soak.SoakConfig(
        load_fast=request.param, minutes=0.6, interval=1.5, keep=5, sample_every=2.0
    )
    return soak.run_soak(config, scratch=tmp_path_factory.mktemp("soak"))


@pytest.mark.slow
def test_no_errors(result):
    assert result["errors"]["count"] == 0, result["errors"]
    assert result["requests_total"] > 0


@pytest.mark.slow
def test_deleted_runs_leave_the_listing(result):
    runs = result["runs"]
    assert runs["deleted"] > runs["initial"], runs  # Every initial run was replaced.
    assert runs["oldest_deleted"] == soak.run_name(0)
    assert runs["oldest_deleted"] not in runs["final_listing"]
    assert runs["final_listing"] == runs["on_disk_at_end"]
    # Seen gone by a client while the soak ran, not only after it.
    assert runs["unlisted_after_deletion"], runs


@pytest.mark.slow
def test_new_runs_appear(result):
    runs = result["runs"]
    assert runs["created"] >= 10, runs
    assert runs["listed"] + len(runs["deleted_before_listed"]) == runs["created"], runs
    assert runs["newest_created"] in runs["final_listing"]
    assert all(soak.run_index(name) >= runs["initial"] for name in runs["final_listing"]), runs[
        "final_listing"
    ]


@pytest.mark.slow
def test_every_answer_was_checked_against_what_was_written(result):
    checked, answered = result["checked"], result["answered_200"]
    assert checked["series"] == answered["series"] > 0
    assert checked.get("schedule", 0) == answered["schedule"]
    assert checked.get("deviations", 0) == answered["deviations"]
    assert checked["points"] >= checked["series"]
    assert checked.get("deviations_fully_compared", 0) > 0


def answer_of(run: str, values: np.ndarray, steps: np.ndarray, total: int = STEPS) -> dict:
    """A `series` answer as the server writes one: float32 values widened to float64."""
    return {
        "run": run,
        "name": "learning_rate",
        "steps": [int(s) for s in steps],
        "values": [float(v) for v in values[steps]],
        "total": total,
        "downsampled": len(steps) < total,
    }


def test_check_series_accepts_what_was_written():
    run = soak.run_name(7)
    written = soak.applied_rate(7, STEPS)
    assert soak.check_series(answer_of(run, written, np.arange(STEPS)), run, None, STEPS) is None
    sampled = np.unique(np.r_[0, np.arange(3, STEPS, 11), STEPS - 1])
    assert soak.check_series(answer_of(run, written, sampled), run, 2000, STEPS) is None
    # A run still loading: its first chunk only.
    first = np.arange(soak.CHUNK_STEPS)
    assert soak.check_series(answer_of(run, written, first, len(first)), run, None, STEPS) is None


def test_check_series_rejects_what_was_not_written():
    run, index = soak.run_name(7), 7
    written = soak.applied_rate(index, STEPS)
    every = np.arange(STEPS)

    changed = answer_of(run, written, every)
    changed["values"][4321] = float(np.float32(changed["values"][4321]) * np.float32(1.0001))
    assert "4321" in soak.check_series(changed, run, None, STEPS)

    shifted = answer_of(run, written, every)
    shifted["steps"] = [step + 1 for step in shifted["steps"]]
    assert soak.check_series(shifted, run, None, STEPS) is not None

    other = soak.run_name(index + 4)  # The same shape, another peak.
    assert soak.check_series(answer_of(other, written, every), other, None, STEPS) is not None

    assert soak.check_series(answer_of(run, written, every), run, 2000, STEPS) is not None
    assert soak.check_series(answer_of(run, written, every[:0], 0), run, None, STEPS) is not None


def test_check_deviations_expects_the_halving_written():
    halved, plain = 3, 4  # Every fourth run is halved half way.
    assert soak.assignment_step(halved, STEPS) == STEPS // 2
    assert soak.assignment_step(plain, STEPS) is None
    compared = [{"series": "learning_rate", "compared_steps": STEPS}]
    event = {"step": STEPS // 2, "source": {"kind": "manual", "callback": None}}
    run = soak.run_name(halved)
    assert soak.check_deviations({"events": [event], "compared": compared}, run, STEPS) is None
    assert soak.check_deviations({"events": [], "compared": compared}, run, STEPS) is not None
    other = soak.run_name(plain)
    assert soak.check_deviations({"events": [event], "compared": compared}, other, STEPS)
    # Compared in part (still loading): nothing to expect yet.
    part = [{"series": "learning_rate", "compared_steps": 4096}]
    assert soak.check_deviations({"events": [], "compared": part}, run, STEPS) is None


def test_only_an_empty_answer_for_a_deleted_run_is_excused():
    ledger = soak.Ledger()
    for index in range(3):
        ledger.add(soak.run_name(index), initial=True)
    deleted = ledger.pop_oldest(keep=2)
    on_disk = soak.run_name(1)
    client = soak.Client(port=0, ledger=ledger, steps=STEPS, seed=0)
    empty = {"run": deleted, "name": "learning_rate", "steps": [], "values": []}
    no_points = "no points for a listed run"

    client.record_check("series", deleted, [(no_points, empty)])
    assert (client.tally.gone_empty, sum(client.tally.errors.values())) == (1, 0)

    client.record_check("series", on_disk, [(no_points, dict(empty, run=on_disk))])
    wrong = dict(empty, steps=[0], values=[1.0])
    client.record_check("batch", deleted, [(no_points, empty), ("1 differ; at step 0", wrong)])
    client.record_check("deviations", deleted, [("first event at None, halved at 5000", None)])
    assert client.tally.gone_empty == 1
    assert client.tally.errors["mismatch"] == 3
