"""Which optimizers apply the updates: wrappers unwrapped, a `MultiOptimizer` split."""

from __future__ import annotations

import dataclasses

import keras


@dataclasses.dataclass(frozen=True)
class TappedOptimizer:
    """One optimizer whose updates are logged.

    Attributes:
        optimizer: The optimizer that applies updates (a wrapper's inner one).
        name: Its name in series names: `""` for a single optimizer.
        wrapper: The `LossScaleOptimizer` around it, if any: its scalar
            variables (`dynamic_scale`) are hyperparameters too.
    """

    optimizer: keras.optimizers.Optimizer
    name: str = ""
    wrapper: keras.optimizers.Optimizer | None = None


def tapped_optimizers(optimizer: keras.optimizers.Optimizer) -> list[TappedOptimizer]:
    """Unwraps `LossScaleOptimizer` and splits `MultiOptimizer` into its parts.

    Example:
        >>> [t.name for t in tapped_optimizers(keras.optimizers.SGD())]
        ['']
    """
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return [TappedOptimizer(optimizer.inner_optimizer, wrapper=optimizer)]
    # `MultiOptimizer` came with Keras 3.15; older releases have none.
    multi_optimizer = getattr(keras.optimizers, "MultiOptimizer", None)
    if multi_optimizer is not None and isinstance(optimizer, multi_optimizer):
        tapped, seen = [], set()
        for inner in optimizer.optimizers:
            name = inner.name
            while name in seen:
                name = f"{name}_{len(seen)}"
            seen.add(name)
            tapped.append(TappedOptimizer(inner, name=name))
        return tapped
    return [TappedOptimizer(optimizer)]
