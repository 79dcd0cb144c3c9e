"""ReLUs killed mid-run: a learning-rate spike at step SPIKE pushes the units negative for good.

A warm restart misconfigured to 0.3 instead of 3e-3: 15 steps of it move every weight by up to
4.5, after which the ReLUs of a layer are negative for every input; the outputs stop depending on
the input and the dead units get exactly zero gradient, so nothing brings them back.
"""

import keras

from . import harness

SPIKE = 100
SPIKE_STEPS = 15
CAUSE = f"Adam learning rate 1e-3, spiked to 0.3 for the steps {SPIKE} to {SPIKE + SPIKE_STEPS - 1}"
EXPECTED_STATUS = "stuck"
EXPECTED_KINDS = {"invariant_outputs"}
EXPECTED_CAUSES = {"invariant_outputs": "dead_relu"}
CAUSE_STEP = SPIKE


def train(monitor: harness.Monitor) -> None:
    model = harness.mlp()
    optimizer = keras.optimizers.Adam(1e-3)

    def schedule(step: int) -> None:
        optimizer.learning_rate = 0.3 if SPIKE <= step < SPIKE + SPIKE_STEPS else 1e-3

    harness.fit(
        monitor,
        model,
        optimizer,
        harness.mse,
        harness.batches(*harness.regression()),
        before_step=schedule,
    )
