"""What counts as an optimizer's learning rate and hyperparameters.

Keras 3 keeps a float learning rate in a variable and a schedule as an object;
the other hyperparameters are plain numbers in `get_config()` (`beta_1`,
`momentum`, `weight_decay`, a custom optimizer's own arguments) or, for a
custom optimizer that changes one while training, a scalar variable held in an
attribute (`self.my_decay = self.add_variable(shape=())`). Slot variables
(momentums, velocities) are kept in lists, never in plain attributes, so the
attribute rule does not mistake them for hyperparameters.
"""

from __future__ import annotations

import dataclasses

import keras

# Kept out of `optimizer/*`: the learning rate has its own series, and these
# describe the optimizer's bookkeeping rather than how it updates.
_NOT_HYPERPARAMETERS = frozenset({"learning_rate", "iterations", "name"})


@dataclasses.dataclass(frozen=True)
class TappedOptimizer:
    """One optimizer whose updates are logged.

    Attributes:
        optimizer: The optimizer that applies updates (a wrapper's inner one).
        series_suffix: `""` for a single optimizer, `"/<name>"` with several.
        wrapper: The `LossScaleOptimizer` around it, if any: its scalar
            variables (`dynamic_scale`) are hyperparameters too.
    """

    optimizer: keras.optimizers.Optimizer
    series_suffix: str = ""
    wrapper: keras.optimizers.Optimizer | None = None


def tapped_optimizers(optimizer: keras.optimizers.Optimizer) -> list[TappedOptimizer]:
    """Unwraps `LossScaleOptimizer` and splits `MultiOptimizer` into its parts.

    Example:
        >>> [t.series_suffix for t in tapped_optimizers(keras.optimizers.SGD())]
        ['']
    """
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return [TappedOptimizer(optimizer.inner_optimizer, wrapper=optimizer)]
    if isinstance(optimizer, keras.optimizers.MultiOptimizer):
        tapped, seen = [], set()
        for inner in optimizer.optimizers:
            name = inner.name
            while name in seen:
                name = f"{name}_{len(seen)}"
            seen.add(name)
            tapped.append(TappedOptimizer(inner, series_suffix=f"/{name}"))
        return tapped
    return [TappedOptimizer(optimizer)]


def scalar_variables(tapped: TappedOptimizer) -> dict[str, keras.Variable]:
    """The scalar variables held in attributes, by hyperparameter name.

    Example:
        >>> scalar_variables(TappedOptimizer(keras.optimizers.Adam()))
        {}
    """
    found = {}
    for owner in (tapped.optimizer, tapped.wrapper):
        if owner is None:
            continue
        for attribute, value in vars(owner).items():
            name = attribute.lstrip("_")
            if (
                isinstance(value, keras.Variable)
                and tuple(value.shape) == ()
                and name not in _NOT_HYPERPARAMETERS
                and value.dtype not in ("bool", "string")
            ):
                found.setdefault(name, value)
    return found


def config_hyperparameters(tapped: TappedOptimizer) -> dict[str, float]:
    """The numbers in the optimizer's (and its wrapper's) `get_config()`.

    Booleans and `None` are left out. Where `get_config` raises (as an
    optimizer's does when its schedule's `get_config` raises), the numbers
    among the optimizer's public attributes stand in: they are what Keras'
    optimizers put in their config.

    Example:
        >>> sorted(config_hyperparameters(TappedOptimizer(keras.optimizers.SGD(momentum=0.9))))
        ['ema_momentum', 'momentum']
    """
    numbers = {}
    for owner in (tapped.optimizer, tapped.wrapper):
        if owner is None:
            continue
        try:
            config = owner.get_config()
        except Exception:  # A custom get_config may fail; the rest is still logged.
            config = {key: value for key, value in vars(owner).items() if not key.startswith("_")}
        for key, value in config.items():
            if (
                isinstance(value, (int, float))
                and not isinstance(value, bool)
                and key not in _NOT_HYPERPARAMETERS
            ):
                numbers.setdefault(key, float(value))
    return numbers
