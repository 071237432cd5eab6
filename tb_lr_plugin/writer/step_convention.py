"""The step axis every series is logged on, and which run a training's steps go to.

Step `s` is the 0-based index of an optimizer update: the value of
`optimizer.iterations` before update `s`. The rate logged at step `s` is the
rate update `s` applied; update `s` has finished when `iterations` reaches
`s + 1`. Every part of the writer that turns batches, counters or
assignments into steps asks this module.

With `gradient_accumulation_steps = k`, a batch is a micro-batch. Keras counts
micro-batches in its own counter and updates in `iterations` (micro-batches
// k); update `s` runs at the last micro-batch of its group, and a schedule is
called with that micro-batch's count, `k*s + k - 1`.

Within a process, a run's step axis belongs to one training: see `claim_run`.
"""

from __future__ import annotations

import dataclasses
import os
import threading
import warnings
import weakref
from typing import Any

import keras

from tb_lr_plugin.writer import run_directories


def _applying(optimizer: keras.optimizers.Optimizer) -> keras.optimizers.Optimizer:
    # A `LossScaleOptimizer`'s inner optimizer applies (and counts) the
    # updates; Keras 3.5's wrapper keeps a count of its own that stays at 0.
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.inner_optimizer
    return optimizer


def step_dtype() -> str:
    """The integer dtype of step tensors: int64, but int32 on JAX without 64-bit mode.

    Example:
        >>> step_dtype() in ("int64", "int32")
        True
    """
    if keras.backend.backend() == "jax":
        import jax

        return "int64" if jax.config.jax_enable_x64 else "int32"
    return "int64"


def next_step(optimizer: keras.optimizers.Optimizer) -> int:
    """The step the optimizer's next update will have: `iterations`, read on the host.

    Example:
        >>> next_step(keras.optimizers.SGD())
        0
    """
    iterations = _applying(optimizer).iterations
    # A variable (a mirrored one too) or a tensor has `numpy()`; a JAX array
    # (the update count under gradient accumulation) is converted.
    if hasattr(iterations, "numpy"):
        return int(iterations.numpy())
    return int(keras.ops.convert_to_numpy(iterations))


def micro_batches_per_update(optimizer: keras.optimizers.Optimizer) -> int:
    """`k`: the optimizer's `gradient_accumulation_steps`, or 1 without accumulation.

    Example:
        >>> micro_batches_per_update(keras.optimizers.SGD(gradient_accumulation_steps=4))
        4
    """
    return getattr(_applying(optimizer), "gradient_accumulation_steps", None) or 1


def update_of_batch(first_update: int, batch: int, micro_batches_per_update: int) -> int:
    """The update a batch of an epoch belongs to; `first_update` is the epoch's first.

    Example:
        >>> [update_of_batch(10, batch, 2) for batch in range(4)]
        [10, 10, 11, 11]
    """
    return first_update + batch // micro_batches_per_update


def updates_per_epoch(batches: int, micro_batches_per_update: int) -> int:
    """How many updates an epoch of `batches` (micro-)batches makes.

    Example:
        >>> updates_per_epoch(10, 4)
        2
    """
    return batches // micro_batches_per_update


def update_count(micro_batches: Any, micro_batches_per_update: int) -> Any:
    """`iterations` from the micro-batch count (ints or tensors), as Keras counts it.

    Example:
        >>> update_count(7, 4)
        1
    """
    if micro_batches_per_update == 1:
        return micro_batches  # No division op in a traced step.
    return micro_batches // micro_batches_per_update


def schedule_argument(update: Any, micro_batches_per_update: int) -> Any:
    """The step a `LearningRateSchedule` is called with for update `update`.

    Example:
        >>> schedule_argument(0, 1), schedule_argument(0, 4), schedule_argument(2, 4)
        (0, 3, 11)
    """
    k = micro_batches_per_update
    return k * update + k - 1


def finished_count(update: Any) -> Any:
    """The value `iterations` has once update `update` has run (ints or arrays).

    Example:
        >>> finished_count(0)
        1
    """
    return update + 1


