"""Every private Keras and TensorFlow name the writer relies on, each checked where it is used.

Capturing the rate an update applied, inside the compiled step, needs a few
things Keras does not publish: the optimizer's update and rate methods (to
hook), its counter and learning-rate attributes, the call context that says
whether a layer is training, and the graph classes of `cond` branches and loop
bodies. They are named here and nowhere else in the writer (a test walks the
writer's source to keep it so), each in `INTERNALS` with what is lost without
it.

Each accessor looks its symbol up when it is used. Where a Keras or TensorFlow
release has removed or reshaped one, it warns once per process, naming the
versions and what will not be logged, and takes a public path or leaves that
part out: training runs as it would without the logger.

Example:
    >>> missing(keras.optimizers.SGD())  # On a supported Keras.
    []
"""

from __future__ import annotations

import contextlib
import dataclasses
import functools
import inspect
import sys
import warnings
from collections.abc import Callable, Iterator
from typing import Any

import keras


@dataclasses.dataclass(frozen=True)
class Internal:
    """One private symbol, and what the writer does without it.

    Attributes:
        name: The symbol, as a Keras or TensorFlow developer would look it up.
        without: What is not logged (or costs more) where it is missing.
        check: Whether it is there, with the expected shape; given the
            optimizer being logged, or `None` to check Keras' classes only.
    """

    name: str
    without: str
    check: Callable[[Any], bool]


def _has_signature(function: Any, parameters: tuple[str, ...]) -> bool:
    try:
        return tuple(inspect.signature(function).parameters) == parameters
    except (TypeError, ValueError):
        return False


_UPDATE_STEP_PARAMETERS = ("self", "grads", "trainable_variables", "learning_rate")


def _variable_base() -> type | None:
    # Keras 3.5's `keras.Variable` is a backend shim that variables are not
    # instances of; their common base is private there (public in later releases).
    try:
        from keras.src.backend.common import variables
    except ImportError:
        return None
    return getattr(variables, "KerasVariable", None) or getattr(variables, "Variable", None)


def backend_tensorflow() -> Any:
    """TensorFlow where Keras runs on it, else `None`: never imported for another backend.

    Example:
        >>> backend_tensorflow() is None or backend_tensorflow().__name__ == "tensorflow"
        True
    """
    if keras.backend.backend() != "tensorflow":
        return None
    import tensorflow as tf

    return tf


@functools.cache
def _control_flow_graph_types() -> tuple[tuple[type, ...], tuple[type, ...]]:
    """(cond branch graph types, loop condition and body graph types), or empty."""
    try:
        from tensorflow.python.ops import control_flow_v2_func_graphs as graphs

        return (graphs.CondBranchFuncGraph,), (graphs.WhileCondFuncGraph, graphs.WhileBodyFuncGraph)
    except (ImportError, AttributeError):
        return (), ()


def _global_state() -> Any:
    try:
        from keras.src.backend.common import global_state
    except ImportError:
        return None
    return global_state if hasattr(global_state, "get_global_attribute") else None


def _stateless_scope() -> Any:
    try:
        from keras.src.backend.common import stateless_scope
    except ImportError:
        return None
    return stateless_scope if hasattr(stateless_scope, "in_stateless_scope") else None


_VARIABLE_BASE = _variable_base()
_STATELESS_SCOPE = _stateless_scope()
_GLOBAL_STATE = _global_state()


