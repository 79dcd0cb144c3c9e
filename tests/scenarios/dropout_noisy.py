"""Healthy but noisy: heavy dropout and noisy labels make the loss jump from batch to batch."""

import keras

from . import harness

CAUSE = "none (Dropout(0.5) after each hidden layer, label noise 1.0)"
EXPECTED_STATUS = "ok"
EXPECTED_KINDS: set[str] = set()
EXPECTED_CAUSES: dict[str, str] = {}
CAUSE_STEP = None


def train(monitor: harness.Monitor) -> None:
    model = keras.Sequential(
        [
            keras.Input((harness.FEATURES,)),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(64, activation="relu"),
            keras.layers.Dropout(0.5),
            keras.layers.Dense(1),
        ]
    )
    harness.fit(
        monitor,
        model,
        keras.optimizers.Adam(1e-3),
        harness.mse,
        harness.batches(*harness.regression(noise=1.0)),
    )
