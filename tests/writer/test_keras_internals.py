"""The private Keras and TensorFlow names the writer uses: all in one module, each checked.

Three kinds of test:

* every internal is there, with the shape the writer expects, on the Keras
  and TensorFlow installed (`make test` runs this file on the oldest
  supported pair, the pinned newest release and keras-nightly);
* no module of the writer but `keras_internals` touches a private name of
  Keras, TensorFlow or Python (found by walking the source's syntax tree);
* with an internal missing, `fit` with the logger trains exactly as without
  it, one warning names the versions and what is not logged, and the rest is
  logged.
"""

from __future__ import annotations

import ast
import dataclasses
import re
import types
import warnings
from pathlib import Path

import keras
import numpy as np
import pytest
import tensorflow as tf
from training_logs import data, read_run, schedule_at

import tb_lr_plugin as tblr
from tb_lr_plugin.writer import keras_internals

PACKAGE = Path(tblr.__file__).parent
WRITER = PACKAGE / "writer"
INTERNALS_MODULE = WRITER / "keras_internals.py"
PRIVATE_MODULES = ("keras.src", "tensorflow.python")


def test_every_internal_is_there_on_the_installed_keras():
    schedule = keras.optimizers.schedules.CosineDecay(0.1, 100)
    optimizer = keras.optimizers.Adam(schedule)
    assert keras_internals.missing(optimizer) == []
    assert keras_internals.rate_setting(optimizer) is schedule
    assert keras_internals.is_variable(keras_internals.rate_setting(keras.optimizers.SGD(0.1)))
    assert keras_internals.is_variable(keras_internals.micro_batch_counter(optimizer))
    assert keras_internals.optimizer_strategy(optimizer) is tf.distribute.get_strategy()
    assert keras_internals.computes_rate_as_keras_does(optimizer)

    seen = []
    assert keras_internals.hook_update_step(optimizer, seen.append)
    assert keras_internals.hook_current_learning_rate(optimizer, lambda original: original() * 2)
    variable = keras.Variable(np.ones(2, "float32"))
    optimizer.apply([tf.ones(2)], [variable])
    # The hook saw the rate Keras handed the update, which went through the rate hook.
    assert len(seen) == 1 and float(seen[0]) == pytest.approx(0.2)
    np.testing.assert_allclose(variable.numpy(), np.ones(2) - 0.2, rtol=1e-5)


class _FlagProbe(keras.layers.Layer):
    """Remembers the training flag and the frame found up the stack, per call."""

    def __init__(self):
        super().__init__()
        self.flags, self.frames = [], []

    def call(self, x, training=None):
        self.flags.append(keras_internals.training_flag())
        frames = keras_internals.calling_frames(0)
        self.frames.append(next(frame for frame in frames if "self" in frame.f_locals))
        return x


def test_the_training_flag_and_the_calling_layer_are_found():
    probe = _FlagProbe()
    x = np.zeros((2, 3), "float32")
    probe(x, training=True)
    probe(x, training=False)
    assert probe.flags == [True, False]
    assert all(frame.f_locals["self"] is probe for frame in probe.frames)
    assert keras_internals.training_flag() is None


def test_control_flow_graphs_are_told_apart():
    found = {}

    @tf.function
    def traced(flag):
        found["function"] = keras_internals.is_control_flow_graph(tf.compat.v1.get_default_graph())

        def branch():
            graph = tf.compat.v1.get_default_graph()
            found["branch"] = keras_internals.is_cond_branch(graph)
            found["branch_outer"] = keras_internals.outer_graph(graph) is not None
            return tf.constant(1.0)

        def body(i):
            found["loop"] = keras_internals.is_control_flow_graph(tf.compat.v1.get_default_graph())
            return i + 1

        tf.while_loop(lambda i: i < 2, body, [tf.constant(0)])
        return tf.cond(flag, branch, lambda: tf.constant(0.0))

    traced(tf.constant(True))
    assert found == {"function": False, "branch": True, "branch_outer": True, "loop": True}


# --- Private access lives in one module --------------------------------------


def _is_private(name: str) -> bool:
    return name.startswith("_") and not (name.startswith("__") and name.endswith("__"))


def _names_defined_by(tree: ast.AST) -> set[str]:
    """Private names this package defines: functions, classes, attributes it assigns."""
    names = set()
    for node in ast.walk(tree):
        if isinstance(node, (ast.FunctionDef, ast.AsyncFunctionDef, ast.ClassDef)):
            names.add(node.name)
        elif isinstance(node, (ast.Assign, ast.AnnAssign, ast.AugAssign)):
            targets = node.targets if isinstance(node, ast.Assign) else [node.target]
            for target in targets:
                for leaf in ast.walk(target):
                    if isinstance(leaf, ast.Attribute):
                        names.add(leaf.attr)
                    elif isinstance(leaf, ast.Name):
                        names.add(leaf.id)
    return {name for name in names if _is_private(name)}


