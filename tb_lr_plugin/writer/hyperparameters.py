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

import keras

from tb_lr_plugin.writer import keras_internals
from tb_lr_plugin.writer.tapped_optimizers import TappedOptimizer

# Kept out of `optimizer/*`: the learning rate has its own series, and these
# describe the optimizer's bookkeeping rather than how it updates.
_NOT_HYPERPARAMETERS = frozenset({"learning_rate", "iterations", "name"})


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
        for attribute, value in keras_internals.instance_attributes(owner).items():
            name = attribute.lstrip("_")
            if (
                keras_internals.is_variable(value)
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
