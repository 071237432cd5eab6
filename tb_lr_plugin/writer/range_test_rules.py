"""What a learning-rate range test's curve says: smoothing, the four rules, divergence.

Pure NumPy over the sweep's arrays, so each rule can be checked on curves
whose answer is known by construction. The rules are fastai's (`valley`, its
default; `slide`; `minimum`; `steep`), written from their published
descriptions; `slide`'s threshold is relative to the curve's range here, so
that it does not depend on the loss's scale.

Each rule reads the smoothed loss without the sweep's first tenth (where the
optimizer's state warms up, and the smoothing with it) and without the
non-finite end of a diverged sweep.
"""

from __future__ import annotations

import numpy as np

from tb_lr_plugin.event_format import Suggestion

# The share of the sweep the rules skip at its start.
SKIPPED_START = 0.1
# `slide`: the window, in steps, and how close the slopes at its ends must be,
# as a share of the smoothed curve's range per step.
SLIDE_WINDOW = 15
SLIDE_THRESHOLD = 0.005
# Growth of the loss from one step to the next that means divergence has
# taken over: the onset is estimated from steps growing faster than this.
DIVERGING_GROWTH = 2.0


class Smoother:
    """The exponential moving average of a loss with weight `beta`, bias-corrected.

    The first value is the first loss; after a non-finite loss every value
    is NaN (nothing after a blow-up is a rate to suggest).

    Example:
        >>> smoother = Smoother(0.5)
        >>> [smoother.add(loss) for loss in (4.0, 2.0, float("nan"), 1.0)]
        [4.0, 2.6666666666666665, nan, nan]
    """

    def __init__(self, beta: float):
        self.beta = beta
        self._average = 0.0
        self._count = 0
        self._broken = False

    def add(self, loss: float) -> float:
        """Takes the next loss; returns the smoothed value at it."""
        if self._broken or not np.isfinite(loss):
            self._broken = True
            return float("nan")
        self._count += 1
        self._average = self.beta * self._average + (1.0 - self.beta) * float(loss)
        return self._average / (1.0 - self.beta**self._count)


def suggestions(rates: np.ndarray, smoothed_losses: np.ndarray) -> list[Suggestion]:
    """One suggestion per rule, in `event_format.RULES` order.

    Example:
        >>> rates = np.geomspace(1e-4, 1.0, 50)
        >>> [s.rule for s in suggestions(rates, np.linspace(2.0, 1.0, 50))]
        ['valley', 'slide', 'minimum', 'steep']
    """
    rates, losses = _readable(rates, smoothed_losses)
    return [
        valley(rates, losses),
        slide(rates, losses),
        minimum(rates, losses),
        steep(rates, losses),
    ]


