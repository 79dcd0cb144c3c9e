"""Healthy but slow: plain SGD with a small learning rate; the loss falls, slowly."""

import keras

from . import harness

CAUSE = "none (SGD(learning_rate=1e-3): slow, but learning)"
EXPECTED_STATUS = "ok"
EXPECTED_KINDS: set[str] = set()
EXPECTED_CAUSES: dict[str, str] = {}
CAUSE_STEP = None


def train(monitor: harness.Monitor) -> None:
    harness.fit(
        monitor,
        harness.mlp(),
        keras.optimizers.SGD(1e-3),
        harness.mse,
        harness.batches(*harness.regression()),
    )
