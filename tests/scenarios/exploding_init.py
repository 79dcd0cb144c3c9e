"""Exploding gradients: a 6-layer ReLU network initialised with weights of standard deviation 1.

Each layer multiplies the signal by about sqrt(64 / 2) = 5.7, so gradients are 1e4 times too
large; Adam normalises the steps, so nothing overflows, but the updates overshoot.
"""

import keras

from . import harness

CAUSE = "kernel_initializer=RandomNormal(stddev=1.0) in 6 Dense(64, relu) layers"
EXPECTED_STATUS = "warning"
EXPECTED_KINDS = {"exploding_gradients"}
EXPECTED_CAUSES = {"exploding_gradients": "bad_init_scale"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    model = harness.mlp(
        hidden=(64,) * 6, kernel_initializer=keras.initializers.RandomNormal(stddev=1.0)
    )
    harness.fit(
        monitor,
        model,
        keras.optimizers.Adam(1e-3),
        harness.mse,
        harness.batches(*harness.regression()),
    )
