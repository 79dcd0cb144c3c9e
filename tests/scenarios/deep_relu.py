"""Healthy and deep: ten ReLU layers with He initialisation (the control for the deep sigmoid)."""

import keras

from . import harness

CAUSE = "none (10 Dense(16, relu) layers, he_normal)"
EXPECTED_STATUS = "ok"
EXPECTED_KINDS: set[str] = set()
EXPECTED_CAUSES: dict[str, str] = {}
CAUSE_STEP = None


def train(monitor: harness.Monitor) -> None:
    harness.fit(
        monitor,
        harness.mlp(hidden=(16,) * 10, kernel_initializer="he_normal"),
        keras.optimizers.Adam(1e-3),
        harness.mse,
        harness.batches(*harness.regression()),
    )
