"""JSON bodies of the HTTP API: arrays as lists or packed, non-finite floats as `null`.

JSON has no NaN or infinity. `json.dumps` would write the non-standard
tokens `NaN`/`Infinity` (which browsers' `JSON.parse` rejects) and
TensorBoard's own `Respond` turns them into strings; this API writes `null`
instead, through the same sanitiser as the records (`event_format.json_safe`),
which encodes NumPy arrays without a Python loop per element.

Writing a float as decimal text costs about a microsecond, most of a large
answer's time. A client that asks for packed arrays (the tab does, on
`batch`) gets each NumPy array as `{"dtype": ..., "base64": ...}`: its
little-endian bytes, in the narrowest of `int32`, `float32` and `float64`
that holds every element exactly (integers past `int32` as `float64`, which
is how `JSON.parse` would read them too).
"""

from __future__ import annotations

import base64
import json
from typing import Any

import numpy as np

from tb_lr_plugin import event_format

_INT32 = np.iinfo(np.int32)


def dumps(document: Any, *, packed_arrays: bool = False) -> str:
    """Serialises a response body: arrays become lists (or packed), non-finite floats `null`.

    Float32 values are widened to float64 exactly, so the text is the
    shortest that reads back as the very same number.

    Example:
        >>> import numpy as np
        >>> dumps({"steps": np.arange(2), "values": np.array([1.0, np.nan]), "x": np.inf})
        '{"steps": [0, 1], "values": [1.0, null], "x": null}'
        >>> dumps({"steps": np.arange(2)}, packed_arrays=True)
        '{"steps": {"dtype": "int32", "base64": "AAAAAAEAAAA="}}'
    """
    if packed_arrays:
        document = _packed(document)
    return json.dumps(event_format.json_safe(document), allow_nan=False, ensure_ascii=False)


def pack_array(array: np.ndarray) -> dict[str, str]:
    """`{"dtype", "base64"}`: the array's elements, exactly, as little-endian bytes.

    Example:
        >>> pack_array(np.array([0.5, np.nan]))
        {'dtype': 'float32', 'base64': 'AAAAPwAAwH8='}
        >>> pack_array(np.array([0.1]))["dtype"]
        'float64'
    """
    array = np.asarray(array)
    if array.dtype.kind in "iub":
        fits = array.size == 0 or (_INT32.min <= array.min() and array.max() <= _INT32.max)
        packed = array.astype("<i4") if fits else array.astype("<f8")
    else:
        with np.errstate(over="ignore"):  # A float32 overflow is just not exact.
            packed = array.astype("<f4")
        same = packed == array
        if not (same.all() or (same | np.isnan(array)).all()):
            packed = array.astype("<f8")
    return {"dtype": packed.dtype.name, "base64": base64.b64encode(packed.data).decode("ascii")}


def _packed(value: Any) -> Any:
    if isinstance(value, np.ndarray) and value.dtype.kind in "iubf":
        return pack_array(value)
    if isinstance(value, dict):
        return {key: _packed(item) for key, item in value.items()}
    if isinstance(value, (list, tuple)):
        return [_packed(item) for item in value]
    return value