def assignment_update(count: int) -> int:
    """The first update that applies a rate assigned while `iterations == count`.

    An eager assignment between two updates is read by the next one.

    Example:
        >>> assignment_update(10)
        10
    """
    return count


def epoch_start(epoch: int, first_epoch: int, first_update: int, updates_per_epoch: int) -> int:
    """The planned first update of `epoch`, when `first_epoch` starts at `first_update`.

    The planned end of training is the start of the epoch after the last.

    Example:
        >>> epoch_start(3, 1, 100, 20)  # fit(initial_epoch=1, epochs=3) from step 100
        140
    """
    return first_update + (epoch - first_epoch) * updates_per_epoch


def epoch_of_update(update: Any, first_update: int, updates_per_epoch: int) -> Any:
    """The index (from 0, within a plan) of the epoch an update falls in.

    Example:
        >>> epoch_of_update(25, 10, 10)
        1
    """
    return (update - first_update) // updates_per_epoch


@dataclasses.dataclass
class _Axis:
    """What this process logged into one run: whose steps, and up to where."""

    optimizer: weakref.ref
    logged_until: int  # One past the last step logged.


_AXES: dict[str, _Axis] = {}
_LOCK = threading.Lock()


def claim_run(
    log_dir: str | os.PathLike,
    run_name: str,
    optimizer: keras.optimizers.Optimizer,
    first_step: int,
) -> str:
    """The run directory the training of `optimizer`, from `first_step` on, is logged into.

    A run's step axis is one training's. Within a process:

    * the optimizer that logged into `log_dir/run_name` before continues
      there (if its count went back, as when a checkpoint is restored, the
      steps are written again and the latest write wins, with a warning);
    * another optimizer whose count carries on where the run stopped (one
      restored from a checkpoint) continues it too;
    * another optimizer whose count starts before that (a new optimizer
      counts from 0: `model.compile` between two `fit` calls) is logged into
      the next numbered run beside it, `run_name_2`, `run_name_3`, ..., with
      one warning saying where. No series then holds two trainings' steps.

    Example:
        >>> import tempfile
        >>> log_dir = tempfile.mkdtemp()
        >>> first, second = keras.optimizers.SGD(), keras.optimizers.SGD()
        >>> os.path.basename(claim_run(log_dir, "train", first, 0))
        'train'
        >>> logged(os.path.join(log_dir, "train"), 100)  # The first trained 100 steps, so
        >>> with warnings.catch_warnings():  # a new optimizer at step 0 gets a run of its own.
        ...     warnings.simplefilter("ignore")
        ...     os.path.basename(claim_run(log_dir, "train", second, 0))
        'train_2'
    """
    with _LOCK:
        number, name = 1, run_name
        while True:
            run_dir = run_directories.run_directory(log_dir, name)
            axis = _AXES.get(run_directories.run_key(run_dir))
            if axis is None or first_step >= axis.logged_until:
                break
            if axis.optimizer() is optimizer:
                warnings.warn(
                    f"tb_lr_plugin: this process already logged steps up to "
                    f"{axis.logged_until - 1} into {run_dir!r}, and this optimizer's count "
                    f"went back to {first_step} (a restored checkpoint?): steps {first_step} "
                    f"to {axis.logged_until - 1} are written again and the latest write wins"
                )
                break
            number += 1
            name = run_directories.numbered_run_name(run_name, number)
        if number > 1:
            first_run = run_directories.run_directory(log_dir, run_name)
            warnings.warn(
                f"tb_lr_plugin: {first_run!r} holds the steps of another optimizer, and this "
                f"one counts from step {first_step}; its training is logged into the run "
                f"{name!r} beside it ({run_dir!r}), so no series mixes two trainings"
            )
        logged_until = axis.logged_until if axis is not None else first_step
        _AXES[run_directories.run_key(run_dir)] = _Axis(weakref.ref(optimizer), logged_until)
        return run_dir


def logged(run_dir: str, until: int) -> None:
    """Notes that steps before `until` are logged into `run_dir`."""
    with _LOCK:
        axis = _AXES.get(run_directories.run_key(run_dir))
        if axis is not None:
            axis.logged_until = max(axis.logged_until, until)
