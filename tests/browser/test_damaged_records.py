"""Records damaged after writing: the LR tab draws the rest and says which steps are missing.

One run, `damaged`, holds the learning rate of steps 0-9 in two chunks; the
second has a value byte flipped after it was written. Another,
`damaged_range_test`, holds a range test damaged the same way. A real
`tensorboard` serves them and a real Chromium opens the tab.
"""

from __future__ import annotations

import pytest
from browser import harness
from raw_records import chunk, damaged, write_records

from tb_lr_plugin import event_format


@pytest.fixture(scope="module")
def damaged_board(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("damaged") / "logs"
    write_records(
        logdir / "damaged",
        [
            ("schedule", 0, chunk(range(10), [0.1] * 10), event_format.KIND_SCHEDULE),
            ("learning_rate", 0, chunk(range(5), [0.1] * 5), event_format.KIND_SERIES),
            ("learning_rate", 5, damaged(chunk(range(5, 10), [0.1] * 5)), event_format.KIND_SERIES),
        ],
    )
    sweep = event_format.RangeTest(
        [1e-3, 1e-2],
        [1.0, 0.5],
        [1.0, 0.9],
        [],
        None,
        event_format.STOPPED_COMPLETED,
        {},
        "SGD",
        0.0,
    )
    write_records(
        logdir / "damaged_range_test",
        [
            (
                event_format.RANGE_TEST,
                0,
                damaged(event_format.encode_document(sweep)),
                event_format.KIND_RANGE_TEST,
            )
        ],
    )
    with harness.TensorBoardProcess(logdir) as process:
        process.wait_for_series("damaged", "learning_rate", 5)
        process.wait_for_runs(2)
        yield process


@pytest.mark.parametrize("scheme", ["light", "dark"])
def test_the_tab_names_the_steps_it_could_not_read(damaged_board, open_lr_tab, scheme):
    tab = open_lr_tab(damaged_board.plugin_page_url, color_scheme=scheme)
    tab.wait_for_loads(1)
    problems = tab.frame.locator(".lr-main-chart .lr-card-problems")
    problems.locator("summary").click()
    text = problems.inner_text()
    assert "1 record could not be read" in text
    assert "run damaged, learning_rate, steps 5–9: record at step 5 left out" in text
    assert "checksum mismatch" in text
    # The readable steps are drawn: the legend names the run.
    assert "damaged" in tab.frame.locator(".lr-legend").first.inner_text()


def test_a_damaged_range_test_is_named_not_drawn(damaged_board, open_lr_tab):
    tab = open_lr_tab(damaged_board.plugin_page_url)
    section = tab.frame.locator(".lr-range-test")
    # Said where the chart would be, once the answer is in.
    tab.frame.wait_for_function(
        "() => document.querySelector('.lr-range-chart .lr-status')?.textContent"
        ' === "Nothing readable in this run\'s range test."'
    )
    problems = section.locator(".lr-card-problems")
    problems.locator("summary").click()
    assert "run damaged_range_test: record at step 0 unreadable: checksum mismatch" in (
        problems.inner_text()
    )
    assert section.locator(".lr-range-suggestions").is_hidden()
