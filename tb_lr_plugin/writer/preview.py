"""`write_schedule`: a schedule's curve in TensorBoard before any training."""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Callable

import keras

from tb_lr_plugin import event_format
from tb_lr_plugin.writer import configured_curves, event_sink, recorder, run_directories


def write_schedule(
    log_dir: str | os.PathLike,
    schedule: keras.optimizers.schedules.LearningRateSchedule | Callable | float,
    total_steps: int,
    *,
    run_name: str = "train",
) -> str:
    """Writes a schedule's curve over `[0, total_steps)`, without training.

    Open the LR tab to look at it; a later `LearningRateLogger` in the same
    run draws the applied rate over it.

    Args:
        log_dir: The directory TensorBoard is pointed at.
        schedule: A `LearningRateSchedule` (evaluated with the real object),
            any callable of the step, or a float.
        total_steps: How many steps to draw.
        run_name: The run subdirectory; `""` writes into `log_dir` itself.

    Returns:
        The run directory written.

    Raises:
        LogDirError: when the run directory cannot be written.
        ScheduleSamplingError: when the schedule cannot be evaluated.

    Example:
        >>> import tempfile
        >>> cosine = keras.optimizers.schedules.CosineDecay(0.1, 10_000)
        >>> run_dir = write_schedule(tempfile.mkdtemp(), cosine, 10_000, run_name="cosine")
        >>> os.path.basename(run_dir)
        'cosine'

    """
    if int(total_steps) != total_steps or total_steps <= 0:
        raise ValueError(f"total_steps must be a positive integer, got {total_steps!r}")
    if isinstance(schedule, (int, float)):
        curve = configured_curves.ConstantCurve(schedule)
    elif callable(schedule):
        curve = configured_curves.ScheduleCurve(schedule)
    else:
        raise TypeError(
            f"schedule must be a LearningRateSchedule, a callable or a float, got {schedule!r}"
        )
    run_dir = run_directories.run_directory(log_dir, run_name)
    sink = event_sink.EventSink(run_dir)
    try:
        recorder.write_curve(sink, curve, 0, int(total_steps))
        sink.write_document(
            event_format.SCHEDULE_CONFIG,
            0,
            dataclasses.replace(curve.describe(), total_steps=int(total_steps)),
        )
    finally:
        sink.close()
    return run_dir
