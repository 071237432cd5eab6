"""Fixtures for the writer tests."""

import pytest


@pytest.fixture
def log_dir(tmp_path):
    """A log directory that does not exist yet, as users pass to `fit`."""
    return tmp_path / "logs"
