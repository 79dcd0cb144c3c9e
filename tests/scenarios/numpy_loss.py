"""The loss goes through numpy, which TensorFlow cannot differentiate: every gradient is None."""

import keras
import numpy as np
import tensorflow as tf

from . import harness

CAUSE = "loss = np.mean((y - predictions.numpy()) ** 2)"
EXPECTED_STATUS = "stuck"
EXPECTED_KINDS = {"missing_gradients"}
EXPECTED_CAUSES = {"missing_gradients": "numpy_in_loss"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    model = harness.mlp()
    optimizer = keras.optimizers.Adam(1e-3)
    data = harness.batches(*harness.regression())
    variables = model.trainable_variables
    for step in range(harness.STEPS):
        x, y = next(data)
        with tf.GradientTape() as tape:
            predictions = model(x, training=True)
            loss = tf.constant(np.mean((y.numpy() - predictions.numpy()) ** 2))
        gradients = tape.gradient(loss, variables)
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        if pairs:
            optimizer.apply_gradients(pairs)
        monitor.record(step, gradients, variables, model.weights, predictions, x, labels=y)
