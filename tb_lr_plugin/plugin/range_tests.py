"""A run's learning-rate range test, as the `range_test` route answers it.

`find_learning_rate` writes one `RangeTest` document per sweep into its run,
so a run swept twice holds two. The answer is the latest readable one (the
route names the damaged ones as problems), with one suggestion per rule of
`event_format.RULES`, in that order, also where a record lacks a rule.

Example:
    >>> test = event_format.RangeTest(
    ...     [1e-3, 1e-2], [1.0, float("nan")], [1.0, 0.9],
    ...     [event_format.Suggestion("valley", 1e-3)], None, "not_finite", {}, "SGD", 1.5e9)
    >>> fields = latest_fields([run_data.Document(test)])
    >>> [(s["rule"], s["learning_rate"]) for s in fields["suggestions"]][:2]
    [('valley', 0.001), ('slide', None)]
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tb_lr_plugin import event_format
from tb_lr_plugin.plugin import run_data

# Where every record is damaged: nothing to draw (the problems say why).
_NOTHING_READABLE = {
    "learning_rates": [],
    "losses": [],
    "smoothed_losses": [],
    "suggestions": [],
    "divergence": None,
    "stopped": None,
    "settings": {},
    "optimizer": None,
    "wall_time": None,
}


def latest_fields(documents: list[run_data.Document]) -> dict[str, Any]:
    """The answer's fields of the latest readable range test among `documents` (write order).

    Example:
        >>> latest_fields([run_data.Document(None)])["learning_rates"]
        []
    """
    readable = [document.content for document in documents if document.content is not None]
    if not readable:
        return dict(_NOTHING_READABLE)
    test = readable[-1]
    fields = dataclasses.asdict(test)
    fields["suggestions"] = [
        dataclasses.asdict(test.suggestion(rule)) for rule in event_format.RULES
    ]
    return fields