UPDATE_STEP = Internal(
    "Optimizer._backend_update_step(grads, trainable_variables, learning_rate)",
    "the rate is read again before each update instead (the schedule runs twice per "
    "step); everything is still logged",
    lambda optimizer: _has_signature(
        getattr(keras.optimizers.Optimizer, "_backend_update_step", None), _UPDATE_STEP_PARAMETERS
    ),
)
CURRENT_RATE = Internal(
    "Optimizer._get_current_learning_rate()",
    "current_learning_rate() evaluates the schedule on its own, once more per step; "
    "everything is still logged",
    lambda optimizer: _has_signature(
        getattr(keras.optimizers.Optimizer, "_get_current_learning_rate", None), ("self",)
    ),
)
MICRO_BATCH_COUNTER = Internal(
    "Optimizer._iterations",
    "the update computes its rate on its own and the ring reads the update count "
    "separately; everything is still logged",
    lambda optimizer: optimizer is None or is_variable(getattr(optimizer, "_iterations", None)),
)
RATE_SETTING = Internal(
    "Optimizer._learning_rate",
    "the configured schedule's curve and the source of each change of the rate are not logged",
    lambda optimizer: optimizer is None or getattr(optimizer, "_learning_rate", None) is not None,
)
OPTIMIZER_STRATEGY = Internal(
    "the TensorFlow optimizer's _distribution_strategy",
    "a LearningRateWriter takes the tf.distribute strategy in scope where it is created",
    lambda optimizer: (
        optimizer is None
        or backend_tensorflow() is None
        or isinstance(
            getattr(optimizer, "_distribution_strategy", None),
            backend_tensorflow().distribute.Strategy,
        )
    ),
)
CALL_CONTEXT = Internal(
    "keras.src.backend.common.global_state's 'current_call_ctx'",
    "current_learning_rate(), current_step(), current_epoch() and record() cannot tell a "
    "training call from evaluate() or predict() while a logger is active",
    lambda optimizer: _GLOBAL_STATE is not None,
)
VARIABLE_BASE = Internal(
    "keras.src.backend.common.variables' base class of variables",
    "a constant rate's curve, its assignments and a custom optimizer's scalar variables "
    "are not logged",
    lambda optimizer: _VARIABLE_BASE is not None,
)
CONTROL_FLOW_GRAPHS = Internal(
    "tensorflow.python.ops.control_flow_v2_func_graphs' cond branch and loop body graphs",
    "every record()ed value is written by an op of its own (a little more per step); "
    "everything is still logged",
    lambda optimizer: backend_tensorflow() is None or all(_control_flow_graph_types()),
)
STATELESS_SCOPE = Internal(
    "keras.src.backend.common.stateless_scope.in_stateless_scope()",
    "on the JAX backend, current_learning_rate() and current_step() cannot tell JAX's "
    "stateless train step from an eager call, and the step tap cannot say it was traced",
    lambda optimizer: _STATELESS_SCOPE is not None,
)
STATE_SYNC = Internal(
    "the JAX trainer's jax_state_sync()",
    "on the JAX backend, the steps of an epoch are written at its end only, and an epoch "
    "longer than the step tap's capacity loses its first steps",
    lambda optimizer: hasattr(keras.Model, "jax_state_sync") or keras.backend.backend() != "jax",
)
_COMPUTE_PARAMETERS = (
    "self",
    "trainable_variables",
    "non_trainable_variables",
    "metrics_variables",
    "x",
    "y",
    "sample_weight",
    "training",
    "optimizer_variables",
)
JAX_TRAIN_STEP = Internal(
    "the JAX trainer's train_step(state, data), with state (trainable, non-trainable, "
    "optimizer, metrics variables), and compute_loss_and_updates(..., optimizer_variables)",
    "on the JAX backend, current_learning_rate(), current_step(), current_epoch() and "
    "record() are not available inside fit's train step",
    lambda optimizer: (
        keras.backend.backend() != "jax"
        or _has_signature(
            getattr(keras.Model, "compute_loss_and_updates", None), _COMPUTE_PARAMETERS
        )
    ),
)
OPTIMIZER_VARIABLE_LIST = Internal(
    "Optimizer._variables",
    "on the JAX backend, the step tap's own variables are saved with the optimizer's, so a "
    "checkpoint saved with the logger does not load into an optimizer without it",
    lambda optimizer: optimizer is None or isinstance(getattr(optimizer, "_variables", None), list),
)
TRAINABLE_VARIABLE_LIST = Internal(
    "Optimizer._trainable_variables",
    "update_ratios are not measured where apply() is called without its variables (JAX's "
    "stateless_apply, in fit's train step)",
    lambda optimizer: (
        optimizer is None
        or not optimizer.built
        or isinstance(getattr(optimizer, "_trainable_variables", None), list)
    ),
)
GLOBAL_SEED_GENERATOR = Internal(
    "keras.src.backend.common.global_state's 'global_seed_generator'",
    "find_learning_rate cannot put back the state of the seed generator keras.random "
    "uses without a seed, where the sweep drew from it",
    lambda optimizer: _GLOBAL_STATE is not None,
)
FRAMES = Internal(
    "sys._getframe",
    "record() files values under their name alone (pass layer=...) and every change of "
    "the rate is attributed to 'manual assign'",
    lambda optimizer: hasattr(sys, "_getframe"),
)

