"""The LR tab in a real headless Chromium, over a real `tensorboard` and real logs.

Runs (tests/browser/write_logs.py): `cosine`, `plateau` (ReduceLROnPlateau),
`manual` (a rate assigned by hand) and `<img src=x onerror=alert(1)>`. Every
test fails if the page logged a console error, threw, or opened a dialog
(conftest.py).
"""

from __future__ import annotations

import json
import math
import re
import shutil
import time
import urllib.parse

import pytest
from browser import harness, write_logs
from browser.harness import chart_label

HOSTILE = write_logs.HOSTILE_RUN
RUNS = sorted(write_logs.RUNS)


def close(text: str, value: float, rel: float = 1e-5) -> bool:
    return math.isclose(float(text.replace(",", "")), value, rel_tol=rel, abs_tol=1e-12)


def batch_queries(urls: list[str]) -> list[dict[str, list[str]]]:
    """The queries of the `batch` requests among `urls`, each parameter's values in order."""
    return [
        urllib.parse.parse_qs(urllib.parse.urlsplit(url).query, keep_blank_values=True)
        for url in urls
        if "/batch?" in url
    ]


def drag(tab, selector: str, start: float, end: float) -> None:
    """Drag-selects from `start` to `end` (fractions of the plot's width)."""
    box = tab.frame.locator(selector).bounding_box()
    y = box["y"] + box["height"] / 2
    tab.page.mouse.move(box["x"] + box["width"] * start, y)
    tab.page.mouse.down()
    tab.page.mouse.move(box["x"] + box["width"] * end, y, steps=6)
    tab.page.mouse.up()


def test_tab_in_tensorboard_shows_applied_and_schedule_for_every_run(board, open_lr_tab, artifacts):
    tab = open_lr_tab(board.url + "/#lr", in_tensorboard=True)
    frame = tab.frame
    names = frame.locator(".lr-run-list .lr-run-name").all_text_contents()
    assert names == RUNS
    label = chart_label(frame)
    for run in RUNS:
        points = write_logs.STEPS[run]
        assert f"{run}: solid, {points} points" in label, label
        assert f"{run} (schedule): dashed, {points} points" in label, label
    frame.locator(".lr-main-chart .u-over").hover()
    tab.page.screenshot(path=str(artifacts / "lr_tab_in_tensorboard.png"))


def test_tooltip_values_match_the_api(board, tab, artifacts):
    over = tab.frame.locator(".lr-main-chart .u-over")
    box = over.bounding_box()
    tab.page.mouse.move(box["x"] + box["width"] * 0.3, box["y"] + box["height"] * 0.6)
    tooltip = tab.frame.locator(".lr-main-chart .lr-tooltip")
    tooltip.wait_for(state="visible")
    rows = tooltip.locator("tbody tr").all()
    assert len(rows) == len(RUNS)
    seen = set()
    for row in rows:
        run, step, epoch, applied, expected, ratio = row.locator("td").all_text_contents()[1:]
        seen.add(run)
        step = int(step.replace(",", ""))
        api = board.get_json("series", run=run, name="learning_rate", start=step, end=step)
        assert api["steps"] == [step]
        assert close(applied, api["values"][0]), (run, applied, api)
        schedule = board.get_json("schedule", run=run, start=step, end=step)
        assert close(expected.lstrip("≈"), schedule["values"][0]), (run, expected, schedule)
        assert close(ratio.lstrip("×"), api["values"][0] / schedule["values"][0], rel=1e-3)
        epochs = board.get_json("series", run=run, name="epoch", end=step)
        assert int(epoch) == int(epochs["values"][-1])
    assert seen == set(RUNS)
    tab.page.screenshot(path=str(artifacts / "lr_tab_tooltip.png"))


def test_the_first_render_is_one_data_request(tab):
    data = [url for url in tab.requests if re.search(r"/data/plugin/lr/(?!runs)\w+\?", url)]
    (batch,) = batch_queries(data)  # Curves, marks and hyperparameters of every run at once.
    assert sorted(batch["run"]) == RUNS
    assert batch["include"] == ["curves,marks,hyperparameters"]
    # Hyperparameter charts and the constants table drew from it: no request of their own.
    assert [url for url in data if "/series?" in url and "optimizer" in url] == []