def _private_uses(tree: ast.AST, ours: set[str]) -> list[str]:
    """Private names of others a module uses: attributes, names passed to getattr & co, imports."""
    uses = []
    for node in ast.walk(tree):
        if isinstance(node, ast.Attribute) and _is_private(node.attr) and node.attr not in ours:
            uses.append(f"line {node.lineno}: .{node.attr}")
        elif (
            isinstance(node, ast.Call)
            and isinstance(node.func, ast.Name)
            and node.func.id in ("getattr", "setattr", "hasattr", "delattr")
            and len(node.args) >= 2
            and isinstance(node.args[1], ast.Constant)
            and isinstance(node.args[1].value, str)
            and _is_private(node.args[1].value)
            and node.args[1].value not in ours
        ):
            uses.append(f"line {node.lineno}: {node.func.id}(..., {node.args[1].value!r})")
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith(PRIVATE_MODULES):
            uses.append(f"line {node.lineno}: from {node.module} import ...")
        elif isinstance(node, ast.Import):
            uses.extend(
                f"line {node.lineno}: import {alias.name}"
                for alias in node.names
                if alias.name.startswith(PRIVATE_MODULES)
            )
    return uses


def _package_names() -> set[str]:
    # Not keras_internals.py's: what it assigns are others' names (the hooks).
    names = set()
    for path in PACKAGE.rglob("*.py"):
        if path != INTERNALS_MODULE:
            names |= _names_defined_by(ast.parse(path.read_text()))
    return names


def test_private_names_of_keras_and_tensorflow_are_used_only_in_keras_internals():
    ours = _package_names()
    found = {
        path.name: uses
        for path in sorted(WRITER.glob("*.py"))
        if path != INTERNALS_MODULE and (uses := _private_uses(ast.parse(path.read_text()), ours))
    }
    assert found == {}, "private access outside keras_internals.py:\n" + "\n".join(
        f"  {name}: {use}" for name, uses in found.items() for use in uses
    )


def test_the_walk_finds_what_keras_internals_uses():
    # The detector itself, on the module that is allowed what it detects.
    uses = " ".join(_private_uses(ast.parse(INTERNALS_MODULE.read_text()), _package_names()))
    for expected in (
        "._backend_update_step",
        "._get_current_learning_rate",
        "._iterations",
        "._learning_rate",
        "._distribution_strategy",
        "._getframe",
        "from keras.src.backend.common import",
        "from tensorflow.python.ops import",
    ):
        assert expected in uses


# --- A Keras without one of them ---------------------------------------------

EPOCHS, BATCHES = 2, 10


class _Probe(keras.layers.Layer):
    """Records what the in-layer accessors see, and a value from a `cond` branch."""

    def call(self, x):
        tblr.record("rate", tblr.current_learning_rate(default=0.0))
        tblr.record("step", tblr.current_step(default=0))

        def positive():
            tblr.record("sign", 1.0)
            return x

        def negative():
            tblr.record("sign", -1.0)
            return x

        return keras.ops.cond(keras.ops.mean(x) > 0, positive, negative)


def _train(log_dir=None, **optimizer_options):
    """Fits a small model with a probe layer; returns its losses and final weights."""
    keras.utils.set_random_seed(0)
    schedule = keras.optimizers.schedules.ExponentialDecay(0.05, decay_steps=4, decay_rate=0.7)
    model = keras.Sequential(
        [keras.Input((3,)), keras.layers.Dense(4), _Probe(name="probe"), keras.layers.Dense(1)],
        name="net",
    )
    model.compile(optimizer=keras.optimizers.SGD(schedule, **optimizer_options), loss="mse")
    x, y = data(BATCHES)
    callbacks = [tblr.LearningRateLogger(log_dir)] if log_dir is not None else []
    history = model.fit(x, y, batch_size=8, epochs=EPOCHS, verbose=0, callbacks=callbacks)
    return history.history["loss"], model.get_weights(), schedule


def _without(monkeypatch, internal: keras_internals.Internal) -> None:
    """Makes this process's Keras look as if `internal` were missing."""
    name = next(key for key, value in vars(keras_internals).items() if value is internal)
    monkeypatch.setattr(keras_internals, name, dataclasses.replace(internal, check=lambda _: False))
    monkeypatch.setattr(keras_internals, "_WARNED", set())


def _fit_without(log_dir, **optimizer_options):
    """Trains with the logger where an internal is missing; checks training is untouched."""
    bare_losses, bare_weights, _ = _train(**optimizer_options)
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        losses, weights, schedule = _train(log_dir, **optimizer_options)
    ours = [str(w.message) for w in caught if str(w.message).startswith("tb_lr_plugin")]
    assert losses == bare_losses
    for logged, bare in zip(weights, bare_weights, strict=True):
        np.testing.assert_array_equal(logged, bare)
    return ours, read_run(log_dir), schedule