INTERNALS = (
    UPDATE_STEP,
    CURRENT_RATE,
    MICRO_BATCH_COUNTER,
    RATE_SETTING,
    OPTIMIZER_STRATEGY,
    CALL_CONTEXT,
    VARIABLE_BASE,
    CONTROL_FLOW_GRAPHS,
    STATELESS_SCOPE,
    STATE_SYNC,
    JAX_TRAIN_STEP,
    OPTIMIZER_VARIABLE_LIST,
    TRAINABLE_VARIABLE_LIST,
    GLOBAL_SEED_GENERATOR,
    FRAMES,
)

_WARNED: set[str] = set()


def missing(optimizer: keras.optimizers.Optimizer | None = None) -> list[str]:
    """The internals this Keras and TensorFlow lack (with an optimizer, its own too).

    Example:
        >>> missing(keras.optimizers.SGD())
        []
    """
    return [internal.name for internal in INTERNALS if not internal.check(optimizer)]


def available(internal: Internal, optimizer: keras.optimizers.Optimizer | None = None) -> bool:
    """Whether `internal` is there; if not, warns once per process what is not logged."""
    if internal.check(optimizer):
        return True
    _warn_missing(internal)
    return False


def _warn_missing(internal: Internal) -> None:
    if internal.name not in _WARNED:
        _WARNED.add(internal.name)
        warnings.warn(
            f"tb_lr_plugin: Keras {keras.version()} on {_backend_version()} has no "
            f"{internal.name} as this package expects, so {internal.without}. Training is "
            "not affected. Please report this with the versions named here."
        )


def _backend_version() -> str:
    backend = keras.backend.backend()
    module = {"tensorflow": "tensorflow", "jax": "jax", "torch": "torch"}.get(backend)
    version = getattr(sys.modules.get(module or ""), "__version__", "")
    return f"{backend} {version}".strip()


# --- The optimizer ------------------------------------------------------------


def hook_update_step(
    optimizer: keras.optimizers.Optimizer, before_update: Callable[[Any], None]
) -> bool:
    """Calls `before_update(learning_rate)` as each of Keras' own updates starts.

    Keras' `apply` hands `_backend_update_step` the rate tensor it computed
    for this update: capturing that very tensor costs nothing more. Returns
    `False`, installing nothing, where the optimizer has an `apply` of its own
    (which may never call the method) or Keras has no such method.
    """
    if type(optimizer).apply is not keras.optimizers.Optimizer.apply:
        return False
    if not available(UPDATE_STEP):
        return False
    update_step = optimizer._backend_update_step

    def backend_update_step(grads, trainable_variables, learning_rate):
        before_update(learning_rate)
        return update_step(grads, trainable_variables, learning_rate)

    backend_update_step.__wrapped__ = update_step
    optimizer._backend_update_step = backend_update_step
    return True


def hook_current_learning_rate(
    optimizer: keras.optimizers.Optimizer, rate: Callable[[Callable[[], Any]], Any]
) -> bool:
    """Routes the optimizer's rate through `rate(original)`, for its update and its readers.

    Keras' `apply` and the public `learning_rate` property both ask
    `_get_current_learning_rate`; `rate` receives the original method.
    Returns `False` where Keras has no such method.
    """
    if not available(CURRENT_RATE):
        return False
    original = optimizer._get_current_learning_rate

    def get_current_learning_rate():
        return rate(original)

    get_current_learning_rate.__wrapped__ = original
    optimizer._get_current_learning_rate = get_current_learning_rate
    return True


def computes_rate_as_keras_does(optimizer: keras.optimizers.Optimizer) -> bool:
    """Whether the optimizer keeps Keras' rule: a schedule called on the micro-batch count.

    Example:
        >>> computes_rate_as_keras_does(keras.optimizers.Adam())
        True
    """
    return CURRENT_RATE.check(optimizer) and (
        type(optimizer)._get_current_learning_rate
        is keras.optimizers.Optimizer._get_current_learning_rate
    )


