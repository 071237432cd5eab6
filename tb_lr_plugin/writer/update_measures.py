"""What an update did to the weights: per-layer update-to-weight ratios and the gradient norm.

The ratio of update `s` for a layer is `||w_after - w_before|| / ||w_before||`
over the layer's trainable variables, measured around the optimizer's whole
`apply`: weight decay, gradient clipping and an EMA overwrite are in it, as
they are in the weights. Nothing is recomputed from the update rule. The
gradient norm is the global norm of the gradients `apply` received: after a
`LossScaleOptimizer` unscaled them, before the optimizer's own `clipnorm` or
`clipvalue`.

`measured_apply` runs in place of the optimizer's `apply`. Everything is
`keras.ops`, traced into the train step with the update: the values before
the update are held until it has run (one flat copy of the weights per
measured step), and one number per layer leaves the step, into the step
tap's ring (whose backend writes it, at the slot read before the update).

Example:
    >>> variables = [keras.Variable([3.0, 4.0], name="kernel")]
    >>> before = measure_before(variables, [keras.ops.ones(2)])
    >>> _ = variables[0].assign([3.0, 4.3])
    >>> measures = keras.ops.convert_to_numpy(measure_after(variables, before))
    >>> [round(float(x), 4) for x in measures]  # The ratio, the gradient norm.
    [0.06, 1.4142]
"""

from __future__ import annotations

import dataclasses
from collections.abc import Callable, Sequence
from typing import Any

import keras
import numpy as np

from tb_lr_plugin.writer import keras_internals, step_tap


def check_every(every: int) -> int:
    """`every` if it is a whole number of updates to measure one of, else a `ValueError`.

    Example:
        >>> check_every(10)
        10
    """
    if isinstance(every, bool) or not isinstance(every, int) or every < 1:
        raise ValueError(f"update_ratio_every must be a whole number from 1 up, got {every!r}")
    return every


def layer_of(variable: Any) -> str:
    """The path of the layer a variable belongs to: its own path without its name.

    Example:
        >>> layer = keras.layers.Dense(2, name="head")
        >>> layer.build((None, 3))
        >>> layer_of(layer.kernel)
        'head'
    """
    path = getattr(variable, "path", None) or variable.name
    return path.rsplit("/", 1)[0] if "/" in path else path


def layers_of(variables: Sequence[Any]) -> tuple[list[str], list[list[int]]]:
    """The layers of `variables` in the order they first appear, and each one's variables.

    Example:
        >>> layers = [keras.Input((3,)), keras.layers.Dense(2, name="a")]
        >>> layers_of(keras.Sequential(layers, name="model").trainable_variables)
        (['model/a'], [[0, 1]])
    """
    layers: list[str] = []
    members: dict[str, list[int]] = {}
    for index, variable in enumerate(variables):
        layer = layer_of(variable)
        if layer not in members:
            layers.append(layer)
            members[layer] = []
        members[layer].append(index)
    return layers, [members[layer] for layer in layers]


@dataclasses.dataclass
class Before:
    """What an update's measure needs from before it.

    Attributes:
        members: Each layer's variables (indices into the variables).
        weights: One flat float32 copy of each layer's weights.
        squares: Each layer's sum of squared weights, then the gradients'.
        loss_scale: The optimizer's `loss_scale_factor`, or `None`.
    """

    members: list[list[int]]
    weights: list[Any]
    squares: Any
    loss_scale: float | None


def _flat(tensors: Sequence[Any]) -> Any:
    """`tensors` as one new float32 vector: a copy, so an update in place leaves it as it was."""
    return keras.ops.concatenate([_vector(tensor) for tensor in tensors])


def _vector(tensor: Any) -> Any:
    """`tensor` as a float32 vector, with no op where it is one already."""
    if keras.backend.standardize_dtype(tensor.dtype) != "float32":
        tensor = keras.ops.cast(tensor, "float32")
    return tensor if len(tensor.shape) == 1 else keras.ops.reshape(tensor, (-1,))


def _squares(vector: Any) -> Any:
    return keras.ops.sum(keras.ops.square(vector))


