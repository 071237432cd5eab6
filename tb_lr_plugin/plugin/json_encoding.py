"""JSON bodies of the HTTP API: arrays as lists, non-finite floats as `null`.

JSON has no NaN or infinity. `json.dumps` would write the non-standard
tokens `NaN`/`Infinity` (which browsers' `JSON.parse` rejects) and
TensorBoard's own `Respond` turns them into strings; this API writes `null`
instead, through the same sanitiser as the records (`event_format.json_safe`),
which encodes NumPy arrays without a Python loop per element.
"""

from __future__ import annotations

import json
from typing import Any

from tb_lr_plugin import event_format


def dumps(document: Any) -> str:
    """Serialises a response body: arrays become lists, non-finite floats `null`.

    Float32 values are widened to float64 exactly, so the text is the
    shortest that reads back as the very same number.

    Example:
        >>> import numpy as np
        >>> dumps({"steps": np.arange(2), "values": np.array([1.0, np.nan]), "x": np.inf})
        '{"steps": [0, 1], "values": [1.0, null], "x": null}'
    """
    return json.dumps(event_format.json_safe(document), allow_nan=False, ensure_ascii=False)
