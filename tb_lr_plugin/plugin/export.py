"""Whole series as downloadable files: CSV for spreadsheets, JSON for scripts.

Every point is written at full resolution and full precision: values are the
float64 widening of what was logged (float32 learning rates read back
exactly), written as the shortest decimal that parses back to the same
number. In CSV a non-finite value is `nan`, `inf` or `-inf` (what NumPy,
pandas and spreadsheets read) and a missing wall time is empty; in JSON both
are `null`.

Example:
    >>> csv_body(np.array([0, 1]), np.array([0.5, np.nan]), np.array([10.0, np.nan]))
    'step,value,wall_time\\n0,0.5,10.0\\n1,nan,\\n'
"""

from __future__ import annotations

import re

import numpy as np

from tb_lr_plugin.plugin import json_encoding

CSV_HEADER = "step,value,wall_time"
CONTENT_TYPES = {"csv": "text/csv", "json": "application/json"}

_UNSAFE_FILENAME = re.compile(r"[^A-Za-z0-9_-]+")


def csv_body(steps: np.ndarray, values: np.ndarray, wall_times: np.ndarray) -> str:
    """The points as CSV: a header row, then `step,value,wall_time` per point.

    Example:
        >>> csv_body(np.array([3]), np.array([np.inf]), np.array([1.5]))
        'step,value,wall_time\\n3,inf,1.5\\n'
    """
    step_text = map(str, np.asarray(steps, dtype=np.int64).tolist())
    value_text = map(repr, np.asarray(values, dtype=np.float64).tolist())
    wall_times = np.asarray(wall_times, dtype=np.float64)
    wall_text = map(repr, wall_times.tolist())
    if not np.isfinite(wall_times).all():
        wall_text = (text if text not in ("nan", "inf", "-inf") else "" for text in wall_text)
    rows = map(",".join, zip(step_text, value_text, wall_text, strict=True))
    return "\n".join([CSV_HEADER, *rows]) + "\n"


def json_body(
    run: str, name: str, steps: np.ndarray, values: np.ndarray, wall_times: np.ndarray
) -> str:
    """The points as a JSON document shaped like a `series` response.

    Example:
        >>> json_body("train", "epoch", np.array([0]), np.array([0.0]), np.array([np.nan]))
        '{"run": "train", "name": "epoch", "steps": [0], "values": [0.0], "wall_times": [null], \
"total": 1}'
    """
    return json_encoding.dumps(
        {
            "run": run,
            "name": name,
            "steps": np.asarray(steps, dtype=np.int64),
            "values": np.asarray(values, dtype=np.float64),
            "wall_times": np.asarray(wall_times, dtype=np.float64),
            "total": len(steps),
        }
    )


def filename(run: str, name: str, output_format: str) -> str:
    """A safe download name for a series, e.g. for `Content-Disposition`.

    Example:
        >>> filename("exp/../train", "optimizer/beta_1", "csv")
        'exp_train__optimizer_beta_1.csv'
    """
    stem = f"{_UNSAFE_FILENAME.sub('_', run)}__{_UNSAFE_FILENAME.sub('_', name)}"
    return f"{stem.strip('_') or 'series'}.{output_format}"
