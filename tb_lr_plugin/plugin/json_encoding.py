"""JSON bodies of the HTTP API: arrays as lists, non-finite floats as `null`.

JSON has no NaN or infinity. `json.dumps` would write the non-standard
tokens `NaN`/`Infinity` (which browsers' `JSON.parse` rejects) and
TensorBoard's own `Respond` turns them into strings; this API writes `null`
instead, and encodes NumPy arrays without a Python loop per element.
"""

from __future__ import annotations

import json
import math
from typing import Any

import numpy as np


def float_list(values: np.ndarray) -> list[float | None]:
    """`values` as a list of Python floats, with `None` where not finite.

    Float32 values are widened to float64 exactly, so `json.dumps` writes
    the shortest text that reads back as the very same number.

    Example:
        >>> float_list(np.array([0.5, np.nan, np.inf]))
        [0.5, None, None]
    """
    values = np.asarray(values, dtype=np.float64)
    finite = np.isfinite(values)
    if finite.all():
        return values.tolist()
    cleaned = values.astype(object)
    cleaned[~finite] = None
    return cleaned.tolist()


def dumps(document: Any) -> str:
    """Serialises a response body: arrays become lists, non-finite floats `null`.

    Example:
        >>> dumps({"steps": np.arange(2), "values": np.array([1.0, np.nan]), "x": math.inf})
        '{"steps": [0, 1], "values": [1.0, null], "x": null}'
    """
    return json.dumps(_jsonable(document), allow_nan=False, ensure_ascii=False)


def _jsonable(value: Any) -> Any:
    if isinstance(value, np.ndarray):
        if value.dtype.kind in "iub":
            return value.tolist()
        return float_list(value)
    if isinstance(value, (float, np.floating)):
        value = float(value)
        return value if math.isfinite(value) else None
    if isinstance(value, np.integer):
        return int(value)
    if isinstance(value, np.bool_):
        return bool(value)
    if isinstance(value, dict):
        return {str(key): _jsonable(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_jsonable(item) for item in value]
    return value