def valley(rates: np.ndarray, losses: np.ndarray) -> Suggestion:
    """The middle of the longest stretch over which the loss kept falling.

    The stretch ends where the longest strictly decreasing subsequence of
    `losses` ends and is as many steps long (so a plateau before the fall
    does not lengthen it); its middle is halfway in steps (for an
    exponential sweep, the geometric middle of its rates).

    Example:
        >>> rates = np.arange(1.0, 8.0)
        >>> valley(rates, np.array([5.0, 4.0, 3.0, 2.0, 1.0, 3.0, 4.0])).learning_rate
        3.0
    """
    if len(losses) < 3:
        return Suggestion("valley", None, _too_short(len(losses)))
    longest = np.ones(len(losses), np.int64)  # Of a decreasing subsequence ending at each step.
    for i in range(1, len(losses)):
        longest[i] = 1 + np.max(longest[:i], where=losses[:i] > losses[i], initial=0)
    end = int(np.argmax(longest))
    if longest[end] < 3:
        return Suggestion("valley", None, "the smoothed loss never fell over three steps")
    start = end - int(longest[end]) + 1
    return Suggestion("valley", float(rates[start + (end - start) // 2]))


def slide(
    rates: np.ndarray,
    losses: np.ndarray,
    window: int = SLIDE_WINDOW,
    threshold: float = SLIDE_THRESHOLD,
) -> Suggestion:
    """Where the loss is flat just before it turns up.

    A window of `window` steps slides down from the highest rate while the
    loss's slopes at its two ends differ by more than `threshold` times the
    curve's range per step; the rate at its lower end when they first agree.

    Example:
        >>> rates = np.arange(40.0)
        >>> flat_then_up = np.concatenate([np.ones(30), 1.0 + np.arange(1.0, 11.0) ** 2])
        >>> slide(rates, flat_then_up, window=5).learning_rate
        24.0
    """
    if len(losses) < window + 2:
        return Suggestion("slide", None, _too_short(len(losses)))
    spread = float(np.max(losses) - np.min(losses))
    if spread == 0:
        return Suggestion("slide", None, "the smoothed loss did not change")
    slopes = np.gradient(losses) / spread
    for upper in range(len(losses) - 1, window - 1, -1):
        if abs(slopes[upper] - slopes[upper - window]) <= threshold:
            return Suggestion("slide", float(rates[upper - window]))
    return Suggestion("slide", None, "the smoothed loss has no flat stretch before it rises")


def minimum(rates: np.ndarray, losses: np.ndarray) -> Suggestion:
    """A tenth of the rate at the lowest loss.

    Example:
        >>> minimum(np.array([0.1, 1.0, 10.0]), np.array([3.0, 1.0, 2.0])).learning_rate
        0.1
    """
    if len(losses) < 2:
        return Suggestion("minimum", None, _too_short(len(losses)))
    lowest = int(np.argmin(losses))
    if lowest == 0:
        return Suggestion("minimum", None, "the smoothed loss never fell below its first value")
    return Suggestion("minimum", float(rates[lowest]) / 10.0)


def steep(rates: np.ndarray, losses: np.ndarray) -> Suggestion:
    """Where the loss falls fastest per decade of rate.

    The slope at a step is taken across the steps around it (a twentieth of
    the sweep, at least three), so that one noisy batch does not make the
    steepest slope.

    Example:
        >>> rates = np.geomspace(1e-4, 1.0, 41)
        >>> losses = 2.0 - np.tanh((np.arange(41) - 25) / 4.0)  # Steepest at step 25.
        >>> steep(rates, losses).learning_rate == float(rates[25])
        True
    """
    half = max(1, len(losses) // 40)
    if len(losses) < 2 * half + 1:
        return Suggestion("steep", None, _too_short(len(losses)))
    decades = np.log10(rates)
    slopes = (losses[2 * half :] - losses[: -2 * half]) / (
        decades[2 * half :] - decades[: -2 * half]
    )
    fastest = int(np.argmin(slopes))
    if slopes[fastest] >= 0:
        return Suggestion("steep", None, "the smoothed loss never fell")
    return Suggestion("steep", float(rates[fastest + half]))


def divergence(rates: np.ndarray, losses: np.ndarray) -> float | None:
    """The rate at which the loss began to diverge, estimated from how fast it grew.

    Near a minimum the loss is about quadratic, and a step of rate `r`
    multiplies the error along its sharpest direction (curvature `c`) by
    `|1 - r c|`: above `2 / c` the loss grows by `(r c - 1) ** 2` per step.
    So the last step whose loss more than doubled (`DIVERGING_GROWTH`) gives
    `c`, and the onset `2 / c = 2 r / (1 + sqrt(growth))`: the level of the
    loss says nothing there, as the growing error starts far below it.
    Without such a step, the first rate past the lowest loss at which the loss
    exceeded twice its minimum; `None` if it never did.

    Example: least squares with curvature 4 (diverging above 0.5).
        >>> rates = np.array([0.6, 0.7, 0.8])
        >>> growth = (rates * 4.0 - 1.0) ** 2
        >>> losses = np.concatenate([[1.0], np.cumprod(growth)])
        >>> round(divergence(rates, losses[:3]), 6)
        0.5
    """
    losses = np.asarray(losses, np.float64)
    finite = np.isfinite(losses)
    if not finite.any():
        return None
    before, after = losses[:-1], losses[1:]
    with np.errstate(invalid="ignore", divide="ignore", over="ignore"):
        growth = after / before
    diverging = np.flatnonzero(
        finite[:-1] & finite[1:] & (before > 0) & (growth > DIVERGING_GROWTH)
    )
    if len(diverging):
        last = int(diverging[-1])
        return float(2.0 * rates[last] / (1.0 + np.sqrt(growth[last])))
    lowest = int(np.nanargmin(losses))
    with np.errstate(invalid="ignore"):
        beyond = np.flatnonzero(~finite[lowest:] | (losses[lowest:] > 2.0 * losses[lowest]))
    return float(rates[lowest + beyond[0]]) if len(beyond) else None


def _readable(rates: np.ndarray, losses: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The part of the sweep the rules read: no warm-up, no non-finite end."""
    rates = np.asarray(rates, np.float64)
    losses = np.asarray(losses, np.float64)
    finite = np.flatnonzero(~np.isfinite(losses))
    end = int(finite[0]) if len(finite) else len(losses)
    start = int(len(losses) * SKIPPED_START)
    return rates[start:end], losses[start:end]


def _too_short(count: int) -> str:
    return (
        f"only {count} steps of the sweep are readable (it diverged early): lower min_lr "
        "or raise num_steps"
    )
