"""A model trained with the logger saves and loads exactly as one trained without it."""

from __future__ import annotations

import warnings

import h5py
import keras
import numpy as np
import pytest
from training_logs import data, small_model

import tb_lr_plugin as tblr


def trained(log_dir=None, update_ratios=False) -> keras.Model:
    schedule = keras.optimizers.schedules.CosineDecay(0.01, 40)
    model = small_model(keras.optimizers.Adam(schedule))
    logger = tblr.LearningRateLogger(log_dir, update_ratios=update_ratios) if log_dir else None
    callbacks = [logger] if logger else []
    x, y = data(10)
    model.fit(x, y, batch_size=8, epochs=2, verbose=0, callbacks=callbacks)
    return model


def datasets(path) -> dict[str, tuple[int, ...]]:
    """Every dataset of a Keras weights file, by path, with its shape."""
    found = {}
    with h5py.File(path, "r") as file:
        file.visititems(
            lambda name, item: (
                found.update({name: item.shape}) if isinstance(item, h5py.Dataset) else None
            )
        )
    return found


# With update ratios, JAX's optimizer holds one more variable of the logger's.
UPDATE_RATIOS = pytest.mark.parametrize("update_ratios", [False, True], ids=["", "update_ratios"])


@UPDATE_RATIOS
def test_weights_files_hold_the_same_variables(log_dir, tmp_path, update_ratios):
    logged, plain = trained(log_dir, update_ratios), trained()
    logged.save_weights(tmp_path / "logged.weights.h5")
    plain.save_weights(tmp_path / "plain.weights.h5")
    saved = datasets(tmp_path / "logged.weights.h5")
    assert saved == datasets(tmp_path / "plain.weights.h5")
    assert any(name.startswith("optimizer") for name in saved)  # Optimizer state is saved.


@UPDATE_RATIOS
def test_keras_file_loads_and_predicts_the_same(log_dir, tmp_path, update_ratios):
    logged = trained(log_dir, update_ratios)
    logged.save(tmp_path / "logged.keras")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # Keras warns when it skips optimizer state.
        loaded = keras.models.load_model(tmp_path / "logged.keras")
    x, _ = data(1)
    np.testing.assert_array_equal(loaded.predict(x, verbose=0), logged.predict(x, verbose=0))
    assert len(loaded.optimizer.variables) == len(trained().optimizer.variables)


@UPDATE_RATIOS
def test_a_checkpoint_saved_without_the_logger_restores_into_a_logged_run(
    log_dir, tmp_path, update_ratios
):
    plain = trained()
    plain.save_weights(tmp_path / "plain.weights.h5")
    # Its optimizer carries the logger's step tap from now on.
    logged = trained(log_dir, update_ratios)
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        logged.load_weights(tmp_path / "plain.weights.h5")
    # In order, leaving out the step tap's own variables (JAX keeps them there).
    restored = [v for v in logged.optimizer.variables if not v.name.startswith("tb_lr_")]
    assert len(restored) == len(plain.optimizer.variables)
    for variable, expected in zip(restored, plain.optimizer.variables, strict=True):
        np.testing.assert_array_equal(
            keras.ops.convert_to_numpy(variable), keras.ops.convert_to_numpy(expected)
        )
