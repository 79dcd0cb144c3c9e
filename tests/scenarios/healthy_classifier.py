"""Healthy: a three-class softmax classifier (the control for the one-unit softmax)."""

import keras

from . import harness

CAUSE = "none (softmax over 3 logits, from_logits cross-entropy)"
EXPECTED_STATUS = "ok"
EXPECTED_KINDS: set[str] = set()
EXPECTED_CAUSES: dict[str, str] = {}
CAUSE_STEP = None


def train(monitor: harness.Monitor) -> None:
    x, y = harness.classification()
    harness.fit(
        monitor,
        harness.mlp(outputs=3),
        keras.optimizers.Adam(1e-3),
        harness.sparse_crossentropy,
        harness.batches(x, y),
    )