def micro_batch_counter(optimizer: keras.optimizers.Optimizer) -> Any:
    """The variable Keras counts micro-batches in and calls a schedule on, or `None`.

    It is `iterations` without gradient accumulation.

    Example:
        >>> int(micro_batch_counter(keras.optimizers.SGD()).numpy())
        0
    """
    if not available(MICRO_BATCH_COUNTER, optimizer):
        return None
    return optimizer._iterations


def torch_write_count(variable: keras.Variable) -> int:
    """How many times PyTorch wrote `variable`'s tensor in place (its version counter).

    An update and a restore of the variable both advance it; reading it costs
    no device access.
    """
    return variable.value._version


def rate_setting(optimizer: keras.optimizers.Optimizer) -> Any:
    """What the rate was configured as: a schedule, a variable or a callable (or `None`).

    `optimizer.learning_rate` gives the rate's *value*; the configured curve
    and the sources of assignments need the object behind it.

    Example:
        >>> is_variable(rate_setting(keras.optimizers.SGD(0.1)))
        True
    """
    if not available(RATE_SETTING, optimizer):
        return None
    return optimizer._learning_rate


def optimizer_strategy(optimizer: keras.optimizers.Optimizer) -> Any:
    """The `tf.distribute` strategy the optimizer's variables were created under.

    `None` on another backend than TensorFlow.
    """
    if backend_tensorflow() is None or not available(OPTIMIZER_STRATEGY, optimizer):
        return None
    return optimizer._distribution_strategy


def sync_training_state(model: keras.Model) -> None:
    """Writes the state JAX's `fit` carries between steps back into the variables.

    JAX's `fit` passes the variables' values from step to step and leaves the
    variables themselves stale until the epoch ends. Read between two steps
    (before the next one takes those buffers), it is still valid. Nothing to
    do on other backends.
    """
    if keras.backend.backend() == "jax" and available(STATE_SYNC):
        model.jax_state_sync()


def executing_eagerly() -> bool:
    """Whether this code runs eagerly, not traced into a compiled or stateless step.

    Example:
        >>> executing_eagerly()
        True
    """
    tf = backend_tensorflow()
    if tf is not None:
        return tf.executing_eagerly()
    if keras.backend.backend() == "torch":
        import torch

        return not torch.compiler.is_compiling()
    return not in_stateless_scope()


def in_stateless_scope() -> bool:
    """Whether Keras is computing a stateless step (JAX's `fit`, `stateless_apply`).

    There a variable's value is the one the step carries, or, for a variable
    the step was not given, a stale host value.
    """
    return available(STATELESS_SCOPE) and _STATELESS_SCOPE.in_stateless_scope()


