"""Shared test set-up: quiet TensorFlow, one thread, and a fresh logdir per test."""

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import pytest  # noqa: E402


@pytest.fixture
def logdir(tmp_path):
    """An empty directory for event files."""
    path = tmp_path / "logs"
    path.mkdir()
    return path
