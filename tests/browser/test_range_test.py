"""The "Range test" section in a real Chromium, over a real `tensorboard`.

Runs (tests/browser/write_range_test_logs.py): `range_test` and a run with a
hostile name, both written by the real `find_learning_rate`, and `train`,
a training logged by `LearningRateLogger`. What the tab shows is checked
against the server's own `range_test` answer.
"""

from __future__ import annotations

import re

import pytest
from browser import harness, write_range_test_logs
from browser.harness import chart_label

HOSTILE = write_range_test_logs.HOSTILE_RUN
RANGE_CHART = ".lr-range-chart .lr-plot"
MAIN_CHART = ".lr-main-chart .lr-plot"
# What the server says of each rule, in the tab's order.
RULES = ["valley", "slide", "minimum", "steep"]
NUMBER = r"[-+]?\d+(?:\.\d+)?(?:e[-+]?\d+)?"


@pytest.fixture(scope="module")
def range_board(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("range_tests") / "logs"
    with harness.serving_logs("browser/write_range_test_logs.py", logdir, runs=3) as process:
        yield process


def open_section(open_lr_tab, board, deselected=(HOSTILE,), **options):
    """The tab, scrolled to the section, once its chart is drawn with its marks."""
    tab = open_lr_tab(board.plugin_page_url, prefs={"deselected": list(deselected)}, **options)
    tab.frame.locator(".lr-range-test").scroll_into_view_if_needed()
    wait_for_label(tab, RANGE_CHART, "Marked:")
    return tab


def wait_for_label(tab, selector: str, text: str, present: bool = True) -> str:
    """A chart's text summary once it does (or does not) hold `text`."""
    tab.frame.wait_for_function(
        "([selector, text, present]) => ((document.querySelector(selector)"
        "?.getAttribute('aria-label') || '').includes(text)) === present",
        arg=[selector, text, present],
    )
    return chart_label(tab.frame, selector)


def two_digits(rate: float) -> float:
    """A rate as the tab writes it: two significant digits."""
    return float(f"{rate:.2g}")


def shown_rate(text: str, rule: str) -> float:
    """The rate a label `<rule> <rate>` shows in `text`."""
    found = re.search(rf"\b{rule} ({NUMBER})", text)
    assert found, (rule, text)
    return float(found[1])


def python_line(tab) -> str:
    return tab.frame.locator(".lr-python code").inner_text()


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_chart_table_and_python_line_say_what_the_server_found(
    range_board, open_lr_tab, artifacts, scheme
):
    tab = open_section(open_lr_tab, range_board, color_scheme=scheme)
    frame = tab.frame
    body = range_board.get_json("range_test", run="range_test")
    label = chart_label(frame, RANGE_CHART)
    # Raw and smoothed loss over the whole sweep, on a log rate axis from min_lr to max_lr.
    assert "x from 1e-4 to 10." in label, label
    points = sum(loss is not None for loss in body["losses"])
    smoothed = sum(loss is not None for loss in body["smoothed_losses"])
    assert f"loss: solid, {points} points; smoothed loss: solid, {smoothed} points" in label
    # A labelled mark per suggestion, and the divergence's line, at the server's rates.
    suggestions = {s["rule"]: s for s in body["suggestions"]}
    assert [s["rule"] for s in body["suggestions"]] == RULES
    for rule, suggestion in suggestions.items():
        assert suggestion["learning_rate"] is not None, suggestion  # The writer found all four.
        assert shown_rate(label, rule) == two_digits(suggestion["learning_rate"]), label
    assert body["divergence"] is not None
    assert shown_rate(label, "divergence") == two_digits(body["divergence"]), label
    steps = len(body["learning_rates"])
    legend = frame.locator(".lr-range-chart .lr-legend").inner_text()
    assert f"after {steps} of {write_range_test_logs.NUM_STEPS} steps" in legend, legend

    # The table: the four rules in order, then the divergence, each explained.
    rows = frame.locator(".lr-suggestion-table tbody tr")
    assert rows.evaluate_all("rows => rows.map((r) => r.dataset.rule)") == [*RULES, "divergence"]
    for index, rule in enumerate(RULES):
        cells = rows.nth(index).locator("td")
        assert float(cells.nth(1).inner_text()) == two_digits(suggestions[rule]["learning_rate"])
        assert len(cells.nth(2).inner_text()) > 30  # Its explanation.
    assert "fastai's default rule" in rows.nth(0).inner_text()
    assert "train below it" in rows.nth(4).inner_text()
    # Valley is chosen first: its rate, on the optimizer the range test used.
    assert rows.nth(0).locator("input[type=radio]").is_checked()
    line = python_line(tab)
    found = re.fullmatch(rf"keras\.optimizers\.SGD\(learning_rate=({NUMBER})\)", line)
    assert found and float(found[1]) == two_digits(suggestions["valley"]["learning_rate"]), line

    # Beside a training run: the chosen rate as a guide on the learning-rate chart.
    assert wait_for_label(tab, MAIN_CHART, "Marked:", present=False)
    frame.locator(".lr-range-overlay input").check()
    main = wait_for_label(tab, MAIN_CHART, "(range test)")
    assert "train: solid" in main
    assert shown_rate(main, "valley") == two_digits(suggestions["valley"]["learning_rate"]), main
    frame.locator(".lr-range-test").screenshot(path=str(artifacts / f"range-test-{scheme}.png"))
    frame.locator(".lr-main-chart").screenshot(
        path=str(artifacts / f"range-test-guide-{scheme}.png")
    )


def test_another_rule_moves_the_python_line_and_the_guide(range_board, open_lr_tab):
    tab = open_section(open_lr_tab, range_board)
    frame = tab.frame
    steep = range_board.get_json("range_test", run="range_test")["suggestions"][3]
    frame.locator(".lr-range-overlay input").check()
    wait_for_label(tab, MAIN_CHART, "valley")
    frame.locator(".lr-suggestion-table tr[data-rule='steep'] input").check()
    main = wait_for_label(tab, MAIN_CHART, "steep")
    assert shown_rate(main, "steep") == two_digits(steep["learning_rate"])
    rate = frame.locator(".lr-suggestion-table tr[data-rule='steep'] .lr-rate").inner_text()
    assert python_line(tab).endswith(f"(learning_rate={rate})")
    frame.locator(".lr-range-overlay input").uncheck()
    wait_for_label(tab, MAIN_CHART, "Marked:", present=False)


def test_copy_puts_the_line_on_the_clipboard_or_selects_it(range_board, open_lr_tab):
    tab = open_section(open_lr_tab, range_board)
    frame = tab.frame
    frame.locator(".lr-copy").click()
    status = frame.locator(".lr-copy-status")
    status.wait_for(state="visible")
    frame.wait_for_function("() => document.querySelector('.lr-copy-status').textContent !== ''")
    if status.inner_text() != "Copied.":
        # No clipboard in this frame: the line is selected for the keyboard instead.
        assert status.inner_text().startswith("Selected")
        assert frame.evaluate("getSelection().toString()") == python_line(tab)


def test_hostile_names_are_text_and_an_unnamed_optimizer_is_yours(range_board, open_lr_tab):
    tab = open_section(open_lr_tab, range_board, deselected=())
    frame = tab.frame
    picker = frame.locator(".lr-range-test .lr-run-picker select")
    assert picker.locator("option").all_inner_texts() == [HOSTILE, "range_test"]
    body = range_board.get_json("range_test", run=HOSTILE)
    assert body["optimizer"] == write_range_test_logs.HOSTILE_OPTIMIZER
    valley = two_digits(body["suggestions"][0]["learning_rate"])
    # The first run is picked: its optimizer's class name is no Python identifier.
    line = python_line(tab)
    assert line.startswith("keras.optimizers.YourOptimizer(learning_rate="), line
    assert float(line.split("=")[1].rstrip(")")) == valley
    picker.select_option("range_test")
    frame.wait_for_function(
        "() => document.querySelector('.lr-python code').textContent.includes('.SGD(')"
    )
    assert frame.evaluate(
        "() => [window.__pwned ?? null, document.querySelectorAll('img, b').length]"
    ) == [None, 0]


def test_a_selection_without_a_range_test_asks_for_none_and_shows_none(range_board, open_lr_tab):
    tab = open_lr_tab(range_board.plugin_page_url, prefs={"deselected": [HOSTILE, "range_test"]})
    tab.wait_for_loads(1)
    tab.frame.wait_for_function(
        "() => (document.querySelector('.lr-main-chart .lr-plot')?.getAttribute('aria-label')"
        " || '').includes('train: solid')"
    )
    assert tab.frame.locator(".lr-range-test").is_hidden()
    # Neither the route nor the section's modules (`range_test.js`, `range_test_reading.js`).
    assert not [url for url in tab.requests if "/range_test" in url]