def hook_jax_train_step(
    model: keras.Model,
    around_forward: Callable[[dict[int, Any], Callable[[], Any]], tuple[Any, Any]],
    after_step: Callable[[Any, dict[int, Any], dict[int, Any]], None],
    owner: Any,
) -> bool:
    """Lets `owner`, a step tap, see and carry values out of JAX's stateless forward pass.

    JAX's `fit` computes the forward pass as a pure function of the model's
    variables, inside `jax.value_and_grad`: an optimizer variable read there
    is a stale host value, and a value computed there cannot leave it but as
    an output. So, for a training step:

    * `around_forward(values, forward)` runs as Keras' `compute_loss_and_updates`
      does, given `values`, the value of each optimizer variable in this step
      (by `id`); it calls `forward()` and returns its result with one value
      to carry out of the gradient's trace (or `None`);
    * `after_step(carried, before, after)` runs at the end of the train step
      with that value and the optimizer variables' values before and after
      the update (by `id`); it may replace entries of `after`.

    The carried value rides out as an extra non-trainable value, removed
    before the step returns: the state `fit` sees keeps its shape. A
    `train_step` of the model's own may use that list, so nothing is carried
    there. The logging parts never raise: a failure warns and the step runs
    as Keras' own.

    Installed for one owner at a time: new functions for a new owner (JAX
    caches a compiled step by function, so a model compiled with another
    optimizer must not meet the old ones). Returns whether it installed new
    ones (the train function must then be traced again), `False` too where
    Keras has no such methods.
    """
    if not available(JAX_TRAIN_STEP):
        return False
    installed = attached(model, "jax_train_step")
    if installed is not None and installed["owner"] is owner:
        return False
    originals = (
        installed["originals"]
        if installed
        else (
            model.compute_loss_and_updates,
            model.train_step,
        )
    )
    original_compute, original_train_step = originals
    keras_own_train_step = type(model).train_step is keras.Model.train_step
    extra_at: list[int] = []  # Where the carried value sits, while a train step is traced.

    def compute_loss_and_updates(*args, **kwargs):
        bound = inspect.signature(original_compute).bind(*args, **kwargs)
        optimizer_values = bound.arguments.get("optimizer_variables")
        variables = model.optimizer.variables if model.optimizer is not None else []
        if (
            not bound.arguments.get("training", False)
            or optimizer_values is None
            or len(optimizer_values) != len(variables)
        ):
            return original_compute(*args, **kwargs)
        values = {id(v): value for v, value in zip(variables, optimizer_values, strict=True)}
        (loss, aux), carried = around_forward(values, lambda: original_compute(*args, **kwargs))
        if carried is None or not keras_own_train_step:
            return loss, aux
        unscaled_loss, y_pred, non_trainable, metrics = aux
        extra_at.append(len(non_trainable))
        return loss, (unscaled_loss, y_pred, [*non_trainable, carried], metrics)

    def train_step(state, data):
        extra_at.clear()
        logs, new_state = original_train_step(state, data)
        trainable, non_trainable, optimizer_after, metrics = new_state
        carried = None
        if extra_at and len(non_trainable) == extra_at[0] + 1:
            carried, non_trainable = non_trainable[-1], non_trainable[:-1]
        variables = model.optimizer.variables
        if len(variables) == len(state[2]) == len(optimizer_after):
            before = dict(zip(map(id, variables), state[2], strict=True))
            after = dict(zip(map(id, variables), optimizer_after, strict=True))
            try:
                after_step(carried, before, after)
                optimizer_after = [after[id(v)] for v in variables]
            except Exception as error:  # Logging must never stop a step.
                warnings.warn(f"tb_lr_plugin: cannot record this step's values: {error!r}")
        return logs, (trainable, non_trainable, optimizer_after, metrics)

    model.compute_loss_and_updates = compute_loss_and_updates
    model.train_step = train_step
    attach(model, "jax_train_step", {"owner": owner, "originals": originals})
    return True


@contextlib.contextmanager
def train_step_hooks_kept(model: keras.Model) -> Iterator[None]:
    """Puts back, on exit, the train-step hooks `model` had on entry (`hook_jax_train_step`).

    For a training that hooks the model for an optimizer of its own (a range
    test): afterwards the model's `fit` runs as before, hooked for the
    optimizer's own tap or not at all.
    """
    names = ("compute_loss_and_updates", "train_step")
    own = {name: vars(model)[name] for name in names if name in vars(model)}
    installed = attached(model, "jax_train_step")
    try:
        yield
    finally:
        for name in names:
            if name in own:
                setattr(model, name, own[name])
            elif name in vars(model):
                delattr(model, name)
        if installed is not None:
            attach(model, "jax_train_step", installed)
        elif attached(model, "jax_train_step") is not None:
            detach(model, "jax_train_step")


def trainable_variables_of(optimizer: keras.optimizers.Optimizer) -> list[Any] | None:
    """The variables a built optimizer updates when `apply` is given none; `None` if unknown.

    Example:
        >>> weight = keras.Variable(1.0)
        >>> optimizer = keras.optimizers.SGD()
        >>> optimizer.build([weight])
        >>> trainable_variables_of(optimizer) == [weight]
        True
    """
    if not optimizer.built or not available(TRAINABLE_VARIABLE_LIST, optimizer):
        return None
    return list(optimizer._trainable_variables)


