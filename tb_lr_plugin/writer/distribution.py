"""Distributed training: which set-ups the writer supports, and which process writes.

TensorFlow's `tf.distribute`: under `MirroredStrategy` every replica runs the
same update, so the rate the step tap captures is the same on each and is
written once. `CentralStorageStrategy` (the variables on one device, the step
on every local replica) is logged the same way, also with
`steps_per_execution > 1`. Under
`MultiWorkerMirroredStrategy` every worker runs the same program: the taps
stay installed on every worker (the compiled step, and the collectives
`record` adds to it, must be identical everywhere, or the workers wait on each
other forever), but only the chief drains its ring and writes event files.
The other workers create no writer and never read their ring.

`ParameterServerStrategy` and `TPUStrategy` are detected and refused with a
warning: the logger then does nothing and training runs as without it.

JAX (`keras.distribution`, e.g. `DataParallel`): the optimizer's variables,
the ring among them, are replicated, so one value per step is read; with
several processes (`jax.distributed`) every process captures, process 0
writes. PyTorch: the process of rank 0 writes (rank per `torch.distributed`).
"""

from __future__ import annotations

import json
import os
import warnings
from typing import Any

import keras

from tb_lr_plugin.writer import in_layer, keras_internals, optimizer_hooks, step_convention
from tb_lr_plugin.writer.tapped_optimizers import tapped_optimizers

# Why each refused strategy cannot be logged, by the name of its class (or a
# base class): the V1 and experimental aliases share these prefixes. Only the
# strategy's class counts: CentralStorageStrategy, supported, shares
# ParameterServerStrategy's `extended` class.
_UNSUPPORTED = {
    "ParameterServerStrategy": (
        "its updates run asynchronously on remote workers, so no process sees the step "
        "each update applied"
    ),
    "TPUStrategy": (
        "the capture writes a ring buffer variable on the host from inside the train step, "
        "which is not made for (nor tested on) TPU-compiled steps"
    ),
}


def unsupported_reason(strategy: Any) -> str | None:
    """Why the writer cannot log under a `tf.distribute` strategy (or class), or `None`.

    Example:
        >>> unsupported_reason(None) is None  # Another backend: no strategy.
        True
        >>> class TPUStrategy: ...
        >>> unsupported_reason(TPUStrategy).split(":")[0]
        'TPUStrategy is not supported'
    """
    if strategy is None:
        return None
    cls = strategy if isinstance(strategy, type) else type(strategy)
    for base in cls.__mro__:
        for prefix, reason in _UNSUPPORTED.items():
            if base.__name__.startswith(prefix):
                return f"{prefix} is not supported: {reason}"
    return None


def warn_unsupported(owner: str, reason: str) -> None:
    """The one warning an unsupported strategy gets: logging is off, training goes on."""
    warnings.warn(
        f"tb_lr_plugin: {owner} records nothing under this tf.distribute strategy and "
        f"training continues without it. {reason}. Supported: the default strategy, "
        "OneDeviceStrategy, MirroredStrategy, CentralStorageStrategy and "
        "MultiWorkerMirroredStrategy.",
        stacklevel=3,
    )


def writes_logs(strategy: Any) -> bool:
    """Whether this process writes event files: the chief worker, or the only process.

    `strategy` is the model's `tf.distribute` strategy, `None` on another backend.

    Example:
        >>> writes_logs(model_strategy(keras.Sequential()))
        True
    """
    if strategy is None:
        return process_index() == 0
    try:
        return bool(strategy.extended.should_save_summary)
    except (AttributeError, NotImplementedError):  # A strategy without the property.
        return True


def process_index() -> int:
    """This process's index among those training together (0 when alone), off TensorFlow.

    JAX's `jax.process_index()`; PyTorch's rank under `torch.distributed`.

    Example:
        >>> process_index()
        0
    """
    backend = keras.backend.backend()
    if backend == "jax":
        import jax

        return jax.process_index()
    if backend == "torch":
        import torch.distributed

        if torch.distributed.is_available() and torch.distributed.is_initialized():
            return torch.distributed.get_rank()
    return 0


