"""A learning rate of 0: gradients flow, nothing moves."""

import keras

from . import harness

CAUSE = "SGD(learning_rate=0.0)"
EXPECTED_STATUS = "stuck"
EXPECTED_KINDS = {"frozen_weights"}
EXPECTED_CAUSES = {"frozen_weights": "learning_rate_zero"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    model = harness.mlp()
    harness.fit(
        monitor,
        model,
        keras.optimizers.SGD(0.0),
        harness.mse,
        harness.batches(*harness.regression()),
    )
