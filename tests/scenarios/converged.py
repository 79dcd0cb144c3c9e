"""Healthy and converged: after a long fit, updates are tiny (a decayed learning rate).

The figure that decides LEVEL_SLOW_UPDATE_RATIO from above: a model at its optimum still moves,
by far more than one whose learning rate is 1e-10.
"""

import keras

from . import harness

CAUSE = "none (fit 600 steps unlogged, then SGD with the learning rate decayed to 1e-4)"
EXPECTED_STATUS = "ok"
EXPECTED_KINDS: set[str] = set()
EXPECTED_CAUSES: dict[str, str] = {}
CAUSE_STEP = None


def train(monitor: harness.Monitor) -> None:
    x, y = harness.regression()
    model = harness.mlp()
    model.compile(keras.optimizers.Adam(1e-2), "mse")
    model.fit(x, y, batch_size=harness.BATCH, epochs=600 * harness.BATCH // len(x), verbose=0)
    harness.fit(monitor, model, keras.optimizers.SGD(1e-4), harness.mse, harness.batches(x, y))