def measure_before(
    variables: Sequence[Any], grads: Sequence[Any], loss_scale: float | None = None
) -> Before:
    """Reads, before an update, what `measure_after` compares with.

    Each layer's variables are read into one flat vector: few ops per step
    (on TensorFlow without XLA every op costs its dispatch, about 3,500
    instructions), and one copy the update cannot change in place.

    Args:
        variables: The trainable variables the update is given.
        grads: Their gradients as the update receives them (`None` where none).
        loss_scale: The optimizer's `loss_scale_factor`, which its update
            divides the gradients by first (`None`: none).
    """
    _, members = layers_of(variables)
    weights = [_flat([variables[i].value for i in group]) for group in members]
    given = [g for g in grads if g is not None]
    grad_squares = _squares(_flat(given)) if given else keras.ops.zeros(())
    squares = keras.ops.stack([*(_squares(w) for w in weights), grad_squares])
    return Before(members, weights, squares, loss_scale)


def measure_after(variables: Sequence[Any], before: Before) -> Any:
    """The measures of the update that just ran: each layer's ratio, then the gradient norm.

    A layer whose weights were all zero has ratio infinity where the update
    moved them, and NaN where it did not.
    """
    changes = [
        _squares(keras.ops.subtract(_flat([variables[i].value for i in group]), weights))
        for group, weights in zip(before.members, before.weights, strict=True)
    ]
    changes = keras.ops.stack([*changes, keras.ops.zeros(())])
    # Ratios where a layer is, the gradients' norm (unscaled) in the last cell.
    last = np.arange(len(before.members) + 1) == len(before.members)
    grad_squares = before.squares
    if before.loss_scale is not None:
        grad_squares = grad_squares / (before.loss_scale * before.loss_scale)
    return keras.ops.sqrt(
        keras.ops.where(last, grad_squares, keras.ops.divide(changes, before.squares))
    )


def measured_apply(tap: Any, apply: Callable[..., Any], grads: Any, variables: Any = None) -> Any:
    """Runs the optimizer's `apply(grads, variables)`, measuring it where `tap` is asked to.

    The wrapped `apply` of an optimizer whose updates are measured (see
    `optimizer_hooks.measure_updates`) calls this; `tap` is its
    `step_tap.StepTap`, whose ring takes the measures into the update's row.
    """
    targets = variables
    if targets is None:  # JAX's stateless_apply: the variables the optimizer was built with.
        targets = keras_internals.trainable_variables_of(tap.optimizer)
    tap.measures_traced = (tap.measure_updates, tap.measure_every)
    if not (tap.measure_updates and targets is not None and len(grads) > 0):
        return apply(grads, variables)
    due = None  # Every update measured, or a tap that writes blanks itself (JAX).
    if tap.measure_every > 1 and tap.measures_in_branches:
        try:
            due = keras.ops.equal(keras.ops.mod(tap.step(), tap.measure_every), 0)
        except Exception as error:  # Logging must never stop an update.
            tap.warn_measures(error)
            return apply(grads, variables)
    return _apply_measured(tap, apply, grads, variables, list(targets), due)


def _apply_measured(
    tap: Any, apply: Callable[..., Any], grads: Any, variables: Any, targets: list, due: Any
) -> Any:
    """`apply` between the two halves of the measure; with `due`, each half in a branch.

    The update itself stays out of the branches (traced once, fused with the
    step); an update that is not due copies no weight and writes a blank row.
    """
    try:
        with tap.measuring():
            slot = tap.update_slot()
            scale = getattr(tap.optimizer, "loss_scale_factor", None)
            before = _measure_before_if(due, targets, grads, scale)
        columns = tap.measure_columns(layers_of(targets)[0])
    except Exception as error:  # Logging must never stop an update.
        tap.warn_measures(error)
        return apply(grads, variables)
    result = apply(grads, variables)
    try:
        with tap.measuring():
            if due is None:
                measures = measure_after(targets, before)
            else:
                blank = step_tap.unwritten((len(columns),))
                measures = keras.ops.cond(
                    due,
                    lambda: measure_after(targets, before),
                    lambda: keras.ops.convert_to_tensor(blank),
                )
            tap.write_measures(slot, columns, measures)
    except Exception as error:
        tap.warn_measures(error)
    return result


def _measure_before_if(due: Any, targets: list, grads: Any, scale: float | None) -> Before:
    """`measure_before`, in a branch taken where `due` is true (`None`: always)."""
    if due is None:
        return measure_before(targets, grads, scale)
    _, members = layers_of(targets)

    def measured():
        before = measure_before(targets, grads, scale)
        return before.weights, before.squares

    def skipped():
        # The same shapes (XLA's conditional needs them), filled, not copied.
        sizes = [sum(int(np.prod(targets[i].shape)) for i in group) for group in members]
        return [keras.ops.zeros((size,)) for size in sizes], keras.ops.ones((len(members) + 1,))

    weights, squares = keras.ops.cond(due, measured, skipped)
    return Before(members, list(weights), squares, scale)