def test_drag_zoom_refetches_the_window_and_double_click_resets(tab):
    requests = []
    tab.page.on("request", lambda request: requests.append(request.url))
    loads = tab.loads()
    drag(tab, ".lr-main-chart .u-over", 0.40, 0.60)
    tab.wait_for_loads(loads + 1)
    # One request for the main chart's redraw: every run's window in one batch.
    (batch,) = batch_queries(requests)
    assert {"cosine", "plateau"} <= set(batch["run"]) and "include" in batch
    assert batch["include"] == ["curves"]  # Marks are kept across zooms.
    windows = [tuple(map(int, window.split(":"))) for window in batch["window"]]
    starts, ends = [w[0] for w in windows], [w[1] for w in windows]
    # 40%..60% of the x axis (0..199 steps, plus uPlot's padding) is about steps 80..120.
    assert all(60 <= s <= 100 for s in starts), starts
    assert all(100 <= e <= 140 for e in ends), ends
    label = chart_label(tab.frame)
    start, end = map(float, re.search(r"x from ([\d.]*\d) to ([\d.]*\d)", label).groups())
    assert 60 <= start < end <= 140, label
    assert tab.frame.locator("button", has_text="Reset zoom").is_enabled()

    requests.clear()
    loads = tab.loads()
    tab.frame.locator(".lr-main-chart .u-over").dblclick()
    tab.wait_for_loads(loads + 1)
    (full,) = batch_queries(requests)
    assert full["window"] == [""] * len(full["run"])
    assert "x from 0 to" in chart_label(tab.frame)
    assert tab.frame.locator("button", has_text="Reset zoom").is_disabled()


def test_zoom_measures_are_recorded(tab):
    loads = tab.loads()
    drag(tab, ".lr-main-chart .u-over", 0.2, 0.3)
    tab.wait_for_loads(loads + 1)
    tab.frame.wait_for_function("performance.getEntriesByName('lr:zoom-refetch').length > 0")
    names = tab.frame.evaluate("performance.getEntries().map(e => e.name)")
    assert {"lr:main-chart", "lr:first-render", "lr:zoom-redraw", "lr:zoom-refetch"} <= set(names)


def test_log_toggle_switches_the_y_axis(tab):
    plot = tab.frame.locator(".lr-main-chart .lr-plot")
    toggle = tab.frame.locator(".lr-main-chart .lr-log-toggle")
    before = plot.screenshot()
    assert chart_label(tab.frame).count("Linear y axis") == 1
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "true"
    tab.frame.wait_for_function(
        "document.querySelector('.lr-main-chart .lr-plot').getAttribute('aria-label')"
        ".includes('Log y axis')"
    )
    assert plot.screenshot() != before
    toggle.click()
    assert toggle.get_attribute("aria-pressed") == "false"
    assert "Linear y axis" in chart_label(tab.frame)


def test_deviations_are_listed_and_marked(tab):
    table = tab.frame.locator(".lr-deviation-table tbody tr")
    rows = [row.locator("td").all_text_contents() for row in table.all()]
    cells = [[cell.strip() for cell in row] for row in rows]
    assert ["manual", "60–119", "0.05 ×0.5", "0.1", "manual assign"] in cells, cells
    assert ["plateau", "100–149", "0.05 ×0.5", "0.1", "ReduceLROnPlateau"] in cells, cells
    assert ["plateau", "150–199", "0.025 ×0.25", "0.1", "ReduceLROnPlateau"] in cells, cells
    assert tab.frame.locator(".lr-run", has_text="plateau").locator(".lr-badge").inner_text() == "2"
    # A click zooms to the event.
    loads = tab.loads()
    table.filter(has_text="manual assign").click()
    tab.wait_for_loads(loads + 1)
    label = chart_label(tab.frame)
    start, end = map(float, re.search(r"x from ([\d.]*\d) to ([\d.]*\d)", label).groups())
    assert start <= 60 <= 119 <= end
    assert end - start < 150


def test_hostile_names_are_text_everywhere(tab):
    frame = tab.frame
    assert HOSTILE in frame.locator(".lr-run-list").inner_text()
    assert HOSTILE in frame.locator(".lr-schedules").inner_text()
    assert write_logs.HOSTILE_CONFIG in frame.locator(".lr-schedules").inner_text()
    assert HOSTILE in frame.locator(".lr-legend").first.inner_text()
    box = frame.locator(".lr-main-chart .u-over").bounding_box()
    tab.page.mouse.move(box["x"] + 20, box["y"] + 20)
    assert HOSTILE in frame.locator(".lr-main-chart .lr-tooltip").inner_text()
    frame.locator(".lr-layers").scroll_into_view_if_needed()
    assert write_logs.HOSTILE_VALUE in frame.locator(".lr-layers").inner_text()
    assert frame.locator("img, svg, b").count() == 0
    for markup in ("<img", "<svg", "<b "):
        assert frame.evaluate(f"document.body.innerHTML.includes({markup!r})") is False
    assert tab.dialogs == []


