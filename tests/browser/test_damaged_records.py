"""Records damaged after writing: the LR tab draws the rest and says which steps are missing.

One run, `damaged`, holds the learning rate of steps 0-9 in two chunks; the
second has a value byte flipped after it was written. A real `tensorboard`
serves it and a real Chromium opens the tab.
"""

from __future__ import annotations

import numpy as np
import pytest
from browser import harness
from tensorboard.compat.proto import event_pb2, summary_pb2, tensor_pb2, types_pb2
from tensorboard.summary.writer.event_file_writer import EventFileWriter

from tb_lr_plugin import event_format


def _record(name: str, steps, values, wall_time: float, damage: bool = False):
    chunk = event_format.Chunk(np.array(steps), np.float32(values), wall_time + np.array(steps))
    payload = event_format.encode_chunk(chunk)
    if damage:
        payload = payload[:-1] + bytes([payload[-1] ^ 0x40])
    kind = event_format.KIND_SERIES if name == "learning_rate" else event_format.KIND_SCHEDULE
    value = summary_pb2.Summary.Value(
        tag=event_format.tag_for(name),
        metadata=event_format.create_metadata(kind),
        tensor=tensor_pb2.TensorProto(dtype=types_pb2.DT_STRING, string_val=[payload]),
    )
    return event_pb2.Event(
        wall_time=wall_time, step=steps[0], summary=summary_pb2.Summary(value=[value])
    )


@pytest.fixture(scope="module")
def damaged_board(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("damaged") / "logs"
    writer = EventFileWriter(str(logdir / "damaged"))
    writer.add_event(_record("schedule", list(range(10)), [0.1] * 10, 1000.0))
    writer.add_event(_record("learning_rate", list(range(5)), [0.1] * 5, 1001.0))
    writer.add_event(_record("learning_rate", list(range(5, 10)), [0.1] * 5, 1002.0, True))
    writer.close()
    with harness.TensorBoardProcess(logdir) as process:
        process.wait_for_series("damaged", "learning_rate", 5)
        yield process


def test_the_tab_names_the_steps_it_could_not_read(damaged_board, open_lr_tab):
    tab = open_lr_tab(damaged_board.plugin_page_url)
    tab.wait_for_loads(1)
    problems = tab.frame.locator(".lr-problems")
    problems.locator("summary").click()
    text = problems.inner_text()
    assert "1 record could not be read" in text
    assert "run damaged, learning_rate, steps 5–9: record at step 5 left out" in text
    assert "checksum mismatch" in text
    # The readable steps are drawn: the legend names the run.
    assert "damaged" in tab.frame.locator(".lr-legend").first.inner_text()
