"""Every weight initialised to zero: hidden units stay at zero and get no gradient."""

import keras

from . import harness

CAUSE = 'kernel_initializer="zeros" on every layer'
EXPECTED_STATUS = "stuck"
EXPECTED_KINDS = {"invariant_outputs", "vanishing_gradients"}
EXPECTED_CAUSES = {"invariant_outputs": "zero_init", "vanishing_gradients": "zero_init"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    model = harness.mlp(kernel_initializer="zeros")
    harness.fit(
        monitor,
        model,
        keras.optimizers.Adam(1e-3),
        harness.mse,
        harness.batches(*harness.regression()),
    )
