"""`LearningRateWriter`: the same records for custom training loops."""

from __future__ import annotations

import os
import warnings
from typing import Any

import keras

from tb_lr_plugin.writer import (
    distribution,
    optimizer_hooks,
    recorder,
    run_directories,
    step_convention,
    update_measures,
)
from tb_lr_plugin.writer.tapped_optimizers import tapped_optimizers
from tb_lr_plugin.writer.training_safety import never_raises


class LearningRateWriter:
    """Logs the learning rate each update applied, from a custom training loop.

    Call `log()` after every `optimizer.apply_gradients(...)` (it costs a
    list append; the rate itself is captured inside the update), and
    `begin_epoch(epoch)` at the start of each epoch if you count them. A manual
    `optimizer.learning_rate.assign(x)` between steps shows as applied from
    the next update on, and is recorded with source "manual assign".

    A second writer on the same run with another optimizer that counts from
    an earlier step is logged into `train_2` beside it (then `train_3`, ...),
    with a warning: `run_dir` says where.

    Args:
        log_dir: The directory TensorBoard is pointed at.
        optimizer: The optimizer whose updates are logged.
        schedule: The configured curve to compare against, when it is not the
            optimizer's own (a loop that assigns a rate computed by hand).
        total_steps: The planned number of updates; `None` extends the curve
            as training goes.
        run_name: The run subdirectory; `""` writes into `log_dir` itself.
        flush_secs: The longest time logged steps wait before a flush.
        update_ratios: Also log each layer's update-to-weight ratio and the
            gradient norm of every update (see `LearningRateLogger`).
        update_ratio_every: Measure every this many updates only.

    Under `MultiWorkerMirroredStrategy` (the optimizer created in its scope)
    only the chief writes; on the other workers it keeps the compiled step
    identical and does nothing else. Under `ParameterServerStrategy` and
    `TPUStrategy` it warns and does nothing.

    Raises:
        LogDirError: when the run directory cannot be created or written.

    Example:
        >>> import tempfile
        >>> weight = keras.Variable(1.0)
        >>> optimizer = keras.optimizers.SGD(0.1)
        >>> with LearningRateWriter(tempfile.mkdtemp(), optimizer, total_steps=20) as writer:
        ...     for epoch in range(2):
        ...         writer.begin_epoch(epoch)
        ...         for step in range(10):
        ...             optimizer.apply([keras.ops.convert_to_tensor(0.25)], [weight])
        ...             writer.log()
        >>> round(float(weight.numpy()), 6)  # 20 updates of 0.1 * 0.25
        0.5
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        optimizer: keras.optimizers.Optimizer,
        *,
        schedule: keras.optimizers.schedules.LearningRateSchedule | None = None,
        total_steps: int | None = None,
        run_name: str = "train",
        flush_secs: float = recorder.DEFAULT_FLUSH_SECS,
        update_ratios: bool = False,
        update_ratio_every: int = 1,
    ):
        update_measures.check_every(update_ratio_every)
        if not isinstance(optimizer, keras.optimizers.Optimizer):
            raise TypeError(
                f"LearningRateWriter needs a keras.optimizers.Optimizer, got {type(optimizer)!r}"
            )
        self.run_dir = run_directories.run_directory(log_dir, run_name)
        self._optimizer = optimizer
        self._failed_hooks: set[str] = set()
        self._recorder: recorder.StepRecorder | None = None
        strategy = distribution.optimizer_strategy(optimizer)
        reason = distribution.unsupported_reason(strategy)
        if reason is not None:
            # A warning, not an error: the training loop must not fail for its logging.
            distribution.warn_unsupported(type(self).__name__, reason)
            self._next_step = 0
            return
        for tapped in tapped_optimizers(optimizer):
            # A function traced before that says otherwise keeps doing so (it is yours to retrace).
            tap = optimizer_hooks.tap_for(tapped)
            optimizer_hooks.measure_updates(tap, update_ratios, update_ratio_every)
        if distribution.writes_logs(strategy):
            self._recorder = recorder.Recorder(
                log_dir, run_name, optimizer, schedule=schedule, flush_secs=flush_secs
            )
            self.run_dir = self._recorder.run_dir
        else:
            self._recorder = distribution.NonChiefRecorder(optimizer)
        self._next_step = self._recorder.step
        self._recorder.plan(total_steps)

    @never_raises
    def begin_epoch(self, epoch: int) -> None:
        """Marks that the next update starts epoch `epoch` (for `current_epoch()` too)."""
        if self._recorder is not None:
            self._recorder.mark_epoch(epoch, self._next_step)

    @never_raises
    def log(self, optimizer_variables: list[Any] | None = None) -> None:
        """Notes that one more update has run. Costs a list append.

        Args:
            optimizer_variables: On JAX, in a loop of your own that calls
                `optimizer.stateless_apply` (under `jax.jit`), the optimizer
                variables' values it returned: the optimizer's variables do
                not change there, so the writer reads the step tap from these
                (it keeps a reference to the latest, nothing more).
        """
        self._next_step = step_convention.finished_count(self._next_step)
        if self._recorder is not None:
            if optimizer_variables is not None:
                self._recorder.take_loop_state(list(optimizer_variables))
            self._recorder.mark(self._next_step)

    @never_raises
    def flush(self) -> None:
        """Writes and flushes everything logged so far."""
        if self._recorder is not None:
            self._recorder.drain()

    @never_raises
    def close(self) -> None:
        """Flushes and closes the event file. Safe to call twice."""
        if self._recorder is not None:
            self._recorder.close()
            # A LossScaleOptimizer skips updates whose gradients overflow: not steps.
            skips = isinstance(self._optimizer, keras.optimizers.LossScaleOptimizer)
            if self._recorder.step < self._next_step and not skips:
                warnings.warn(
                    f"tb_lr_plugin: log() was called for {self._next_step} updates but the "
                    f"optimizer counted {self._recorder.step}; the steps it did not count are "
                    "not logged. A stateless loop (optimizer.stateless_apply) must pass the "
                    "optimizer variables it returns: writer.log(optimizer_variables=...)"
                )
            self._recorder = None

    def __enter__(self) -> LearningRateWriter:
        return self

    def __exit__(self, *exc_info) -> None:
        self.close()
