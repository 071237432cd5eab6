"""Retakes the README's screenshot: the LR tab over `make demo`'s runs, every run selected.

Usage (after `make demo` wrote runs/demo; from the repository root):

    .venv/bin/python demo/screenshot.py runs/demo docs/screenshot.png \
        --update-ratios docs/update_ratios.png --range-test docs/range_test.png

A real `tensorboard` serves the runs and Debian's `chromium` (driven by
Playwright, as in the browser tests) opens TensorBoard's UI at 1440 x 1000 on
the LR tab, light mode. With `--update-ratios`, the "Update ratio" section
(the demo's `update_ratios` run) is captured too, on its own; with
`--range-test`, the "Range test" section (the demo's `range_test` run), with
its suggestion laid over the main chart.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

REPO_ROOT = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO_ROOT / "tests" / "browser"))

import harness  # noqa: E402  (tests/browser: the TensorBoard process and the browser)

VIEWPORT = {"width": 1440, "height": 1000}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("logdir", type=Path)
    parser.add_argument("output", type=Path)
    parser.add_argument("--update-ratios", type=Path, help="also capture that section here")
    parser.add_argument("--range-test", type=Path, help="also capture that section here")
    args = parser.parse_args()
    with harness.TensorBoardProcess(args.logdir) as board, harness.browser() as chromium:
        board.wait_for_runs(1)
        page = chromium.new_context(viewport=VIEWPORT, color_scheme="light").new_page()
        page.goto(board.url + "/#lr")
        frame = harness.wait_for_plugin_frame(page)
        frame.wait_for_selector(".lr-app[data-ready='true']", state="attached", timeout=60_000)
        frame.wait_for_selector("table.lr-constants", timeout=60_000)
        page.wait_for_timeout(500)  # The last paint of the small charts.
        page.screenshot(path=str(args.output))
        print(f"wrote {args.output}")
        if args.update_ratios:
            section = frame.locator(".lr-update-ratios")
            section.scroll_into_view_if_needed()
            frame.wait_for_function(
                "() => (document.querySelector('.lr-ratio-chart .lr-plot')"
                "?.getAttribute('aria-label') || '').includes('points')"
            )
            page.wait_for_timeout(500)
            section.screenshot(path=str(args.update_ratios))
            print(f"wrote {args.update_ratios}")
        if args.range_test:
            section = frame.locator(".lr-range-test")
            section.scroll_into_view_if_needed()
            frame.wait_for_selector(".lr-suggestion-table", timeout=60_000)
            frame.locator(".lr-range-overlay input").check()
            page.wait_for_timeout(500)
            section.screenshot(path=str(args.range_test))
            print(f"wrote {args.range_test}")


if __name__ == "__main__":
    main()
