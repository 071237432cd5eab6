"""tb-lr-plugin: the learning rate your optimizer applied, in TensorBoard's LR tab.

Writer side (imports TensorFlow and Keras, loaded on first use)::

    import tb_lr_plugin as tblr
    model.fit(x, y, callbacks=[tblr.LearningRateLogger("logs")])

Reader side: the TensorBoard plugin `tb_lr_plugin.plugin`, found by
TensorBoard through its entry point. Importing this package alone imports
neither TensorFlow nor Keras, so the plugin loads without them.
"""

from __future__ import annotations

import importlib
from typing import Any

__version__ = "0.1.0"

_WRITER_NAMES = (
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
)

__all__ = [*_WRITER_NAMES, "__version__"]


def __getattr__(name: str) -> Any:
    # Lazy: TensorBoard imports this package to load the plugin, and must not
    # pay for (or need) TensorFlow.
    if name in _WRITER_NAMES:
        value = getattr(importlib.import_module("tb_lr_plugin.writer"), name)
        globals()[name] = value  # Looked up once: `record` may be called per step.
        return value
    raise AttributeError(f"module 'tb_lr_plugin' has no attribute {name!r}")


def __dir__() -> list[str]:
    return sorted(__all__)
