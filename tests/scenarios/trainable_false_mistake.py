"""A hidden layer left with trainable=False by mistake: it never learns, the rest compensates."""

import keras

from . import harness

CAUSE = "trainable=False on a fresh hidden layer that should learn"
EXPECTED_STATUS = "warning"
EXPECTED_KINDS = {"frozen_weights"}
EXPECTED_CAUSES = {"frozen_weights": "frozen_at_init"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    model = harness.mlp(hidden=(32, 32))
    model.layers[1].trainable = False
    harness.fit(
        monitor,
        model,
        keras.optimizers.Adam(1e-3),
        harness.mse,
        harness.batches(*harness.regression()),
    )
