"""`LearningRateLogger`: the Keras callback for `model.fit`."""

from __future__ import annotations

import functools
import os
import posixpath
import warnings

import keras

from tb_lr_plugin.writer import distribution, event_sink, hyperparameters, recorder, step_tap


def never_raises(hook):
    """Turns an exception in a logging hook into one warning: training goes on."""

    @functools.wraps(hook)
    def guarded(self, *args, **kwargs):
        try:
            return hook(self, *args, **kwargs)
        except Exception as error:
            if error.__traceback__.tb_next is None:
                raise  # The call itself was wrong (bad arguments): the caller's bug.
            if hook.__name__ not in self._failed_hooks:
                self._failed_hooks.add(hook.__name__)
                warnings.warn(
                    f"tb_lr_plugin: {type(self).__name__}.{hook.__name__} failed and was "
                    f"skipped; training continues: {error!r}"
                )
            return None

    return guarded


def run_directory(log_dir: str | os.PathLike, run_name: str) -> str:
    """`log_dir/run_name`, keeping remote schemes (`gs://...`) intact."""
    log_dir = os.fspath(log_dir)
    if "://" in log_dir:
        return posixpath.join(log_dir, run_name) if run_name else log_dir
    return os.path.join(log_dir, run_name) if run_name else log_dir


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

    Under `MirroredStrategy` each step is logged once. Under
    `MultiWorkerMirroredStrategy` only the chief writes; the other workers
    keep the same compiled step but create no file and read nothing back.
    Under `ParameterServerStrategy` and `TPUStrategy` it warns and does
    nothing (training goes on). `log_dir` may be any path TensorFlow's file
    system layer knows: `gs://...`, or `s3://...` and `hdfs://...` once a
    package such as tensorflow-io registers them.

    Args:
        log_dir: The directory TensorBoard is pointed at (`--logdir`).
        run_name: The run subdirectory; `""` writes into `log_dir` itself.
        flush_secs: The longest time logged steps wait before they are
            flushed to disk while training.

    Raises:
        LogDirError: when `log_dir/run_name` cannot be created or written
            (checked in the process that will write: not on a worker that
            `TF_CONFIG` names as a non-chief).

    Example:

    ```python
    model.compile(optimizer=keras.optimizers.Adam(schedule), loss="mse")
    model.fit(x, y, epochs=5, callbacks=[tb_lr_plugin.LearningRateLogger("logs")])
    # then: tensorboard --logdir logs, and open the LR tab
    ```
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        *,
        run_name: str = "train",
        flush_secs: float = recorder.DEFAULT_FLUSH_SECS,
    ):
        super().__init__()
        self.run_dir = run_directory(log_dir, run_name)
        self.flush_secs = flush_secs
        # A non-chief worker writes nothing, so it must not even create the directory.
        if distribution.chief_by_environment():
            event_sink.check_writable(self.run_dir)
        self._recorder: recorder.Recorder | distribution.NonChiefRecorder | None = None
        self._writes = True
        self._unsupported: str | None = None
        self._planned = False
        self._epoch_start = 0
        self._micro_batches_per_update = 1
        self._first_epoch: tuple[int, int] | None = None
        self._failed_hooks: set[str] = set()

    @never_raises
    def set_model(self, model):
        super().set_model(model)
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
        taps = [step_tap.tap_for(t) for t in hyperparameters.tapped_optimizers(optimizer)]
        if getattr(model, "train_function", None) is not None and not all(t.traced for t in taps):
            model.train_function = None  # Traced without the taps: retrace.

    @never_raises
    def on_train_begin(self, logs=None):
        if self._unsupported is not None:
            self._recorder = None
        elif self._writes:
            self._recorder = recorder.Recorder(
                self.run_dir, self.model.optimizer, flush_secs=self.flush_secs
            )
        else:
            self._recorder = distribution.NonChiefRecorder(self.model.optimizer)
        self._planned = False
        self._first_epoch = None
        self._optimizer = self.model.optimizer
        # With gradient accumulation a batch is a micro-batch; steps count updates.
        self._micro_batches_per_update = (
            getattr(self._optimizer, "gradient_accumulation_steps", None) or 1
        )

    @never_raises
    def on_epoch_begin(self, epoch, logs=None):
        if self._recorder is None:
            return
        step = self._recorder.step
        self._epoch_start = step
        if self._first_epoch is None:
            self._first_epoch = (epoch, step)
        self._recorder.mark_epoch(epoch, step)

    @never_raises
    def on_train_batch_begin(self, batch, logs=None):
        if self._recorder is None:
            return
        if not self._planned:
            self._plan()
        if self.model.optimizer is not self._optimizer:
            # A callback replaced the optimizer mid-fit: the taps are on the
            # old one, so say so (once) rather than log a stale step count.
            self._optimizer = self.model.optimizer
            warnings.warn(
                "tb_lr_plugin: model.optimizer was replaced during fit; the LR tab keeps "
                "logging the optimizer this fit started with, and the new one's updates "
                "are not logged. Replace it between fits (the next fit logs it)."
            )
        self._recorder.mark(self._epoch_start + batch // self._micro_batches_per_update)

    @never_raises
    def on_epoch_end(self, epoch, logs=None):
        if self._recorder is None:
            return
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

    def _plan(self, steps_per_epoch: int | None = None) -> None:
        # After every callback's on_epoch_begin: a LearningRateScheduler has
        # set the first epoch's rate by now.
        self._planned = True
        epochs = self.params.get("epochs")
        if steps_per_epoch is None and self.params.get("steps"):
            steps_per_epoch = self.params["steps"] // self._micro_batches_per_update
        first_epoch, first_step = self._first_epoch
        total = None
        if epochs and steps_per_epoch:
            total = first_step + (epochs - first_epoch) * steps_per_epoch
        self._recorder.plan(total, epochs=epochs, steps_per_epoch=steps_per_epoch)
