"""Hostile names are text in the LR tab: markup, quotes, bidi, emoji, 2,000 characters.

The runs of write_hostile_logs.py (real writer, real `tensorboard`, real
Chromium): run names, recorded series names and schedule configurations with
`<script>`, `<img onerror>`, `<svg onload>`, quotes, RTL overrides, emoji,
combining marks and 2,000-character names. Every string that could run script
sets `window.__pwned`; the test fails if it is set, if a dialog opened or the
page logged an error (conftest.py), or if any element carrying an event handler
attribute, an `<img>` or an extra `<script>` appeared.
"""

from __future__ import annotations

import pytest
from browser import harness, write_hostile_logs


@pytest.fixture(scope="module")
def hostile_board(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("hostile") / "logs"
    try:
        harness.write_logs("browser/write_hostile_logs.py", logdir)
    except RuntimeError as error:
        pytest.fail(f"writing the hostile logs failed: {error}")
    with harness.TensorBoardProcess(logdir) as process:
        process.wait_for_runs(len(write_hostile_logs.RUNS))
        yield process


_INJECTED = """() => {
  const handlers = [...document.querySelectorAll('*')].filter(
      (node) => [...node.attributes].some((a) => a.name.toLowerCase().startsWith('on')));
  return {
    pwned: window.__pwned ?? null,
    handlers: handlers.map((node) => node.outerHTML.slice(0, 80)),
    images: document.querySelectorAll('img').length,
    scripts: [...document.querySelectorAll('script')].filter(
        (s) => !s.src && s.textContent.includes('pwned')).length,
  };
}"""


def test_hostile_names_show_as_text_and_run_nothing(hostile_board, open_lr_tab):
    tab = open_lr_tab(hostile_board.plugin_page_url)
    frame = tab.frame
    tab.wait_for_loads(1)
    frame.wait_for_selector(".lr-layers .lr-small-chart", timeout=30_000)

    # Each run name, exactly, as the text of its entry in the run list.
    names = frame.locator(".lr-run-list .lr-run-name").all_text_contents()
    assert sorted(names) == sorted(write_hostile_logs.RUNS)
    assert max(len(name) for name in names) == 2000
    # Schedule panels: each run's configuration, markup and all, as text.
    schedules = frame.locator(".lr-schedules").inner_text()
    for config in write_hostile_logs.HOSTILE_CONFIGS.values():
        assert config in schedules, config[:40]
    # Layer charts: the recorded series' names as titles.
    layers = frame.locator(".lr-layers").inner_text()
    for series in write_hostile_logs.HOSTILE_SERIES:
        assert series in layers, series[:40]
    assert write_hostile_logs.HOSTILE_LAYER in layers

    # Hover the chart so the tooltip renders every run's name too.
    box = frame.locator(".lr-main-chart .u-over").bounding_box()
    tab.page.mouse.move(box["x"] + box["width"] * 0.5, box["y"] + box["height"] * 0.5)
    tooltip = frame.locator(".lr-main-chart .lr-tooltip")
    tooltip.wait_for(state="visible")
    assert write_hostile_logs.SCRIPT_RUN in tooltip.inner_text()
    assert write_hostile_logs.QUOTES_RUN in frame.locator(".lr-legend").first.inner_text()

    for target in (frame, tab.page.main_frame):
        found = target.evaluate(_INJECTED)
        assert found == {"pwned": None, "handlers": [], "images": 0, "scripts": 0}, found
