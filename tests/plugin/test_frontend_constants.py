"""The names and limits the frontend shares with the server are the server's.

`frontend/src/constants.js` holds every one of them on the JavaScript side;
this reads its `export const` lines (no JavaScript runs) and compares each
with the Python constant it copies, and checks that no other module spells
a series name of its own.
"""

from __future__ import annotations

import json
import pathlib
import re

from tb_lr_plugin import event_format
from tb_lr_plugin.plugin import http_queries

FRONTEND = pathlib.Path(__file__).resolve().parents[2] / "frontend" / "src"

PYTHON_VALUES = {
    "LEARNING_RATE": event_format.LEARNING_RATE,
    "EPOCH": event_format.EPOCH,
    "SCHEDULE": event_format.SCHEDULE,
    "OPTIMIZER_PREFIX": event_format.OPTIMIZER + "/",
    "LAYERS_PREFIX": event_format.LAYERS + "/",
    "UPDATE_RATIO_PREFIX": event_format.UPDATE_RATIO + "/",
    "GRADIENT_NORM": event_format.GRADIENT_NORM,
    "SKIPPED_UPDATES": event_format.SKIPPED_UPDATES,
    "SAMPLED_EVERY_STEP": event_format.SAMPLED_EVERY_STEP,
    "SAMPLED_ON_CHANGE": event_format.SAMPLED_ON_CHANGE,
    "SOURCE_CALLBACK": event_format.SOURCE_CALLBACK,
    "SOURCE_MANUAL": event_format.SOURCE_MANUAL,
    "SOURCE_UNKNOWN": event_format.SOURCE_UNKNOWN,
    "MIN_MAX_POINTS": http_queries.MIN_MAX_POINTS,
    "CURVES": http_queries.CURVES,
    "MARKS": http_queries.MARKS,
    "HYPERPARAMETERS": http_queries.HYPERPARAMETERS,
    "EXPORT_FORMATS": list(http_queries.EXPORT_FORMATS),
    "MAX_COLUMNS": http_queries.MAX_COLUMNS,
    "RANGE_TEST_RULES": list(event_format.RULES),
    "STOPPED_COMPLETED": event_format.STOPPED_COMPLETED,
    "STOPPED_DIVERGED": event_format.STOPPED_DIVERGED,
    "STOPPED_NOT_FINITE": event_format.STOPPED_NOT_FINITE,
    "STOPPED_OUT_OF_DATA": event_format.STOPPED_OUT_OF_DATA,
}


def javascript_constants() -> dict[str, object]:
    text = (FRONTEND / "constants.js").read_text()
    found = {}
    for name, literal in re.findall(r"^export const (\w+) = (.+);$", text, re.MULTILINE):
        found[name] = json.loads(literal.replace("'", '"'))  # Plain literals only.
    return found


def test_every_shared_constant_is_the_servers():
    assert javascript_constants() == PYTHON_VALUES


def test_no_other_module_spells_a_series_name():
    names = [
        event_format.LEARNING_RATE,
        event_format.OPTIMIZER + "/",
        event_format.LAYERS + "/",
        event_format.UPDATE_RATIO + "/",
        event_format.GRADIENT_NORM,
        event_format.SKIPPED_UPDATES,
    ]
    for path in FRONTEND.glob("*.js"):  # Not vendor/.
        if path.name == "constants.js":
            continue
        code = re.sub(r"^\s*(//|\*|/\*).*$", "", path.read_text(), flags=re.MULTILINE)
        for name in names:
            assert not re.search(rf"['\"`/^]{re.escape(name)}", code), (path.name, name)
