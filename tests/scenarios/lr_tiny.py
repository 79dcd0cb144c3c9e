"""A learning rate of 1e-10 (a typo for 1e-1, or a schedule that decayed to nothing)."""

import keras

from . import harness

CAUSE = "Adam(learning_rate=1e-10)"
EXPECTED_STATUS = "stuck"
EXPECTED_KINDS = {"frozen_weights"}
EXPECTED_CAUSES = {"frozen_weights": "learning_rate_zero"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    model = harness.mlp()
    harness.fit(
        monitor,
        model,
        keras.optimizers.Adam(1e-10),
        harness.mse,
        harness.batches(*harness.regression()),
    )
