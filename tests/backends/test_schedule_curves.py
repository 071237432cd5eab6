"""The configured curve on JAX: the schedule's traced program run by NumPy, or compiled.

Ground truth: the real schedule object called on each step inside `jax.jit`,
as `fit`'s train step calls it.
"""

from __future__ import annotations

import warnings

import keras
import numpy as np
import pytest
from training_logs import LinearDecay, schedule_at

from tb_lr_plugin import event_format
from tb_lr_plugin.writer import schedule_sampling

pytestmark = pytest.mark.skipif(keras.backend.backend() != "jax", reason="JAX's programs")

if keras.backend.backend() == "jax":
    import jax
    import jax.numpy as jnp

    from tb_lr_plugin.writer import jaxpr_evaluation

schedules = keras.optimizers.schedules
STEPS = 240
SCHEDULES = {
    "cosine": lambda: schedules.CosineDecay(0.1, 200, alpha=0.05),
    "cosine_warmup": lambda: schedules.CosineDecay(0.0, 200, warmup_target=0.2, warmup_steps=20),
    "cosine_restarts": lambda: schedules.CosineDecayRestarts(0.1, 30, t_mul=1.5, m_mul=0.8),
    "exponential": lambda: schedules.ExponentialDecay(0.1, 25, 0.7),
    "staircase": lambda: schedules.ExponentialDecay(0.1, 25, 0.5, staircase=True),
    "piecewise": lambda: schedules.PiecewiseConstantDecay([50, 120], [0.1, 0.05, 0.01]),
    "polynomial_cycle": lambda: schedules.PolynomialDecay(0.1, 70, 0.01, power=2.0, cycle=True),
    "inverse_time": lambda: schedules.InverseTimeDecay(0.1, 10, 0.5, staircase=True),
    "user_defined": lambda: LinearDecay(0.1, STEPS),
}


def as_float32(schedule):
    return lambda step: keras.ops.cast(schedule(step), "float32")


@pytest.mark.parametrize("name", SCHEDULES)
def test_numpy_runs_the_schedules_program_as_jit_does(name):
    schedule = SCHEDULES[name]()
    expected = schedule_at(schedule, range(STEPS))
    steps = np.arange(STEPS, dtype=np.int32)
    values = jaxpr_evaluation.evaluate_elementwise(as_float32(schedule), steps)
    assert values.dtype == np.float32 and values.shape == (STEPS,)
    assert event_format.rates_agree(values, expected, peak=np.max(expected)).all()
    curve = schedule_sampling.sample_schedule(schedule, 0, STEPS)
    np.testing.assert_array_equal(curve, values)
    assert schedule not in schedule_sampling._JAX_MAPS  # Nothing compiled for it.


def test_branches_choose_per_step_and_untaken_ones_do_not_warn():
    def safe_reciprocal(step):
        x = step.astype(jnp.float32) - 2.0
        return jax.lax.cond(x == 0.0, lambda: jnp.float32(-1.0), lambda: 1.0 / x)

    with warnings.catch_warnings():
        warnings.simplefilter("error")  # 1 / 0 computed in the untaken branch.
        values = jaxpr_evaluation.evaluate_elementwise(safe_reciprocal, np.arange(5))
    np.testing.assert_array_equal(values, np.float32([-0.5, -1.0, -1.0, 1.0, 0.5]))


def test_integer_division_rounds_toward_zero_as_lax_does():
    def quotient_and_remainder(step):
        return jax.lax.div(step, 3) * 10 + jax.lax.rem(step, 3)

    steps = np.arange(-7, 8, dtype=np.int32)
    values = jaxpr_evaluation.evaluate_elementwise(quotient_and_remainder, steps)
    np.testing.assert_array_equal(values, jax.vmap(quotient_and_remainder)(steps))


def test_a_program_it_cannot_run_is_refused_and_sampled_compiled():
    table = jnp.linspace(0.1, 0.01, 16)

    def from_table(step):  # Indexes a vector: not elementwise.
        return table[jnp.minimum(step // 10, 15)]

    with pytest.raises(jaxpr_evaluation.UnsupportedProgram):
        jaxpr_evaluation.evaluate_elementwise(from_table, np.arange(4))
    curve = schedule_sampling.sample_schedule(from_table, 0, 200)
    np.testing.assert_array_equal(curve, np.asarray(table)[np.minimum(np.arange(200) // 10, 15)])


def test_a_constant_schedule_fills_every_step():
    values = jaxpr_evaluation.evaluate_elementwise(lambda step: jnp.float32(0.5), np.arange(3))
    np.testing.assert_array_equal(values, np.float32([0.5, 0.5, 0.5]))
    values[0] = 1.0  # Its own array, not a read-only broadcast.
