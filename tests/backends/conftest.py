"""Fixtures of the tests every Keras backend runs (`KERAS_BACKEND` chooses)."""

import pytest


@pytest.fixture
def log_dir(tmp_path):
    """A log directory that does not exist yet, as users pass to `fit`."""
    return tmp_path / "logs"
