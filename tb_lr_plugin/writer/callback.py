"""`LearningRateLogger`: the Keras callback for `model.fit`."""

from __future__ import annotations

import os
import warnings

import keras

from tb_lr_plugin.writer import (
    distribution,
    event_sink,
    optimizer_hooks,
    recorder,
    run_directories,
    step_convention,
    update_measures,
)
from tb_lr_plugin.writer.tapped_optimizers import tapped_optimizers
from tb_lr_plugin.writer.training_safety import never_raises, warn_once


class LearningRateLogger(keras.callbacks.Callback):
    """Logs the learning rate each optimizer update applied, for the LR tab.

    For every update `s` (0-based: the value of `optimizer.iterations` before
    it), the rate that update applied is written as series `learning_rate`,
    with the epoch, every numeric hyperparameter of the optimizer, the
    configured schedule's curve and each change of the rate by a callback or
    by hand. Capture happens inside the compiled train step and is read back
    every few thousand steps, so it costs close to nothing and logs every step
    even with `steps_per_execution > 1`.

    Its data goes in the run `train` under `log_dir`, the same run as
    `keras.callbacks.TensorBoard(log_dir)`, so both can be used together.
    A `fit` with another optimizer that counts from an earlier step (after
    `model.compile`) is logged into `train_2` beside it (then `train_3`, ...),
    with a warning, so that no series mixes two trainings; `run_dir` says
    where the latest `fit` is logged.

    Under `MirroredStrategy` and `CentralStorageStrategy` each step is
    logged once. Under
    `MultiWorkerMirroredStrategy` only the chief writes; the other workers
    keep the same compiled step but create no file and read nothing back.
    Under `ParameterServerStrategy` and `TPUStrategy` it warns and does
    nothing (training goes on). On JAX, under `keras.distribution`, process
    0 writes. `log_dir` may be any path TensorFlow's file system layer knows
    where TensorFlow is installed (`gs://...`, or `s3://...` and `hdfs://...`
    once a package such as tensorflow-io registers them), else a local path.

    Args:
        log_dir: The directory TensorBoard is pointed at (`--logdir`).
        run_name: The run subdirectory; `""` writes into `log_dir` itself.
        flush_secs: The longest time logged steps wait before they are
            flushed to disk while training.
        update_ratios: Also log, for every update and every layer with
            trainable variables, `||w_after - w_before|| / ||w_before||` as
            `update_ratio/<layer path>`, and the global norm of the gradients
            the optimizer received as `gradient_norm`. Costs one copy of
            the weights per measured step.
        update_ratio_every: Measure every this many updates only (steps
            `0, n, 2n, ...`), for very large models: the other updates
            make no copy of the weights.

    Raises:
        LogDirError: when `log_dir/run_name` cannot be created or written
            (checked in the process that will write: not on a worker that
            `TF_CONFIG` names as a non-chief).

    Example: then `tensorboard --logdir <log_dir>`, and open the LR tab.
        >>> import tempfile, numpy as np
        >>> model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(1)])
        >>> schedule = keras.optimizers.schedules.CosineDecay(0.01, decay_steps=20)
        >>> model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
        >>> logger = LearningRateLogger(tempfile.mkdtemp())
        >>> x, y = np.ones((40, 3)), np.ones((40, 1))
        >>> _ = model.fit(x, y, batch_size=4, epochs=2, verbose=0, callbacks=[logger])
        >>> os.path.basename(logger.run_dir)
        'train'
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        run_name: str = "train",
        flush_secs: float = recorder.DEFAULT_FLUSH_SECS,
        update_ratios: bool = False,
        update_ratio_every: int = 1,
    ):
        super().__init__()
        self.log_dir = log_dir
        self.run_name = run_name
        self.update_ratios = update_ratios
        self.update_ratio_every = update_measures.check_every(update_ratio_every)
        self.run_dir = run_directories.run_directory(log_dir, run_name)
        self.flush_secs = flush_secs
        # A non-chief worker writes nothing, so it must not even create the directory.
        if distribution.chief_by_environment():
            event_sink.check_writable(self.run_dir)
        self._recorder: recorder.StepRecorder | None = None
        self._writes = True
        self._unsupported: str | None = None
        self._planned = False
        self._epoch_start = 0
        self._micro_batches_per_update = 1
        self._first_epoch: tuple[int, int] | None = None
        self._failed_hooks: set[str] = set()
        self._trained_model: keras.Model | None = None

    @never_raises
    def set_model(self, model):
        super().set_model(model)
        # Kept here: on JAX, `Callback.model` writes back the state `fit` carries
        # at every access (`jax_state_sync`), which per batch would cost a sync.
        self._trained_model = model
        optimizer = getattr(model, "optimizer", None)
        if optimizer is None:
            return
        strategy = distribution.model_strategy(model)
        reason = distribution.unsupported_reason(strategy)
        if reason is not None:
            # A warning, not an error: a long cluster job must not die for its logging.
            if self._unsupported is None:
                distribution.warn_unsupported(type(self).__name__, reason)
            self._unsupported = reason
            return  # No tap: the compiled step stays exactly the user's.
        self._unsupported = None
        self._writes = distribution.writes_logs(strategy)
        # The taps must be in place before `fit` traces its train function.
        taps = [optimizer_hooks.tap_for(t) for t in tapped_optimizers(optimizer)]
        # The first tap serves the layers' accessors (`in_layer`); all read through the model.
        rehooked = [
            optimizer_hooks.measure_updates(tap, self.update_ratios, self.update_ratio_every)
            for tap in taps
        ]
        rehooked += [tap.attach_to_model(model, serve_layers=i == 0) for i, tap in enumerate(taps)]
        if getattr(model, "train_function", None) is not None and (
            any(rehooked) or not all(t.traced for t in taps)
        ):
            model.train_function = None  # Traced without the taps: retrace.

    @never_raises
    def on_train_begin(self, logs=None):
        if self._unsupported is not None:
            self._recorder = None
        elif self._writes:
            self._recorder = recorder.Recorder(
                self.log_dir,
                self.run_name,
                self._trained_model.optimizer,
                flush_secs=self.flush_secs,
            )
            self.run_dir = self._recorder.run_dir
        else:
            self._recorder = distribution.NonChiefRecorder(self._trained_model.optimizer)
        self._planned = False
        self._first_epoch = None
        self._optimizer = self._trained_model.optimizer
        # With gradient accumulation a batch is a micro-batch; steps count updates.
        self._micro_batches_per_update = step_convention.micro_batches_per_update(self._optimizer)

    @never_raises
    def on_epoch_begin(self, epoch, logs=None):
        if self._recorder is None:
            return
        step = self._recorder.step
        self._epoch_start = step
        if self._first_epoch is None:
            self._first_epoch = (epoch, step)
        self._recorder.mark_epoch(epoch, step)

    def on_train_batch_begin(self, batch, logs=None):
        # The one hook called per batch: it guards itself, since `never_raises`
        # packing its arguments would cost as much as the body (on JAX at
        # `steps_per_execution=1` every instruction here is a share of the step).
        try:
            if self._recorder is None:
                return
            if not self._planned:
                self._plan()
            self._recorder.mark(
                step_convention.update_of_batch(
                    self._epoch_start, batch, self._micro_batches_per_update
                )
            )
        except Exception as error:
            warn_once(self, "on_train_batch_begin", error)

    @never_raises
    def on_epoch_end(self, epoch, logs=None):
        if self._recorder is None:
            return
        self._check_optimizer()
        steps = self.params.get("steps")
        first_epoch, first_step = self._first_epoch
        if not steps and epoch == first_epoch:
            # The dataset's length was unknown: the first epoch measured it.
            self._plan(steps_per_epoch=self._recorder.step - first_step)
        # Flushed at every epoch's end: a checkpoint saved after this hook
        # (ModelCheckpoint listed after the logger) is then never ahead of the
        # log, so a crash and a resume from that checkpoint leave no gap.
        self._recorder.drain()

    @never_raises
    def on_train_end(self, logs=None):
        if self._recorder is not None:
            self._recorder.close()
            self._recorder = None

    def _check_optimizer(self) -> None:
        if self._trained_model.optimizer is not self._optimizer:
            # A callback replaced the optimizer mid-fit: the taps are on the
            # old one, so say so (once) rather than log a stale step count.
            self._optimizer = self._trained_model.optimizer
            warnings.warn(
                "tb_lr_plugin: model.optimizer was replaced during fit; the LR tab keeps "
                "logging the optimizer this fit started with, and the new one's updates "
                "are not logged. Replace it between fits (the next fit logs it)."
            )

    def _plan(self, steps_per_epoch: int | None = None) -> None:
        # After every callback's on_epoch_begin: a LearningRateScheduler has
        # set the first epoch's rate by now.
        self._planned = True
        epochs = self.params.get("epochs")
        if steps_per_epoch is None and self.params.get("steps"):
            steps_per_epoch = step_convention.updates_per_epoch(
                self.params["steps"], self._micro_batches_per_update
            )
        first_epoch, first_step = self._first_epoch
        total = None
        if epochs and steps_per_epoch:
            total = step_convention.epoch_start(epochs, first_epoch, first_step, steps_per_epoch)
        self._recorder.plan(total, epochs=epochs, steps_per_epoch=steps_per_epoch)
