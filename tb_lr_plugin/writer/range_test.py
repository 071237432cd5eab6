"""`find_learning_rate`: an LR range test that leaves the model as it found it.

The sweep is a `fit` of the model with a copy of its optimizer whose rate is
a schedule of the step (`RateSweep`): each step computes its own rate inside
the compiled step, so `steps_per_execution > 1` sweeps every step with one
trace. The copy's step tap (`step_tap`) captures the rate each update applied
and the loss of that very batch, which the train step hands to the
optimizer's `scale_loss`; they are read every few steps, to stop once the
loss diverges. Afterwards every variable of the model is put back, bit
for bit; the model's own optimizer is never touched.
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
import os
import random
import sys
import time
import warnings
from collections.abc import Iterator
from typing import Any

import keras
import numpy as np

from tb_lr_plugin import event_format
from tb_lr_plugin.writer import (
    distribution,
    event_sink,
    in_layer,
    keras_internals,
    optimizer_hooks,
    range_test_rules,
    run_directories,
    step_tap,
)
from tb_lr_plugin.writer.tapped_optimizers import tapped_optimizers

MODES = ("exponential", "linear")
# Steps between two reads of the sweep's losses (or one execution, if longer): a
# read costs about half a step of a small model, and stopping a few steps late
# only sweeps a little past divergence.
_READ_EVERY = 8
_LOSS = step_tap.Column(step_tap.LOSS, step_tap.LOSS)


class RateSweep(keras.optimizers.schedules.LearningRateSchedule):
    """The range test's rate: from `min_lr` at step 0 to `max_lr` at step `num_steps - 1`.

    Exponential (evenly spaced on a log axis) or linear; it holds `max_lr`
    after the last step.

    Example:
        >>> sweep = RateSweep(1e-4, 1.0, 5)
        >>> [round(float(sweep(step)), 6) for step in range(5)]
        [0.0001, 0.001, 0.01, 0.1, 1.0]
    """

    def __init__(self, min_lr: float, max_lr: float, num_steps: int, mode: str = "exponential"):
        self.min_lr, self.max_lr, self.num_steps, self.mode = min_lr, max_lr, num_steps, mode

    def __call__(self, step: Any) -> Any:
        step = keras.ops.cast(step, "float32")
        progress = keras.ops.minimum(step / float(self.num_steps - 1), 1.0)
        if self.mode == "linear":
            return self.min_lr + (self.max_lr - self.min_lr) * progress
        return self.min_lr * keras.ops.exp(progress * math.log(self.max_lr / self.min_lr))

    def get_config(self) -> dict[str, Any]:
        return {
            "min_lr": self.min_lr,
            "max_lr": self.max_lr,
            "num_steps": self.num_steps,
            "mode": self.mode,
        }


@dataclasses.dataclass(frozen=True)
class RangeTestResult:
    """What a range test found.

    Attributes:
        learning_rates: The rate each step of the sweep applied.
        losses: The loss of that step's batch.
        smoothed_losses: `losses` smoothed (what the rules and the stop read).
        valley: The middle of the longest stretch over which the loss kept
            falling (fastai's default rule), or `None`.
        slide: Where the loss is flat just before it turns up, or `None`.
        minimum: A tenth of the rate at the lowest smoothed loss, or `None`.
        steep: Where the smoothed loss fell fastest per decade of rate, or `None`.
        reasons: Why a rule that is `None` found nothing, by rule.
        divergence: The rate at which the loss began to diverge (estimated
            from how fast it grew), or `None` if it did not.
        stopped: Why the sweep ended: `"completed"`, `"diverged"`,
            `"not_finite"` or `"out_of_data"`.
        run_dir: Where it was written (`None` without `log_dir`).
    """

    learning_rates: np.ndarray
    losses: np.ndarray
    smoothed_losses: np.ndarray
    valley: float | None
    slide: float | None
    minimum: float | None
    steep: float | None
    reasons: dict[str, str]
    divergence: float | None
    stopped: str
    run_dir: str | None = None

    @property
    def suggestion(self) -> float | None:
        """`valley`, else the first rule with a rate (in the order above)."""
        for rule in event_format.RULES:
            if getattr(self, rule) is not None:
                return getattr(self, rule)
        return None

    def __repr__(self) -> str:
        rules = ", ".join(f"{rule}={getattr(self, rule)!r}" for rule in event_format.RULES)
        return (
            f"RangeTestResult({rules}, divergence={self.divergence!r}, "
            f"stopped={self.stopped!r}, steps={len(self.learning_rates)})"
        )


def find_learning_rate(
    model: keras.Model,
    x: Any = None,
    y: Any = None,
    *,
    batch_size: int | None = None,
    min_lr: float = 1e-7,
    max_lr: float = 10.0,
    num_steps: int = 100,
    mode: str = "exponential",
    stop_factor: float | None = 4.0,
    smoothing: float = 0.98,
    shuffle: bool = True,
    seed: int | None = None,
    log_dir: str | os.PathLike | None = None,
    run_name: str = "range_test",
    verbose: int = 0,
) -> RangeTestResult:
    """Sweeps the learning rate up, step by step, and suggests one from the loss.

    Trains `model` for up to `num_steps` batches with a copy of its compiled
    optimizer whose rate rises from `min_lr` to `max_lr`, recording the rate
    each update applied and the loss of that very batch; stops once the
    smoothed loss exceeds `stop_factor` times its minimum. Then puts back
    every variable of the model (weights, BatchNorm statistics, metrics and
    the random generators' states) bit for bit: the model's own optimizer is
    never used, so its state, its rate or schedule and a `LearningRateLogger`
    tap on it stay as they were, and a later `fit` starts where it would
    have. With `log_dir`, the result goes in run `run_name` for the LR tab's
    "Range test" chart.

    Args:
        model: A built, compiled model.
        x, y: What `fit` takes: arrays (repeated if they hold fewer than
            `num_steps` batches, with a warning), a `tf.data.Dataset` or a
            `keras.utils.PyDataset` (the sweep stops early, with a warning,
            if it runs out: repeat it).
        batch_size: For arrays, as in `fit` (default 32).
        min_lr, max_lr: The first and last rate of the sweep (`0 < min_lr < max_lr`).
        num_steps: How many steps the sweep takes from `min_lr` to `max_lr`.
        mode: `"exponential"` (evenly spaced on a log axis) or `"linear"`.
        stop_factor: Stop when the smoothed loss exceeds this multiple of its
            minimum; `None` never stops early.
        smoothing: The weight of the past in the loss's moving average (0: none).
        shuffle: Shuffle arrays first, with a generator of their own (`seed`):
            no global random state is drawn from.
        seed: The seed of that shuffle; `None` for a fresh one.
        log_dir: Where to write the result for TensorBoard; `None` writes nothing.
        run_name: The run it is written to under `log_dir`.
        verbose: `fit`'s verbosity during the sweep.

    Returns:
        A `RangeTestResult` with the sweep and one suggestion per rule.

    Raises:
        ValueError: for an uncompiled or unbuilt model, a model without an
            optimizer or with gradient accumulation, bad arguments, or a loss
            that is not finite at the first step.
        RuntimeError: where the model's train step does not hand its loss to
            `optimizer.scale_loss` (as Keras' own does).
        LogDirError: when `log_dir/run_name` cannot be written (before any training).

    Example:
        >>> x = np.random.default_rng(0).normal(size=(64, 4)).astype("float32")
        >>> model = keras.Sequential([keras.Input((4,)), keras.layers.Dense(1)])
        >>> model.compile(optimizer="sgd", loss="mse")
        >>> result = find_learning_rate(model, x, x.sum(axis=1), batch_size=64, num_steps=60)
        >>> result.stopped, result.valley is not None
        ('diverged', True)
    """
    _check_settings(min_lr, max_lr, num_steps, mode, stop_factor, smoothing)
    optimizer, applying = _trainable_optimizer(model)
    run_dir = None
    if log_dir is not None:
        run_dir = run_directories.run_directory(log_dir, run_name)
        event_sink.check_writable(run_dir)
    data, fit_arguments = _sweep_data(x, y, batch_size, num_steps, shuffle, seed)
    spe = _steps_per_execution(model)
    strategy = distribution.model_strategy(model)
    # Under the model's strategy (TensorFlow): the optimizer's and the tap's variables.
    with strategy.scope() if strategy is not None else contextlib.nullcontext():
        sweep_optimizer = _sweep_optimizer(optimizer, RateSweep(min_lr, max_lr, num_steps, mode))
        tap = optimizer_hooks.tap_for(
            tapped_optimizers(sweep_optimizer)[0], capacity=max(256, 2 * spe + _READ_EVERY)
        )
        _hand_losses_to(tap, sweep_optimizer)
        tap.prepare([_LOSS])
    watcher = _SweepWatcher(tap, num_steps, stop_factor, smoothing, spe)
    with _model_kept(model):
        model.optimizer = sweep_optimizer
        model.train_function = None  # Traced again, with the sweep's optimizer.
        tap.attach_to_model(model, serve_layers=True)
        in_layer.activate(tap)
        try:
            model.fit(*data, **fit_arguments, verbose=verbose, callbacks=[watcher])
        finally:
            in_layer.deactivate(tap)
    rates, losses, smoothed = watcher.arrays()
    if len(losses) == 0 or not np.isfinite(losses[0]):
        raise ValueError(
            f"the loss of the first batch is {losses[0] if len(losses) else 'missing'} at rate "
            f"{min_lr:g}: check the data and the model (a range test needs a finite loss)"
        )
    stopped = watcher.stopped or event_format.STOPPED_OUT_OF_DATA
    if stopped == event_format.STOPPED_OUT_OF_DATA:
        warnings.warn(
            f"tb_lr_plugin: the data ran out after {len(losses)} of {num_steps} steps; the sweep "
            f"stopped at rate {rates[-1]:.3g}: repeat the dataset (dataset.repeat())"
        )
    suggestions = range_test_rules.suggestions(rates, smoothed)
    diverged = stopped in (event_format.STOPPED_DIVERGED, event_format.STOPPED_NOT_FINITE)
    result = RangeTestResult(
        learning_rates=rates,
        losses=losses,
        smoothed_losses=smoothed,
        **{s.rule: s.learning_rate for s in suggestions},
        reasons={s.rule: s.reason for s in suggestions if s.reason},
        divergence=range_test_rules.divergence(rates, losses) if diverged else None,
        stopped=stopped,
        run_dir=run_dir,
    )
    if run_dir is not None:
        settings = {
            "min_lr": min_lr,
            "max_lr": max_lr,
            "num_steps": num_steps,
            "mode": mode,
            "stop_factor": stop_factor,
            "smoothing": smoothing,
            "batch_size": fit_arguments.get("batch_size"),
            "steps_per_execution": spe,
            "backend": keras.backend.backend(),
        }
        _write(run_dir, result, suggestions, settings, type(applying).__name__)
    return result


class _SweepWatcher(keras.callbacks.Callback):
    """Reads the sweep's rates and losses from the tap every few steps, and stops it."""

    def __init__(
        self, tap: step_tap.StepTap, num_steps: int, stop_factor, smoothing: float, spe: int
    ):
        super().__init__()
        self._tap = tap
        self._steps_per_execution = spe
        self._unread = 0
        self._num_steps = num_steps
        self._stop_factor = stop_factor
        self._smoother = range_test_rules.Smoother(smoothing)
        self._rates: list[float] = []
        self._losses: list[float] = []
        self._smoothed: list[float] = []
        self._lowest = math.inf
        self.stopped: str | None = None
        self._trained: keras.Model | None = None

    def set_model(self, model):
        super().set_model(model)
        # Kept: on JAX, `self.model` writes back fit's carried state at each access.
        self._trained = model

    def on_train_batch_end(self, batch, logs=None):
        self._unread += self._steps_per_execution
        if self._unread >= _READ_EVERY or len(self._losses) + self._unread >= self._num_steps:
            self._take()

    def on_train_end(self, logs=None):
        self._take()

    def arrays(self) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """The rates, losses and smoothed losses of the sweep's steps."""
        return (
            np.array(self._rates, np.float64),
            np.array(self._losses, np.float64),
            np.array(self._smoothed, np.float64),
        )

    def _take(self) -> None:
        self._unread = 0
        _, rows, written, _ = self._tap.drain()
        if not len(rows) or self.stopped is not None:
            return
        loss = self._tap.index_of(_LOSS)
        if loss is None or not written[:, loss].all():
            raise RuntimeError(
                "find_learning_rate needs the loss of each batch, which Keras' train step "
                "hands to optimizer.scale_loss(loss); this model's train_step does not call "
                "it. Call self.optimizer.scale_loss(loss) in your train_step before taking "
                "gradients (it returns the loss unchanged but for a LossScaleOptimizer)"
            )
        for rate, value in zip(rows[:, 0], rows[:, loss], strict=True):  # The rate is column 0.
            self._rates.append(float(rate))
            self._losses.append(float(value))
            smoothed = self._smoother.add(float(value))
            self._smoothed.append(smoothed)
            self._lowest = min(self._lowest, smoothed)
            if not math.isfinite(value):
                self.stopped = event_format.STOPPED_NOT_FINITE
            elif self._stop_factor is not None and smoothed > self._stop_factor * self._lowest:
                self.stopped = event_format.STOPPED_DIVERGED
            elif len(self._losses) == self._num_steps:
                self.stopped = event_format.STOPPED_COMPLETED
            if self.stopped is not None:
                self._trained.stop_training = True
                return


def _check_settings(min_lr, max_lr, num_steps, mode, stop_factor, smoothing) -> None:
    if not (
        isinstance(min_lr, (int, float))
        and isinstance(max_lr, (int, float))
        and 0 < min_lr < max_lr < math.inf
    ):
        raise ValueError(
            f"need 0 < min_lr < max_lr, finite; got min_lr={min_lr!r}, max_lr={max_lr!r}"
        )
    if isinstance(num_steps, bool) or not isinstance(num_steps, int) or num_steps < 2:
        raise ValueError(f"num_steps must be an integer >= 2; got {num_steps!r}")
    if mode not in MODES:
        raise ValueError(f"mode must be one of {MODES}; got {mode!r}")
    if stop_factor is not None and not (isinstance(stop_factor, (int, float)) and stop_factor > 1):
        raise ValueError(f"stop_factor must be a number > 1, or None; got {stop_factor!r}")
    if not (isinstance(smoothing, (int, float)) and 0 <= smoothing < 1):
        raise ValueError(f"smoothing must be in [0, 1); got {smoothing!r}")


def _trainable_optimizer(
    model: keras.Model,
) -> tuple[keras.optimizers.Optimizer, keras.optimizers.Optimizer]:
    """The model's optimizer, and the one whose rate a user sets (a wrapper's inner one)."""
    optimizer = getattr(model, "optimizer", None)
    if not isinstance(model, keras.Model) or optimizer is None:
        raise ValueError(
            "find_learning_rate needs a compiled model with an optimizer: call "
            "model.compile(optimizer=..., loss=...) first"
        )
    if not model.built:
        raise ValueError(
            "find_learning_rate needs a built model, so that it can put its weights back: "
            "give it a keras.Input, or call it on a batch first"
        )
    tapped = tapped_optimizers(optimizer)
    if len(tapped) != 1:
        raise ValueError(
            "find_learning_rate sweeps one optimizer's rate; this model has several "
            "(MultiOptimizer): run it with one optimizer for the whole model"
        )
    applying = tapped[0].optimizer
    if getattr(applying, "gradient_accumulation_steps", None):
        raise ValueError(
            "find_learning_rate steps once per batch: compile a copy of the model without "
            "gradient_accumulation_steps, with the batch size of one update"
        )
    return optimizer, applying


def _sweep_optimizer(optimizer, sweep: RateSweep) -> keras.optimizers.Optimizer:
    """A fresh optimizer of the same configuration, with the sweep as its rate."""
    config = optimizer.get_config()
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        config.pop("inner_optimizer", None)
        return type(optimizer)(_sweep_optimizer(optimizer.inner_optimizer, sweep), **config)
    config["learning_rate"] = sweep
    return type(optimizer).from_config(config)


def _hand_losses_to(tap: step_tap.StepTap, optimizer: keras.optimizers.Optimizer) -> None:
    """Records, in each train step, the loss Keras hands to `optimizer.scale_loss`."""
    original = optimizer.scale_loss

    def scale_loss(loss):
        tap.record(step_tap.LOSS, tap.recordable(step_tap.LOSS, loss), kind=step_tap.LOSS)
        return original(loss)

    optimizer.scale_loss = scale_loss


def _steps_per_execution(model: keras.Model) -> int:
    return int(getattr(model, "steps_per_execution", 1) or 1)


def _sweep_data(x, y, batch_size, num_steps, shuffle, seed) -> tuple[tuple, dict[str, Any]]:
    """`fit`'s positional and keyword arguments for `num_steps` batches."""
    if x is None:
        raise ValueError("find_learning_rate needs data: x (and y), as fit takes them")
    leaves = keras.tree.flatten(x)
    if leaves and all(len(getattr(leaf, "shape", ())) for leaf in leaves):
        # Arrays: repeated as often as the sweep needs, shuffled here (not by
        # `fit`, which draws from TensorFlow's global random state).
        samples = int(leaves[0].shape[0])
        batch_size = batch_size or 32
        batches = math.ceil(samples / batch_size)
        if shuffle:
            order = np.random.default_rng(seed).permutation(samples)
            x, y = (
                None if d is None else keras.tree.map_structure(lambda a: np.asarray(a)[order], d)
                for d in (x, y)
            )
        epochs = math.ceil(num_steps / batches)
        if epochs > 1:
            warnings.warn(
                f"tb_lr_plugin: the data holds {batches} batches of {batch_size}; the range "
                f"test repeats it {epochs} times for its {num_steps} steps"
            )
        return (x, y), {"batch_size": batch_size, "epochs": epochs, "shuffle": False}
    if y is not None:
        raise ValueError("with a dataset as x, y must be None: the dataset yields (x, y)")
    if batch_size is not None:
        raise ValueError("with a dataset as x, batch_size must be None: the dataset batches")
    return (x,), {"epochs": 1, "steps_per_epoch": num_steps}


@contextlib.contextmanager
def _model_kept(model: keras.Model) -> Iterator[None]:
    """Puts back, on exit, everything a `fit` of `model` changes."""
    variables = list({id(v): v for v in [*model.variables, *model.metrics_variables]}.values())
    seed_state = keras_internals.global_seed_generator_state()
    if seed_state is not None:
        variables.append(seed_state)
    values = [keras.ops.convert_to_numpy(v) for v in variables]
    kept = {
        name: getattr(model, name, None)
        for name in ("optimizer", "train_function", "stop_training", "history")
    }
    try:
        with keras_internals.train_step_hooks_kept(model), _global_random_states_kept():
            yield
    finally:
        for name, value in kept.items():
            setattr(model, name, value)
        model.reset_metrics()  # Those the sweep built; those there before are put back below.
        for variable, value in zip(variables, values, strict=True):
            variable.assign(value)


@contextlib.contextmanager
def _global_random_states_kept() -> Iterator[None]:
    """Puts back Python's, NumPy's and PyTorch's global random states.

    `fit` draws from them without a seed (PyTorch's data loader draws a seed
    per epoch), so a sweep would shift what the next `fit` draws.
    """
    python_state, numpy_state = random.getstate(), np.random.get_state()
    torch = sys.modules.get("torch") if keras.backend.backend() == "torch" else None
    torch_state = torch.random.get_rng_state() if torch is not None else None
    try:
        yield
    finally:
        random.setstate(python_state)
        np.random.set_state(numpy_state)
        if torch_state is not None:
            torch.random.set_rng_state(torch_state)


def _write(run_dir, result: RangeTestResult, suggestions, settings, optimizer_name) -> None:
    document = event_format.RangeTest(
        learning_rates=result.learning_rates.tolist(),
        losses=result.losses.tolist(),
        smoothed_losses=result.smoothed_losses.tolist(),
        suggestions=suggestions,
        divergence=result.divergence,
        stopped=result.stopped,
        settings=settings,
        optimizer=optimizer_name,
        wall_time=time.time(),
    )
    sink = event_sink.EventSink(run_dir)
    try:
        sink.write_document(event_format.RANGE_TEST, 0, document)
    finally:
        sink.close()
