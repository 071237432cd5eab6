"""The configured learning-rate curve: what the user asked the rate to be.

Three things configure a rate in Keras 3, and each gives a curve over steps:
a `LearningRateSchedule` (a function of the step), a
`keras.callbacks.LearningRateScheduler` (a function of the epoch, applied at
each epoch's start), or a plain float (flat). Each curve also describes itself
(`event_format.ScheduleConfig`) for the schedule panel.
"""

from __future__ import annotations

import warnings
from typing import Protocol

import keras
import numpy as np

from tb_lr_plugin import event_format
from tb_lr_plugin.writer import keras_internals, schedule_sampling, step_convention


class ConfiguredCurve(Protocol):
    """A configured rate, evaluable at any step range."""

    def sample(self, start: int, stop: int) -> np.ndarray:
        """The configured rate at every step of `[start, stop)`, float32."""

    def describe(self) -> event_format.ScheduleConfig:
        """What configured the curve (without the planned length)."""


class ScheduleCurve:
    """A `LearningRateSchedule`, evaluated with the real object.

    Args:
        schedule: The optimizer's schedule.
        micro_batches_per_update: The optimizer's `gradient_accumulation_steps`
            (1 without accumulation): Keras steps the schedule per micro-batch.

    Example:
        >>> curve = ScheduleCurve(keras.optimizers.schedules.CosineDecay(0.1, 100))
        >>> curve.describe().kind
        'CosineDecay'
    """

    def __init__(
        self,
        schedule: keras.optimizers.schedules.LearningRateSchedule,
        micro_batches_per_update: int = 1,
    ):
        self.schedule = schedule
        self.micro_batches_per_update = micro_batches_per_update

    def sample(self, start: int, stop: int) -> np.ndarray:
        k = self.micro_batches_per_update
        first = step_convention.schedule_argument(start, k)
        last = step_convention.schedule_argument(stop, k)
        # Every micro-batch's value, one in k kept: a vector call costs little.
        return schedule_sampling.sample_schedule(self.schedule, first, last)[::k]

    def describe(self) -> event_format.ScheduleConfig:
        try:
            config = self.schedule.get_config()
        except Exception as error:  # A user schedule may not implement it.
            warnings.warn(f"tb_lr_plugin: the schedule's get_config() raised {error!r}")
            config = {"error": f"get_config() raised {error!r}"}
        unsupported: list = []
        safe = event_format.json_safe(config, unsupported)
        if unsupported:
            warnings.warn(
                "tb_lr_plugin: the schedule's get_config() is not JSON-serialisable; "
                "what is not is shown as its repr"
            )
        return event_format.ScheduleConfig(
            type(self.schedule).__name__, "LearningRateSchedule", safe
        )


class EpochCurve:
    """A `LearningRateScheduler` epoch function, chained over the planned epochs.

    Example:
        >>> curve = EpochCurve(lambda epoch, lr: lr * 0.5, 1.0, first_epoch=0,
        ...                    epochs=3, first_step=0, steps_per_epoch=2)
        >>> curve.sample(0, 6).tolist()
        [0.5, 0.5, 0.25, 0.25, 0.125, 0.125]
    """

    def __init__(self, function, initial_rate, *, first_epoch, epochs, first_step, steps_per_epoch):
        self.function = function
        self.first_step = first_step
        self.steps_per_epoch = steps_per_epoch
        self.rates = np.float32(
            schedule_sampling.chain_epoch_function(function, initial_rate, first_epoch, epochs)
        )
        self.config = {
            "function": getattr(function, "__qualname__", repr(function)),
            "initial_learning_rate": float(initial_rate),
            "first_epoch": first_epoch,
            "epochs": epochs,
            "steps_per_epoch": steps_per_epoch,
        }

    def sample(self, start: int, stop: int) -> np.ndarray:
        epoch_index = step_convention.epoch_of_update(
            np.arange(start, stop), self.first_step, self.steps_per_epoch
        )
        # Before the first epoch and after the last, the nearest epoch's rate.
        return self.rates[np.clip(epoch_index, 0, len(self.rates) - 1)]

    def describe(self) -> event_format.ScheduleConfig:
        return event_format.ScheduleConfig(
            "LearningRateScheduler", "LearningRateScheduler", event_format.json_safe(self.config)
        )


class ConstantCurve:
    """A float learning rate with nothing scheduled: a flat line.

    Example:
        >>> ConstantCurve(0.01).sample(0, 2).tolist()
        [0.009999999776482582, 0.009999999776482582]
    """

    def __init__(self, rate: float):
        self.rate = float(rate)

    def sample(self, start: int, stop: int) -> np.ndarray:
        return np.full(max(0, stop - start), self.rate, np.float32)

    def describe(self) -> event_format.ScheduleConfig:
        return event_format.ScheduleConfig("constant", "float", {"learning_rate": self.rate})


def curve_of(optimizer: keras.optimizers.Optimizer) -> ConfiguredCurve | None:
    """The curve an optimizer's own `learning_rate` configures, if it has one.

    Example:
        >>> curve_of(keras.optimizers.SGD(0.1)).describe().kind
        'constant'
    """
    rate = keras_internals.rate_setting(optimizer)
    if isinstance(rate, keras.optimizers.schedules.LearningRateSchedule):
        return ScheduleCurve(rate, step_convention.micro_batches_per_update(optimizer))
    if keras_internals.is_variable(rate):
        return ConstantCurve(float(rate.numpy()))
    return None