def model_strategy(model: keras.Model) -> Any:
    """The `tf.distribute` strategy a model trains under (`None` on another backend).

    Example:
        >>> tf = keras_internals.backend_tensorflow()
        >>> model_strategy(keras.Sequential()) is (tf and tf.distribute.get_strategy())
        True
    """
    tf = keras_internals.backend_tensorflow()
    if tf is None:
        return None
    strategy = getattr(model, "distribute_strategy", None)
    if isinstance(strategy, tf.distribute.Strategy):
        return strategy
    return tf.distribute.get_strategy()


def optimizer_strategy(optimizer: keras.optimizers.Optimizer) -> Any:
    """The `tf.distribute` strategy `optimizer` was created under (`None` off TensorFlow).

    Keras keeps it on TensorFlow-backend optimizers; otherwise the strategy in
    scope now.

    Example:
        >>> tf = keras_internals.backend_tensorflow()
        >>> optimizer_strategy(keras.optimizers.SGD()) is (tf and tf.distribute.get_strategy())
        True
    """
    tf = keras_internals.backend_tensorflow()
    if tf is None:
        return None
    return keras_internals.optimizer_strategy(optimizer) or tf.distribute.get_strategy()


def chief_by_environment() -> bool:
    """Whether this process is the chief, before any strategy is in scope.

    In scope, the strategy says; outside, `TF_CONFIG` (what
    `MultiWorkerMirroredStrategy` reads by default): the task `chief`, or
    worker 0 of a cluster without one. Without a cluster: `True`.

    Example:
        >>> os.environ.get("TF_CONFIG") is not None or chief_by_environment()
        True
    """
    tf = keras_internals.backend_tensorflow()
    if tf is None:
        return process_index() == 0
    if tf.distribute.has_strategy():
        return writes_logs(tf.distribute.get_strategy())
    try:
        config = json.loads(os.environ.get("TF_CONFIG") or "{}")
        cluster = config.get("cluster") or {}
        task = config.get("task") or {}
        task_type, index = task.get("type"), int(task.get("index", 0))
    except (ValueError, TypeError, AttributeError):
        return True  # Not ours to validate: the strategy reports a bad TF_CONFIG.
    if not cluster or not task_type:
        return True
    if task_type in ("chief", "master"):
        return True
    return task_type == "worker" and index == 0 and not ({"chief", "master"} & set(cluster))


class NonChiefRecorder:
    """Stands in for `Recorder` on a worker that is not the chief: no file, no drain.

    A `recorder.StepRecorder`. It keeps what the compiled step reads the same
    as on the chief: the step taps, the layer accessors and the epoch
    variable `current_epoch()` reads. Every other call costs nothing.
    """

    def __init__(self, optimizer: keras.optimizers.Optimizer):
        self._optimizer = optimizer
        self._taps = [optimizer_hooks.tap_for(t) for t in tapped_optimizers(optimizer)]
        in_layer.activate(self._taps[0])

    @property
    def step(self) -> int:
        """The step the next update will have (read once per epoch, not per batch)."""
        return step_convention.next_step(self._optimizer)

    def plan(self, total_steps: int | None, **_) -> None:
        """Nothing to write."""

    def mark(self, step: int) -> None:
        """Nothing to note: this worker never drains its ring."""

    def take_loop_state(self, optimizer_values: list) -> None:
        """Nothing to read: this worker never drains its ring."""

    def mark_epoch(self, epoch: int, step: int | None = None) -> None:
        """Sets the epoch `current_epoch()` reads, as the chief does."""
        for tap in self._taps:
            tap.set_epoch(epoch)

    def drain(self) -> None:
        """Nothing to write."""

    def close(self) -> None:
        """Deactivates the layer accessors."""
        in_layer.deactivate(self._taps[0])
