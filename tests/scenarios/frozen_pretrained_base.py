"""Healthy though partly frozen: a base pre-trained here, then frozen on purpose, and a new head.

Looks like the trainable=False mistake (weights that never move), but the frozen layers did learn
before they were frozen.
"""

import keras

from . import harness

CAUSE = "none (trainable=False on a pre-trained base, on purpose)"
EXPECTED_STATUS = "ok"
EXPECTED_KINDS: set[str] = set()
EXPECTED_CAUSES: dict[str, str] = {}
CAUSE_STEP = None

PRETRAIN_STEPS = 150


def train(monitor: harness.Monitor) -> None:
    x, y = harness.regression()
    base = harness.mlp(hidden=(32,), outputs=32, output_activation="relu")
    pretrain = keras.Sequential([base, keras.layers.Dense(1)])
    pretrain.compile(keras.optimizers.Adam(1e-2), "mse")
    pretrain.fit(
        x, y, batch_size=harness.BATCH, epochs=PRETRAIN_STEPS * harness.BATCH // len(x), verbose=0
    )

    base.trainable = False
    model = keras.Sequential(
        [base, keras.layers.Dense(16, activation="relu"), keras.layers.Dense(1)]
    )
    harness.fit(monitor, model, keras.optimizers.Adam(1e-3), harness.mse, harness.batches(x, y))
