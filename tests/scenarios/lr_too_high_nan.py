"""SGD with a learning rate far too high for inputs of scale 10: within a few steps, Inf and NaN."""

import keras

from . import harness

CAUSE = "SGD(learning_rate=0.5) on inputs with a standard deviation of 10"
EXPECTED_STATUS = "stuck"
EXPECTED_KINDS = {"non_finite"}
EXPECTED_CAUSES = {"non_finite": "learning_rate_too_high"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    x, y = harness.regression()
    harness.fit(
        monitor,
        harness.mlp(),
        keras.optimizers.SGD(0.5),
        harness.mse,
        harness.batches(10.0 * x, y),
    )