# What each missing internal changes in the `train` run: series names that
# must be absent, and where the probe's records are filed.
WITHOUT = {
    "UPDATE_STEP": ((), "layers/net/probe/"),
    "CURRENT_RATE": ((), "layers/net/probe/"),
    "MICRO_BATCH_COUNTER": ((), "layers/net/probe/"),
    "RATE_SETTING": (("schedule", "schedule_config"), "layers/net/probe/"),
    "CALL_CONTEXT": ((), "layers/net/probe/"),
    "CONTROL_FLOW_GRAPHS": ((), "layers/net/probe/"),
    "FRAMES": ((), "layers/"),
}


@pytest.mark.parametrize("name", sorted(WITHOUT))
def test_fit_without_an_internal_trains_as_without_the_logger(monkeypatch, log_dir, name):
    internal = getattr(keras_internals, name)
    _without(monkeypatch, internal)
    messages, run, schedule = _fit_without(log_dir)

    assert len(messages) == 1, messages
    assert internal.name in messages[0] and internal.without in messages[0]
    assert f"Keras {keras.version()}" in messages[0]
    absent, records = WITHOUT[name]
    total = EPOCHS * BATCHES
    applied = run.series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(total))
    np.testing.assert_array_equal(applied.values, schedule_at(schedule, range(total)))
    for series in absent:
        assert series not in run.tags
    for series in {"schedule", "schedule_config"} - set(absent):
        assert series in run.tags
    np.testing.assert_array_equal(run.series(records + "rate").values, applied.values)
    np.testing.assert_array_equal(run.series(records + "step").values, np.arange(total))
    assert set(run.series(records + "sign").values) <= {1.0, -1.0}
    assert len(run.series(records + "sign").steps) == total


def test_a_keras_that_removed_the_hooked_update_method(monkeypatch, log_dir):
    """A real deletion: Keras' optimizer classes lose `_backend_update_step`.

    Keras' own `apply` still calls it; this simulated release keeps it on
    each optimizer instead of its class, so training runs. The logger finds
    the method missing, says so once, and captures through `apply` instead.
    """
    update_step = keras.optimizers.Optimizer._backend_update_step
    for cls in keras.optimizers.Optimizer.__mro__:
        if "_backend_update_step" in vars(cls):
            monkeypatch.delattr(cls, "_backend_update_step")
    original_init = keras.optimizers.Optimizer.__init__

    def init(self, *args, **kwargs):
        original_init(self, *args, **kwargs)
        self._backend_update_step = types.MethodType(update_step, self)

    monkeypatch.setattr(keras.optimizers.Optimizer, "__init__", init)
    monkeypatch.setattr(keras_internals, "_WARNED", set())
    assert keras_internals.UPDATE_STEP.name in keras_internals.missing()

    messages, run, schedule = _fit_without(log_dir)
    assert len(messages) == 1 and re.search(r"has no Optimizer\._backend_update_step", messages[0])
    total = EPOCHS * BATCHES
    applied = run.series("learning_rate")
    np.testing.assert_array_equal(applied.values, schedule_at(schedule, range(total)))
    np.testing.assert_array_equal(run.series("layers/net/probe/rate").values, applied.values)


def test_without_the_micro_batch_count_updates_are_still_the_steps(monkeypatch, log_dir):
    _without(monkeypatch, keras_internals.MICRO_BATCH_COUNTER)
    messages, run, schedule = _fit_without(log_dir, gradient_accumulation_steps=2)
    assert len(messages) == 1 and "Optimizer._iterations" in messages[0]
    updates = EPOCHS * BATCHES // 2
    applied = run.series("learning_rate")
    np.testing.assert_array_equal(applied.steps, np.arange(updates))
    # Update s applies the schedule at micro-batch 2s + 1.
    np.testing.assert_array_equal(applied.values, schedule_at(schedule, 2 * np.arange(updates) + 1))
    np.testing.assert_array_equal(run.series("layers/net/probe/step").values, np.arange(updates))


def test_a_writer_without_the_optimizer_strategy_uses_the_one_in_scope(monkeypatch, log_dir):
    _without(monkeypatch, keras_internals.OPTIMIZER_STRATEGY)
    optimizer = keras.optimizers.SGD(0.1)
    variable = keras.Variable(np.ones(2, "float32"))
    with pytest.warns(UserWarning, match="_distribution_strategy") as caught:
        writer = tblr.LearningRateWriter(log_dir, optimizer)
    assert len([w for w in caught if "tb_lr_plugin" in str(w.message)]) == 1
    for _ in range(3):
        optimizer.apply([tf.ones(2)], [variable])
        writer.log()
    writer.close()
    applied = read_run(log_dir).series("learning_rate")
    np.testing.assert_array_equal(applied.values, np.float32([0.1] * 3))