def test_run_filter_and_select_all(tab):
    frame = tab.frame
    frame.locator(".lr-filter").fill("^(plat|man)")
    assert frame.locator(".lr-run-list .lr-run-name").all_text_contents() == ["manual", "plateau"]
    loads = tab.loads()
    frame.locator(".lr-select-none").click()
    tab.wait_for_loads(loads + 1)
    label = chart_label(frame)
    assert "plateau" not in label and "manual" not in label and "cosine: solid" in label
    loads = tab.loads()
    frame.locator(".lr-select-all").click()
    tab.wait_for_loads(loads + 1)
    assert "plateau: solid" in chart_label(frame)
    # An invalid expression still filters, as text, and says so.
    frame.locator(".lr-filter").fill("<img")
    assert frame.locator(".lr-run-list .lr-run-name").all_text_contents() == [HOSTILE]
    assert "Not a regular expression" not in frame.locator(".lr-filter-error").inner_text()
    frame.locator(".lr-filter").fill("(")
    assert "Not a regular expression" in frame.locator(".lr-filter-error").inner_text()


def test_relative_time_axis(tab):
    loads = tab.loads()
    tab.frame.locator("button", has_text="Relative time").click()
    tab.wait_for_loads(loads + 1)
    label = chart_label(tab.frame)
    assert re.search(r"x from \S+ s to \S+ s", label), label
    box = tab.frame.locator(".lr-main-chart .u-over").bounding_box()
    tab.page.mouse.move(box["x"] + 40, box["y"] + 40)
    title = tab.frame.locator(".lr-main-chart .lr-tooltip-title").inner_text()
    assert title.endswith("after start")


def test_schedule_panels_show_kind_and_configuration(tab):
    cards = tab.frame.locator(".lr-schedule-card")
    assert cards.count() == len(RUNS)
    cosine = cards.filter(has=tab.frame.locator("h3", has_text="cosine"))
    rows = dict(row.locator("th, td").all_text_contents() for row in cosine.locator("tr").all())
    assert rows["kind"] == "CosineDecay"
    assert rows["warmup_steps"] == "30"
    assert rows["warmup_target"] == "0.2"
    assert rows["decay_steps"] == "120"
    hostile = cards.filter(has=tab.frame.locator("h3", has_text=HOSTILE))
    assert "PiecewiseConstantDecay" in hostile.inner_text()


def test_hyperparameter_and_layer_charts(tab):
    frame = tab.frame
    section = frame.locator(".lr-small-charts")
    section.scroll_into_view_if_needed()
    # Constant through each run: one table. Changing (`manual`'s momentum): a chart.
    table = section.locator("table.lr-constants")
    table.wait_for()
    columns = table.locator("thead th").all_text_contents()
    assert {"beta_1", "beta_2"} <= set(columns) and "momentum" not in columns
    cosine = table.locator("tbody tr", has=frame.locator("th", has_text="cosine"))
    cells = dict(zip(columns[1:], cosine.locator("td").all_text_contents(), strict=True))
    assert cells["beta_1"] == "0.9" and cells["beta_2"] == "0.999"
    assert section.locator(".lr-card-title").all_text_contents() == ["momentum"]
    momentum = section.locator("[data-chart-id='optimizer:momentum']")
    momentum.scroll_into_view_if_needed()
    frame.wait_for_function(
        "document.querySelector('[data-chart-id=\"optimizer:momentum\"] .lr-plot')"
        "?.getAttribute('aria-label')?.includes('manual: solid')"
    )
    layers = frame.locator(".lr-layers")
    layers.scroll_into_view_if_needed()
    assert layers.locator(".lr-layer-name").all_text_contents() == ["sequential/gate"]
    titles = layers.locator(".lr-card-title").all_text_contents()
    assert sorted(titles) == sorted(["gate_mean", write_logs.HOSTILE_VALUE])
    frame.wait_for_function(
        "document.querySelector('[data-chart-id=\"layer:sequential/gate:gate_mean\"] .lr-plot')"
        "?.getAttribute('aria-label')?.includes('cosine: solid, 150 points')"
    )
    gate = layers.locator("[data-chart-id='layer:sequential/gate:gate_mean'] .lr-plot")
    box = gate.locator(".u-over").bounding_box()
    tab.page.mouse.move(box["x"] + box["width"] / 2, box["y"] + box["height"] / 2)
    tip = gate.locator(".lr-tooltip").inner_text()
    assert "gate_mean" in tip and "cosine" in tip


def luminance(css_color: str) -> float:
    """Relative luminance of an `rgb(...)`/`rgba(...)` colour (0 black, 1 white)."""
    red, green, blue = (int(c) / 255 for c in re.findall(r"\d+", css_color)[:3])
    return 0.2126 * red + 0.7152 * green + 0.0722 * blue


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_constants_table_is_readable_in_both_schemes(board, open_lr_tab, scheme):
    tab = open_lr_tab(board.plugin_page_url, color_scheme=scheme)
    cell = tab.frame.locator("table.lr-constants tbody td").first
    cell.wait_for()
    text, background = cell.evaluate(
        "td => { let node = td; let bg = 'rgba(0, 0, 0, 0)';"
        " while (node && /rgba\\(0, 0, 0, 0\\)|transparent/.test(bg)) {"
        " bg = getComputedStyle(node).backgroundColor; node = node.parentElement; }"
        " return [getComputedStyle(td).color, bg]; }"
    )
    contrast = luminance(text) - luminance(background)
    assert (contrast > 0.4) if scheme == "dark" else (contrast < -0.4), (text, background)


