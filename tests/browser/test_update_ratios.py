"""The "Update ratio" section in a real Chromium, over a real `tensorboard`.

Runs (tests/browser/write_ratio_logs.py): `hot_layer` (twelve layers, one
whose rate is too high), a second run with update ratios under a hostile
name, and `no_ratios`.
"""

from __future__ import annotations

import re
from urllib.parse import parse_qs, urlparse

import pytest
from browser import harness, write_ratio_logs
from browser.harness import chart_label

HOT = "hot_layer"
HEAT = ".lr-heat-canvas"


@pytest.fixture(scope="module")
def ratio_board(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("ratios") / "logs"
    with harness.serving_logs("browser/write_ratio_logs.py", logdir, runs=4) as process:
        yield process


def open_section(
    open_lr_tab, board, deselected=(write_ratio_logs.HOSTILE_RUN, "overflow"), **options
):
    """The tab, scrolled to the section, once the heat map and the charts are drawn."""
    tab = open_lr_tab(board.plugin_page_url, prefs={"deselected": list(deselected)}, **options)
    tab.frame.locator(".lr-update-ratios").scroll_into_view_if_needed()
    tab.frame.wait_for_function(
        "() => (document.querySelector('.lr-heat-canvas')?.getAttribute('aria-label') || '')"
        ".includes('layers')"
    )
    wait_for_lines(tab, ".lr-ratio-chart", 1)
    return tab


def wait_for_lines(tab, card: str, count: int) -> str:
    tab.frame.wait_for_function(
        "([selector, n]) => ((document.querySelector(selector)?.getAttribute('aria-label') || '')"
        ".match(/points/g) || []).length >= n",
        arg=[f"{card} .lr-plot", count],
    )
    return chart_label(tab.frame, f"{card} .lr-plot")


def cell_position(tab, row: int, x_fraction: float) -> dict:
    """Where `row` is, `x_fraction` across the cells, in the heat map's own pixels."""
    box = tab.frame.locator(HEAT).bounding_box()
    label_width = min(160, round(box["width"] * 0.3))  # heat_map.js: LABEL_WIDTH
    rows = len(write_ratio_logs.LAYERS)
    return {
        "x": label_width + (box["width"] - label_width) * x_fraction,
        "y": box["height"] * (row + 0.5) / rows,
    }


def hover_cell(tab, row: int, x_fraction: float) -> str:
    """The heat map's tooltip with the pointer over `row`, `x_fraction` across the cells."""
    # Relative to the element when the pointer moves: the page above may still grow.
    tab.frame.locator(HEAT).hover(position=cell_position(tab, row, x_fraction))
    tip = tab.frame.locator(".lr-heat .lr-tooltip")
    tip.wait_for(state="visible")
    return tip.inner_text()


def heat_request(tab) -> dict:
    """The query of the tab's latest `update_ratios` request."""
    urls = [url for url in tab.requests if "/update_ratios?" in url]
    return {key: values[0] for key, values in parse_qs(urlparse(urls[-1]).query).items()}


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_heat_map_shows_every_layer_in_model_order_and_the_hot_one(
    ratio_board, open_lr_tab, artifacts, scheme
):
    tab = open_section(open_lr_tab, ratio_board, color_scheme=scheme)
    frame = tab.frame
    label = frame.locator(HEAT).get_attribute("aria-label")
    assert label.startswith("Update ratio by layer: 12 layers"), label
    assert f"in {write_ratio_logs.HOT_LAYER} at step 0" in label, label
    # Rows in model order: by name, layer_10 would be the third row.
    for row in (0, 2, 5, 11):
        title = hover_cell(tab, row, 0.5).splitlines()[0]
        assert title.startswith(f"{write_ratio_logs.LAYERS[row]} · step"), title
    # A cell's numbers are the server's extremes of its column.
    query = heat_request(tab)
    assert query["run"] == HOT and query["arrays"] == "packed"
    body = ratio_board.get_json("update_ratios", run=HOT, columns=query["columns"])
    tip = hover_cell(tab, 5, 0.0)
    hot = body["layers"][5]
    shown = [float(n) for n in re.findall(r"\d[\d.]*(?:e[-+]?\d+)?", tip.split("\n", 1)[1])]
    assert any(abs(n - hot["high"][0]) <= 1e-3 * hot["high"][0] for n in shown), (tip, hot)
    shot = artifacts / f"update-ratios-{scheme}.png"
    frame.locator(".lr-update-ratios").screenshot(path=str(shot))


def test_the_line_chart_starts_with_the_extreme_layers_and_follows_clicks(ratio_board, open_lr_tab):
    tab = open_section(open_lr_tab, ratio_board)
    label = wait_for_lines(tab, ".lr-ratio-chart", 2)
    # The layers with the highest and the lowest ratio of the heat map the tab fetched.
    body = ratio_board.get_json("update_ratios", run=HOT, columns=heat_request(tab)["columns"])
    layers = body["layers"]
    highest = max(layers, key=lambda cells: max(v for v in cells["high"] if v is not None))
    lowest = min(layers, key=lambda cells: min(v for v in cells["low"] if v is not None))
    assert highest["layer"] == write_ratio_logs.HOT_LAYER
    for picked in (highest, lowest):
        assert f"{picked['layer']}: solid, {write_ratio_logs.STEPS[HOT]} points" in label
    # A click on a row adds its layer; a second click removes it.
    row = next(i for i, cells in enumerate(layers) if cells not in (highest, lowest))
    layer = write_ratio_logs.LAYERS[row]
    heat = tab.frame.locator(HEAT)
    heat_requests = len([url for url in tab.requests if "/update_ratios?" in url])
    heat.click(position=cell_position(tab, row, 0.6))
    label = wait_for_lines(tab, ".lr-ratio-chart", 3)
    assert f"{layer}: solid" in label
    assert layer in tab.frame.locator(".lr-ratio-chart .lr-legend").inner_text()
    # Only the new line was fetched: the heat map is the same.
    assert len([url for url in tab.requests if "/update_ratios?" in url]) == heat_requests
    heat.click(position=cell_position(tab, row, 0.6))
    tab.frame.wait_for_function(
        "layer => !document.querySelector('.lr-ratio-chart .lr-plot')"
        ".getAttribute('aria-label').includes(layer + ':')",
        arg=layer,
    )
    norm = wait_for_lines(tab, ".lr-gradient-norm-chart", 1)
    assert f"gradient_norm: solid, {write_ratio_logs.STEPS[HOT]} points" in norm


def test_a_drag_on_the_heat_map_zooms_every_chart(ratio_board, open_lr_tab):
    tab = open_section(open_lr_tab, ratio_board)
    box = tab.frame.locator(HEAT).bounding_box()
    loads = tab.loads()
    y = box["y"] + box["height"] / 2
    left = box["x"] + 160 + (box["width"] - 160) * 0.25  # Past the row labels.
    right = box["x"] + 160 + (box["width"] - 160) * 0.5
    tab.page.mouse.move(left, y)
    tab.page.mouse.down()
    tab.page.mouse.move(right, y, steps=5)
    tab.page.mouse.up()
    tab.wait_for_loads(loads + 1)
    main = chart_label(tab.frame)
    found = re.search(r"x from (\d+) to (\d+)", main)
    assert found, main
    first, last = int(found[1]), int(found[2])
    assert 25 <= first <= 35 and 55 <= last <= 65, main
    tab.frame.wait_for_function(
        "() => document.querySelector('.lr-heat-canvas').getAttribute('aria-label')"
        f".includes('steps {first} to')"
    )
    assert heat_request(tab)["start"] == str(first)
    # Double-click: every step again.
    tab.frame.locator(HEAT).dblclick()
    tab.frame.wait_for_function(
        "() => document.querySelector('.lr-heat-canvas').getAttribute('aria-label')"
        ".includes('steps 0 to 119')"
    )


def test_the_section_picks_among_runs_with_ratios_and_hides_without(ratio_board, open_lr_tab):
    tab = open_section(open_lr_tab, ratio_board, deselected=())
    options = tab.frame.locator(".lr-run-picker option").all_inner_texts()
    assert options == [write_ratio_logs.HOSTILE_RUN, HOT, "overflow"]  # Text; no `no_ratios`.
    label = tab.frame.locator(HEAT).get_attribute("aria-label")
    assert label.startswith("Update ratio by layer: 2 layers"), label  # The first run's.
    tab.frame.locator(".lr-run-picker select").select_option(HOT)
    tab.frame.wait_for_function(
        "() => document.querySelector('.lr-heat-canvas').getAttribute('aria-label')"
        ".startsWith('Update ratio by layer: 12 layers')"
    )
    alone = open_lr_tab(
        ratio_board.plugin_page_url,
        prefs={"deselected": [HOT, write_ratio_logs.HOSTILE_RUN, "overflow"]},
    )
    assert alone.frame.locator(".lr-update-ratios").is_hidden()
    assert not [url for url in alone.requests if "/update_ratios?" in url]


def test_updates_skipped_on_overflow_are_marked(ratio_board, open_lr_tab):
    tab = open_section(open_lr_tab, ratio_board, deselected=(HOT, write_ratio_logs.HOSTILE_RUN))
    norm = wait_for_lines(tab, ".lr-gradient-norm-chart", 1)
    assert f"gradient_norm: solid, {write_ratio_logs.STEPS['overflow']} points" in norm
    note = tab.frame.locator(".lr-gradient-norm-chart .lr-legend-note")
    note.wait_for()
    skipped = len(write_ratio_logs.POISONED)
    assert note.inner_text().startswith(f"{skipped} updates skipped on overflow"), note.inner_text()
    # The first two poisoned batches come before step 10, the last before step 28.
    body = ratio_board.get_json("series", run="overflow", name="skipped_updates")
    assert (body["steps"], body["values"]) == ([0, 10, 28], [0, 2, 3])
