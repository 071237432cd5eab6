"""Comparing runs of different lengths in a real Chromium, over a real `tensorboard`.

Runs (tests/browser/write_comparison_logs.py): `short` (60 steps), `long`
(240), `unplanned` (90, no plan) and `preview` (a 3,000-step schedule, nothing
trained).
"""

from __future__ import annotations

import pytest
from browser import harness, write_comparison_logs
from browser.conftest import PREFS_KEY
from browser.harness import chart_label

TRAINED = sorted(write_comparison_logs.STEPS)


@pytest.fixture(scope="module")
def comparison_board(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("comparison") / "logs"
    with harness.serving_logs("browser/write_comparison_logs.py", logdir, runs=4) as process:
        yield process


def tooltip_at(tab, fraction: float) -> str:
    """The main chart's tooltip with the pointer `fraction` of the way across."""
    box = tab.frame.locator(".lr-main-chart .u-over").bounding_box()
    tab.page.mouse.move(box["x"] + box["width"] * fraction, box["y"] + box["height"] / 2)
    return tab.frame.locator(".lr-main-chart .lr-tooltip").inner_text()


SCHEMES = pytest.mark.parametrize("scheme", ["light", "dark"])


def switch_axis(tab, label: str) -> None:
    loads = tab.loads()
    tab.frame.locator("button", has_text=label).click()
    tab.wait_for_loads(loads + 1)


@SCHEMES
def test_a_preview_is_drawn_but_the_step_axis_ends_with_the_training_runs(
    comparison_board, open_lr_tab, scheme
):
    tab = open_lr_tab(comparison_board.plugin_page_url, color_scheme=scheme)
    label = chart_label(tab.frame)
    assert "preview (schedule): dashed" in label, label
    assert "x from 0 to 239" in label, label
    alone = open_lr_tab(
        comparison_board.plugin_page_url, color_scheme=scheme, prefs={"deselected": TRAINED}
    )
    assert "x from 0 to 3k" in chart_label(alone.frame)


@SCHEMES
def test_the_fraction_axis_lines_runs_up_by_their_plans(comparison_board, open_lr_tab, scheme):
    tab = open_lr_tab(
        comparison_board.plugin_page_url, color_scheme=scheme, prefs={"deselected": ["preview"]}
    )
    near_end = tooltip_at(tab, 0.95)
    assert "long" in near_end and "short" not in near_end  # Step 227: `short` ended at 59.
    switch_axis(tab, "Fraction of run")
    assert "x from 0 %" in chart_label(tab.frame)
    near_end = tooltip_at(tab, 0.95)
    assert all(run in near_end for run in TRAINED), near_end
    assert tab.frame.locator(".lr-main-chart .lr-tooltip-title").inner_text().endswith("of the run")
    note = tab.frame.locator(".lr-main-chart .lr-legend-note").inner_text()
    assert "of the steps written so far for unplanned" in note, note
    assert "long" not in note and "short" not in note
    saved = tab.frame.evaluate(f"JSON.parse(localStorage.getItem({PREFS_KEY!r}))")
    assert saved["xMode"] == "fraction"  # The next visit opens on this axis.


@SCHEMES
def test_the_main_chart_fills_the_width_and_one_screen(comparison_board, open_lr_tab, scheme):
    tab = open_lr_tab(comparison_board.plugin_page_url, color_scheme=scheme)
    frame = tab.frame
    content = frame.locator(".lr-content").bounding_box()
    card = frame.locator(".lr-main-chart").bounding_box()
    deviations = frame.locator(".lr-deviations").bounding_box()
    assert card["width"] > 0.9 * content["width"]
    assert deviations["y"] >= card["y"] + card["height"]  # Below: no room beside it.
    assert card["y"] + card["height"] <= tab.page.viewport_size["height"]
    plot = frame.locator(".lr-main-chart .uplot")
    tall = plot.bounding_box()["height"]
    tab.page.set_viewport_size({"width": 1400, "height": 700})
    frame.wait_for_function(
        "h => document.querySelector('.lr-main-chart .uplot').getBoundingClientRect().height < h",
        arg=tall - 100,
    )
    card = frame.locator(".lr-main-chart").bounding_box()
    assert card["y"] + card["height"] <= 700
