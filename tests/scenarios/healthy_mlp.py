"""Healthy: a small ReLU network fitting a smooth regression target with Adam."""

import keras

from . import harness

CAUSE = "none (the reference healthy run)"
EXPECTED_STATUS = "ok"
EXPECTED_KINDS: set[str] = set()
EXPECTED_CAUSES: dict[str, str] = {}
CAUSE_STEP = None


def train(monitor: harness.Monitor) -> None:
    harness.fit(
        monitor,
        harness.mlp(),
        keras.optimizers.Adam(1e-3),
        harness.mse,
        harness.batches(*harness.regression()),
    )
