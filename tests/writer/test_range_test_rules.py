"""The range test's rules on loss curves whose answer is known by construction."""

from __future__ import annotations

import numpy as np
import pytest

from tb_lr_plugin.writer import range_test_rules as rules

STEPS = 100
RATES = np.geomspace(1e-6, 10.0, STEPS)  # One decade every 14.1 steps.


def curve(flat_until: int, falls_until: int, rises: float = 2.0) -> np.ndarray:
    """Flat at 2, then a straight fall (per step) to 1, then a convex rise."""
    losses = np.full(STEPS, 2.0)
    falling = np.arange(flat_until, falls_until + 1)
    losses[falling] = 2.0 - (falling - flat_until) / (falls_until - flat_until)
    after = np.arange(falls_until + 1, STEPS) - falls_until
    losses[falls_until + 1 :] = 1.0 + rises * (after / 10.0) ** 2
    return losses


def test_valley_is_the_middle_of_the_longest_fall():
    # Falls from step 30 (its last flat value starts the run) to step 70.
    suggestion = rules.valley(RATES, curve(30, 70))
    assert suggestion.learning_rate == RATES[50]


def test_valley_skips_a_shorter_earlier_fall():
    losses = curve(60, 90)
    losses[15:25] = np.linspace(1.9, 1.5, 10)  # Ten falling steps, then back up to 2.
    assert rules.valley(RATES, losses).learning_rate == RATES[75]


def test_minimum_is_a_tenth_of_the_rate_at_the_lowest_loss():
    assert rules.minimum(RATES, curve(30, 70)).learning_rate == pytest.approx(RATES[70] / 10)


def test_steep_is_where_the_loss_falls_fastest_per_decade():
    losses = 2.0 - np.tanh((np.arange(STEPS) - 43) / 6.0)  # Steepest at step 43.
    assert rules.steep(RATES, losses).learning_rate == RATES[43]


def test_steep_is_not_fooled_by_one_noisy_batch():
    losses = 2.0 - np.tanh((np.arange(STEPS) - 60) / 8.0)
    losses[20] -= 0.3  # One batch's dip, steeper than the fall over two steps.
    assert rules.steep(RATES, losses).learning_rate == RATES[60]


def test_steep_measures_per_decade_not_per_step():
    # A linear sweep: equal drops per step are steepest per decade at the high end.
    rates = np.linspace(0.01, 1.0, 50)
    losses = np.linspace(2.0, 1.0, 50)
    assert rules.steep(rates, losses).learning_rate == rates[-2]


def test_slide_finds_the_flat_stretch_one_window_below_the_rise():
    # Falls to 1 by step 50, flat until step 85, then rises convexly: the
    # first window from the top whose ends' slopes agree ends at step 85.
    losses = curve(20, 50)
    losses[50:86] = 1.0
    losses[86:] = 1.0 + 2.0 * (np.arange(1, STEPS - 85) / 10.0) ** 2
    assert rules.slide(RATES, losses).learning_rate == RATES[85 - rules.SLIDE_WINDOW]


def test_rules_without_an_answer_say_why():
    rising = np.linspace(1.0, 3.0, STEPS)
    for rule in (rules.valley, rules.minimum, rules.steep):
        suggestion = rule(RATES, rising)
        assert suggestion.learning_rate is None
        assert suggestion.reason
    assert rules.slide(RATES, np.ones(STEPS)).reason == "the smoothed loss did not change"
    assert "diverged early" in rules.minimum(RATES[:1], np.ones(1)).reason


def test_suggestions_skip_the_warm_up_and_the_non_finite_end():
    losses = curve(30, 70)
    losses[:10] = 0.5  # A warm-up artefact below everything: skipped.
    losses[90:] = np.nan
    by_rule = {s.rule: s for s in rules.suggestions(RATES, losses)}
    assert by_rule["minimum"].learning_rate == pytest.approx(RATES[70] / 10)
    assert by_rule["valley"].learning_rate == RATES[50]


@pytest.mark.parametrize("curvature", [0.5, 4.0, 300.0])
def test_divergence_is_the_critical_rate_of_a_quadratic(curvature):
    # Gradient descent on c/2 * w^2: w grows by |1 - r c| per step, the loss by its square.
    rates = np.geomspace(1e-3 / curvature, 100.0 / curvature, 80)
    w, losses = 1.0, []
    for rate in rates:
        losses.append(curvature / 2 * w * w + 0.01)  # A noise floor the error starts below.
        w *= 1.0 - rate * curvature
    estimate = rules.divergence(rates, np.array(losses))
    assert estimate == pytest.approx(2.0 / curvature, rel=0.1)


def test_divergence_without_fast_growth_is_where_the_loss_doubled():
    losses = np.array([4.0, 3.0, 2.0, 1.0, 1.5, 1.9, 2.1, 2.5])
    assert rules.divergence(np.arange(1.0, 9.0), losses) == 7.0
    assert rules.divergence(np.arange(1.0, 5.0), np.array([4.0, 3.0, 2.0, 1.0])) is None


def test_smoothing_is_the_bias_corrected_moving_average():
    smoother = rules.Smoother(0.9)
    losses = np.random.default_rng(0).uniform(1.0, 2.0, 30)
    smoothed = [smoother.add(loss) for loss in losses]
    weights = 0.9 ** np.arange(29, -1, -1)
    assert smoothed[-1] == pytest.approx(np.sum(weights * losses) / np.sum(weights))
