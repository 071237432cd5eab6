"""Sampling a schedule over every step, against single-step calls of the real schedule."""

from __future__ import annotations

import keras
import numpy as np
import tensorflow as tf
from training_logs import eager_schedule_at

from tb_lr_plugin.writer import schedule_sampling


class InverseOfLastStep(keras.optimizers.schedules.LearningRateSchedule):
    """Elementwise on a scalar, not on a vector: `reduce_max` spans the whole vector."""

    def __call__(self, step):
        step = tf.cast(step, tf.float32)
        return 0.1 / (1.0 + tf.reduce_max(step)) + 0.0 * step

    def get_config(self):
        return {}


def test_a_schedule_that_is_not_elementwise_is_caught_by_the_probes():
    # Called on the vector of steps it would give 0.1 / 50 everywhere; the
    # probes reject that and the per-step fallback gives the true curve.
    curve = schedule_sampling.sample_schedule(InverseOfLastStep(), 0, 50)
    np.testing.assert_allclose(curve, eager_schedule_at(InverseOfLastStep(), range(50)), rtol=1e-6)


def test_keras_schedules_are_sampled_exactly_without_probes():
    schedules = keras.optimizers.schedules
    for schedule in (
        schedules.PiecewiseConstantDecay([5, 9], [0.1, 0.05, 0.01]),
        schedules.CosineDecayRestarts(0.1, 4, t_mul=1.5, m_mul=0.8),
    ):
        curve = schedule_sampling.sample_schedule(schedule, 0, 20)
        np.testing.assert_allclose(curve, eager_schedule_at(schedule, range(20)), rtol=1e-6)
