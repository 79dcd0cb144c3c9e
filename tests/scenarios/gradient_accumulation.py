"""Healthy with gradient accumulation: the weights move only every ACCUMULATE steps.

Recorded every 5 steps, every other record sees no update since the one before: a short run of
"unchanged" that must not read as frozen (the reason a condition must hold for 3 records).
"""

import keras
import tensorflow as tf

from . import harness

ACCUMULATE = 10
CAUSE = f"none (gradients accumulated over {ACCUMULATE} steps, applied once)"
EXPECTED_STATUS = "ok"
EXPECTED_KINDS: set[str] = set()
EXPECTED_CAUSES: dict[str, str] = {}
CAUSE_STEP = None


def train(monitor: harness.Monitor) -> None:
    model = harness.mlp()
    optimizer = keras.optimizers.Adam(1e-3)
    variables = model.trainable_variables
    optimizer.build(variables)
    accumulated = [tf.Variable(tf.zeros_like(v), trainable=False) for v in variables]

    @tf.function
    def micro_step(x: tf.Tensor, y: tf.Tensor) -> tuple[list[tf.Tensor], tf.Tensor]:
        with tf.GradientTape() as tape:
            predictions = model(x, training=True)
            loss = harness.mse(y, predictions)
        gradients = tape.gradient(loss, variables)
        for total, g in zip(accumulated, gradients):
            total.assign_add(g / ACCUMULATE)
        return gradients, predictions

    @tf.function
    def apply() -> None:
        optimizer.apply_gradients(zip([t.read_value() for t in accumulated], variables))
        for total in accumulated:
            total.assign(tf.zeros_like(total))

    @tf.function
    def record(step: tf.Tensor, gradients: list[tf.Tensor], predictions, x, y) -> None:
        monitor.record(step, gradients, variables, model.weights, predictions, x, labels=y)

    data = harness.batches(*harness.regression())
    for step in range(harness.STEPS):
        x, y = next(data)
        gradients, predictions = micro_step(x, y)
        if (step + 1) % ACCUMULATE == 0:
            apply()
        record(tf.constant(step, tf.int64), gradients, predictions, x, y)
