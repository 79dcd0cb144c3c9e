"""A learning-rate schedule that drops to 0 at step DROP (a typo: 0.0 for 1e-4): frozen from there."""

import keras

from . import harness

DROP = 150
CAUSE = f"PiecewiseConstantDecay(boundaries=[{DROP}], values=[1e-3, 0.0]) with Adam"
EXPECTED_STATUS = "stuck"
EXPECTED_KINDS = {"frozen_weights"}
EXPECTED_CAUSES = {"frozen_weights": "learning_rate_zero"}
CAUSE_STEP = DROP


def train(monitor: harness.Monitor) -> None:
    schedule = keras.optimizers.schedules.PiecewiseConstantDecay([DROP], [1e-3, 0.0])
    harness.fit(
        monitor,
        harness.mlp(),
        keras.optimizers.Adam(schedule),
        harness.mse,
        harness.batches(*harness.regression()),
    )