def test_downloads(tab, tmp_path):
    frame = tab.frame
    with tab.page.expect_download() as csv_download:
        frame.locator(".lr-main-chart .lr-download-csv").click()
    lines = csv_download.value.path().read_text().splitlines()
    assert lines[0] == "run,series,step,value,wall_time"
    rows = [line.split(",") for line in lines[1:]]
    assert {row[1] for row in rows} == {"learning_rate", "schedule"}
    assert sum(1 for row in rows if row[0] == "plateau" and row[1] == "learning_rate") == 200
    # The hostile name has no spreadsheet formula character first: written as is, quoted.
    assert any(row[0] == HOSTILE for row in rows)

    with tab.page.expect_download() as json_download:
        frame.locator(".lr-main-chart .lr-download-json").click()
    body = json.loads(json_download.value.path().read_text())
    assert {line["run"] for line in body["lines"]} == set(RUNS)

    with tab.page.expect_download() as png_download:
        frame.locator(".lr-main-chart .lr-download-png").click()
    png = png_download.value.path().read_bytes()
    assert png[:8] == b"\x89PNG\r\n\x1a\n" and len(png) > 5000


def test_follows_dark_mode(board, open_lr_tab, artifacts):
    tab = open_lr_tab(board.plugin_page_url, color_scheme="dark")
    background = tab.frame.evaluate("getComputedStyle(document.body).backgroundColor")
    red, green, blue = map(int, re.findall(r"\d+", background)[:3])
    assert red + green + blue < 150, background
    tab.page.screenshot(path=str(artifacts / "lr_tab_dark.png"))


def test_empty_state_tells_the_three_lines(tmp_path, open_lr_tab):
    empty = tmp_path / "empty"
    empty.mkdir()
    with harness.TensorBoardProcess(empty) as board:
        tab = open_lr_tab(board.plugin_page_url)
        text = tab.frame.locator(".lr-empty").inner_text()
    assert "import tb_lr_plugin as tblr" in text
    assert 'tblr.LearningRateLogger("logs")' in text
    assert "callbacks=[logger]" in text
    assert "tensorboard --logdir logs" in text


def test_auto_refresh_picks_up_new_runs_and_steps(tmp_path, browser_logdir, open_lr_tab):
    """A live training: new runs and new steps show up without reloading the page."""
    logdir = tmp_path / "live"
    logdir.mkdir()
    shutil.copytree(browser_logdir / "cosine", logdir / "cosine")
    with harness.TensorBoardProcess(logdir, "--reload_interval", "1") as board:
        board.wait_for_runs(1)
        tab = open_lr_tab(board.plugin_page_url, prefs={"refreshSeconds": 2})
        assert tab.frame.locator(".lr-run-list .lr-run-name").all_text_contents() == ["cosine"]
        requests = []
        tab.page.on("request", lambda request: requests.append(request.url))
        shutil.copytree(browser_logdir / "plateau", logdir / "plateau")
        board.wait_for_runs(2, timeout=30)
        # TensorBoard may list the run before it has read all of it.
        deadline = time.monotonic() + 30
        while board.get_json("series", run="plateau", name="learning_rate")["total"] < 200:
            assert time.monotonic() < deadline
            time.sleep(0.2)
        tab.frame.wait_for_function(
            "document.querySelector('.lr-main-chart .lr-plot').getAttribute('aria-label')"
            ".includes('plateau: solid, 200 points')",
            timeout=20_000,
        )
        names = tab.frame.locator(".lr-run-list .lr-run-name").all_text_contents()
        assert names == ["cosine", "plateau"]
        assert tab.page.url == board.plugin_page_url  # no reload
        # The unchanged run was only probed (10 points), not fetched again.
        cosine = [url for url in requests if "run=cosine" in url and "/series?" in url]
        assert cosine and all(
            "max_points=10&" in url or url.endswith("max_points=10") for url in cosine
        )
        fetched = [run for query in batch_queries(requests) for run in query["run"]]
        assert "plateau" in fetched and "cosine" not in fetched

        # The Refresh button fetches everything again (after a refresh under way, if any).
        with tab.page.expect_request(
            lambda request: "/batch?" in request.url and "run=cosine" in request.url,
            timeout=20_000,
        ):
            tab.frame.locator("button", has_text="Refresh").click()
