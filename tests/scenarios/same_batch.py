"""`next(iter(dataset))` inside the loop: a new iterator every step, so always the first batch."""

import keras
import tensorflow as tf

from . import harness

CAUSE = "x, y = next(iter(dataset)) inside the training loop"
EXPECTED_STATUS = "warning"
EXPECTED_KINDS = {"repeated_batch"}
EXPECTED_CAUSES = {"repeated_batch": "same_batch"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    x, y = harness.regression()
    dataset = tf.data.Dataset.from_tensor_slices((x, y)).batch(harness.BATCH)
    model = harness.mlp()
    optimizer = keras.optimizers.Adam(1e-3)
    variables = model.trainable_variables

    @tf.function
    def train_step(x: tf.Tensor, y: tf.Tensor, step: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            predictions = model(x, training=True)
            loss = harness.mse(y, predictions)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        monitor.record(step, gradients, variables, model.weights, predictions, x, labels=y)

    for step in range(harness.STEPS):
        xb, yb = next(iter(dataset))
        train_step(xb, yb, tf.constant(step, tf.int64))
