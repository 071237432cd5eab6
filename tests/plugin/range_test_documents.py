"""Hand-made range tests, as `find_learning_rate` writes them, for the reader's tests.

`RECORDS` holds, per run of `edge_logdir`, the payloads written in order
(one second apart) and `SERVED` the document the `range_test` route must
answer with (`None`: none is readable):

* `range_test`: two sweeps; the later one wins.
* `range_test_damaged`: a sweep without a `steep` suggestion, then a later
  one damaged after writing: the first is served, the damage named.
* `range_test_unreadable`: only a damaged sweep.
"""

from __future__ import annotations

import numpy as np
from raw_records import damaged

from tb_lr_plugin import event_format

STEPS = 40


def sweep(first_loss: float, optimizer: str, rules=event_format.RULES) -> event_format.RangeTest:
    """40 rates from 1e-5 to 1: the loss falls, flattens, blows up, and is NaN at the end.

    Example:
        >>> sweep(1.0, "SGD").stopped
        'not_finite'
    """
    rates = np.geomspace(1e-5, 1.0, STEPS)
    losses = first_loss * (1.0 / (1.0 + 100 * rates) + (rates / 0.1) ** 3)
    losses[-1] = np.nan
    smoothed = [float(losses[0])]
    for loss in losses[1:-1]:
        smoothed.append(0.7 * smoothed[-1] + 0.3 * float(loss))
    smoothed.append(np.nan)
    suggestions = {
        "valley": event_format.Suggestion("valley", 3e-3),
        "slide": event_format.Suggestion("slide", 8e-3),
        "minimum": event_format.Suggestion("minimum", 2e-3),
        "steep": event_format.Suggestion("steep", None, "the loss never fell by 1%"),
    }
    return event_format.RangeTest(
        learning_rates=rates.tolist(),
        losses=losses.tolist(),
        smoothed_losses=smoothed,
        suggestions=[suggestions[rule] for rule in rules],
        divergence=0.15,
        stopped=event_format.STOPPED_NOT_FINITE,
        settings={"min_lr": 1e-5, "max_lr": 1.0, "num_steps": STEPS, "mode": "exponential"},
        optimizer=optimizer,
        wall_time=1000.0,
    )


_EARLIER = sweep(2.0, "Adam")
_LATEST = sweep(1.0, "SGD")
_WITHOUT_STEEP = sweep(0.5, "RMSprop", rules=("valley", "slide", "minimum"))

RECORDS = {
    "range_test": [
        event_format.encode_document(_EARLIER),
        event_format.encode_document(_LATEST),
    ],
    "range_test_damaged": [
        event_format.encode_document(_WITHOUT_STEEP),
        damaged(event_format.encode_document(_LATEST)),
    ],
    "range_test_unreadable": [damaged(event_format.encode_document(_LATEST))],
}
SERVED = {
    "range_test": _LATEST,
    "range_test_damaged": _WITHOUT_STEEP,
    "range_test_unreadable": None,
}
