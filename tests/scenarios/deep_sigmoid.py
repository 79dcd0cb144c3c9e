"""A deep stack of sigmoid layers: gradients shrink layer by layer and the signal fades.

Each sigmoid scales the gradient by at most 1/4 on the way down and squeezes the signal on the way
up, so after ten layers the first ones get almost no gradient and the output hardly depends on
the input: the model predicts about the mean and stays there.
"""

import keras

from . import harness

CAUSE = "10 Dense(32, sigmoid) layers with default initialisation"
EXPECTED_STATUS = "stuck"
EXPECTED_KINDS = {"invariant_outputs", "vanishing_gradients"}
EXPECTED_CAUSES = {"invariant_outputs": "deep_saturating", "vanishing_gradients": "deep_saturating"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    harness.fit(
        monitor,
        harness.mlp(hidden=(32,) * 10, activation="sigmoid"),
        keras.optimizers.Adam(1e-3),
        harness.mse,
        harness.batches(*harness.regression()),
    )