def hide_from_saving(optimizer: keras.optimizers.Optimizer, variables: list[Any]) -> None:
    """Keeps `variables`, tracked by `optimizer`, out of what it saves and loads.

    An optimizer saves its variables by position and refuses (with a warning)
    a checkpoint with another count: a checkpoint saved with the logger must
    load without it and the other way round.
    """
    if not available(OPTIMIZER_VARIABLE_LIST, optimizer):
        return
    hidden = {id(variable) for variable in variables}
    for method_name in ("save_own_variables", "load_own_variables"):
        method = getattr(optimizer, method_name)

        def without_hidden(store, method=method):
            # Around Keras' attribute tracking, which would track the list again.
            tracked = optimizer._variables
            object.__setattr__(optimizer, "_variables", [v for v in tracked if id(v) not in hidden])
            try:
                return method(store)
            finally:
                object.__setattr__(optimizer, "_variables", tracked)

        without_hidden.__wrapped__ = method
        setattr(optimizer, method_name, without_hidden)


def global_seed_generator_state() -> Any:
    """The state variable of the seed generator `keras.random` uses without a seed, if made.

    Keras creates that generator on first use; `None` before (or without the
    internal: see `GLOBAL_SEED_GENERATOR`).
    """
    if not available(GLOBAL_SEED_GENERATOR):
        return None
    generator = _GLOBAL_STATE.get_global_attribute("global_seed_generator")
    return getattr(generator, "state", None)


def instance_attributes(owner: Any) -> dict[str, Any]:
    """The attributes an object holds itself, private ones included, by name.

    A custom optimizer keeps a hyperparameter it changes while training in an
    attribute of its own choosing, often a private one (`self._decay`).
    """
    return dict(vars(owner))


def is_variable(value: Any) -> bool:
    """Whether `value` is a Keras variable, on every supported Keras.

    Example:
        >>> is_variable(keras.Variable(1.0)), is_variable(1.0)
        (True, False)
    """
    if isinstance(value, keras.Variable):
        return True
    return available(VARIABLE_BASE) and isinstance(value, _VARIABLE_BASE)


# --- Layers and the Python stack ----------------------------------------------


def training_flag() -> bool | None:
    """The `training` argument of the Keras layer call in progress: True, False or None.

    Example:
        >>> training_flag() is None  # No layer is being called.
        True
    """
    if not available(CALL_CONTEXT):
        return None
    context = _GLOBAL_STATE.get_global_attribute("current_call_ctx")
    if context is None:
        return None
    if hasattr(context, "get_value"):  # Keras 3.15
        return context.get_value("training")
    if hasattr(context, "training"):  # Keras 3.5
        return context.training
    _warn_missing(CALL_CONTEXT)
    return None


def calling_frames(depth: int = 1) -> Iterator[Any]:
    """The Python frames up the stack from `depth` levels above the caller, nearest first.

    Walked once per trace or per eager assignment, never per step.
    """
    if not available(FRAMES):
        return
    frame = sys._getframe(depth + 1)
    while frame is not None:
        yield frame
        frame = frame.f_back


# --- TensorFlow graphs --------------------------------------------------------


def is_cond_branch(graph: Any) -> bool:
    """Whether `graph` is a `cond` branch: it runs at most once per run of its outer graph."""
    return isinstance(graph, _control_flow_graph_types()[0])


def is_control_flow_graph(graph: Any) -> bool:
    """Whether `graph` is a `cond` branch or a `while` loop's condition or body.

    A tensor of such a graph cannot be used outside it. Where TensorFlow has
    no such classes, every nested graph counts as one: a value recorded there
    is then left out rather than breaking the update that would take it.
    """
    if not available(CONTROL_FLOW_GRAPHS):
        return outer_graph(graph) is not None
    return isinstance(graph, sum(_control_flow_graph_types(), ()))


def outer_graph(graph: Any) -> Any:
    """The graph a function graph is traced inside, or `None`."""
    return getattr(graph, "outer_graph", None)


# --- State this package keeps on objects it does not own ----------------------

_PREFIX = "_tb_lr_plugin_"


def attached(owner: Any, key: str) -> Any:
    """What `attach(owner, key, ...)` left on `owner`, or `None`.

    The writer keeps its per-optimizer tap, per-graph step tensors and
    per-variable listeners on those objects, so they are collected together.
    """
    return getattr(owner, _PREFIX + key, None)


def attach(owner: Any, key: str, value: Any) -> None:
    """Keeps `value` on `owner` under a name no library uses."""
    setattr(owner, _PREFIX + key, value)


def detach(owner: Any, key: str) -> None:
    """Removes what `attach` kept."""
    delattr(owner, _PREFIX + key)
