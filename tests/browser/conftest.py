"""Fixtures of the browser tests: real logs, a real `tensorboard`, a real Chromium.

The logdir is written once per session by `write_logs.py` (the real logger and
writer, in a subprocess); one `tensorboard` process serves it to every test;
each test opens the LR tab in a fresh browser context (fresh storage) and fails
if the page logged a console error, threw, or opened a dialog.
"""

from __future__ import annotations

import dataclasses
import json
import os
from pathlib import Path

import pytest
from browser import harness

HERE = Path(__file__).resolve().parent
ARTIFACTS = harness.REPO_ROOT / "test-artifacts"
VIEWPORT = {"width": 1400, "height": 1000}
PREFS_KEY = "tb-lr-plugin.prefs"  # frontend/src/preferences.js


def pytest_collection_modifyitems(config, items):
    # Without a browser these tests are skipped on a developer's machine; in CI
    # (CI set) they run and fail, so a missing install step cannot pass unseen.
    if harness.chromium_path() is not None or os.environ.get("CI"):
        return
    skip = pytest.mark.skip(reason="no chromium on the PATH (apt-get install chromium)")
    for item in items:
        if HERE in Path(str(item.fspath)).parents:
            item.add_marker(skip)


@pytest.fixture(scope="session")
def browser_logdir(tmp_path_factory) -> Path:
    """The runs described in write_logs.py."""
    logdir = tmp_path_factory.mktemp("browser") / "logs"
    try:
        harness.write_logs("browser/write_logs.py", logdir)
    except RuntimeError as error:
        pytest.fail(f"writing the browser tests' logs failed: {error}")
    return logdir


@pytest.fixture(scope="session")
def board(browser_logdir):
    """`tensorboard --logdir` over `browser_logdir`, default flags, loaded."""
    with harness.TensorBoardProcess(browser_logdir) as process:
        process.wait_for_runs(4)
        yield process


@pytest.fixture(scope="session")
def chromium():
    """One headless Chromium for the session."""
    with harness.browser() as instance:
        yield instance


@pytest.fixture(scope="session")
def artifacts() -> Path:
    """Where screenshots go (gitignored)."""
    ARTIFACTS.mkdir(exist_ok=True)
    return ARTIFACTS


@dataclasses.dataclass
class Tab:
    """An open LR tab and what its page reported."""

    page: object
    frame: object
    errors: list[str] = dataclasses.field(default_factory=list)
    dialogs: list[str] = dataclasses.field(default_factory=list)
    requests: list[str] = dataclasses.field(default_factory=list)  # URLs, from the first.

    def wait_for_loads(self, count: int, timeout: float = 20_000) -> None:
        """Waits until the app has finished `count` loads (its `data-loads`)."""
        self.frame.wait_for_function(
            "n => Number(document.querySelector('.lr-app')?.dataset.loads || 0) >= n",
            arg=count,
            timeout=timeout,
        )

    def loads(self) -> int:
        return int(self.frame.evaluate("document.querySelector('.lr-app').dataset.loads || 0"))


def open_tab(
    browser,
    url: str,
    *,
    color_scheme: str = "light",
    in_tensorboard: bool = False,
    prefs: dict | None = None,
) -> Tab:
    """Opens the LR tab in a fresh context and waits for its first render.

    `prefs` are stored as the tab's saved preferences before it loads.
    """
    context = browser.new_context(
        viewport=VIEWPORT, color_scheme=color_scheme, accept_downloads=True
    )
    if prefs is not None:
        context.add_init_script(
            f"localStorage.setItem({json.dumps(PREFS_KEY)}, {json.dumps(json.dumps(prefs))})"
        )
    page = context.new_page()
    tab = Tab(page=page, frame=page.main_frame)

    def on_console(message):
        # A top-level page of TensorBoard's has no icon; Chromium asks for one anyway.
        if message.type == "error" and not message.location.get("url", "").endswith("/favicon.ico"):
            tab.errors.append(f"{message.text} at {message.location}")

    def on_dialog(dialog):
        tab.dialogs.append(dialog.message)
        dialog.dismiss()

    page.on("console", on_console)
    page.on("pageerror", lambda error: tab.errors.append(f"uncaught: {error}"))
    page.on("dialog", on_dialog)
    page.on("request", lambda request: tab.requests.append(request.url))
    page.goto(url)
    if in_tensorboard:
        tab.frame = harness.wait_for_plugin_frame(page)
    tab.frame.wait_for_selector(".lr-app[data-ready='true']", state="attached", timeout=30_000)
    return tab


@pytest.fixture
def open_lr_tab(chromium):
    """Opens LR tabs; after the test, checks none logged an error or opened a dialog."""
    tabs: list[Tab] = []

    def opener(url: str, **options) -> Tab:
        tab = open_tab(chromium, url, **options)
        tabs.append(tab)
        return tab

    yield opener
    try:
        for tab in tabs:
            assert tab.errors == [], f"console errors: {tab.errors}"
            assert tab.dialogs == [], f"dialogs opened: {tab.dialogs}"
    finally:
        for tab in tabs:
            tab.page.context.close()


@pytest.fixture
def tab(board, open_lr_tab) -> Tab:
    """The LR tab's page over the session's logdir, opened directly (TensorBoard's iframe URL)."""
    return open_lr_tab(board.plugin_page_url)
