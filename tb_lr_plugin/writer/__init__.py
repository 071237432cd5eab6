"""The writer side: imports Keras and the backend it runs on. The plugin never imports it."""

from tb_lr_plugin.writer.callback import LearningRateLogger
from tb_lr_plugin.writer.custom_loop import LearningRateWriter
from tb_lr_plugin.writer.event_sink import LogDirError
from tb_lr_plugin.writer.in_layer import (
    NotTrainingError,
    current_epoch,
    current_learning_rate,
    current_step,
    record,
)
from tb_lr_plugin.writer.preview import write_schedule
from tb_lr_plugin.writer.range_test import RangeTestResult, find_learning_rate
from tb_lr_plugin.writer.schedule_sampling import ScheduleSamplingError

__all__ = [
    "LearningRateLogger",
    "LearningRateWriter",
    "LogDirError",
    "NotTrainingError",
    "RangeTestResult",
    "ScheduleSamplingError",
    "current_epoch",
    "current_learning_rate",
    "current_step",
    "find_learning_rate",
    "record",
    "write_schedule",
]
