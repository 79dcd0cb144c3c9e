"""The optimizer is given the head's variables only: the encoder has gradients but never moves."""

import keras
import tensorflow as tf

from . import harness

CAUSE = "optimizer.apply_gradients(zip(grads[-2:], head.trainable_variables)): encoder left out"
EXPECTED_STATUS = "warning"
EXPECTED_KINDS = {"frozen_weights"}
EXPECTED_CAUSES = {"frozen_weights": "optimizer_other_variables"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    encoder = harness.mlp(hidden=(32,), outputs=16, output_activation="relu")
    head = keras.Sequential([keras.Input((16,)), keras.layers.Dense(1)])
    optimizer = keras.optimizers.Adam(1e-3)
    variables = encoder.trainable_variables + head.trainable_variables
    weights = encoder.weights + head.weights

    @tf.function
    def train_step(x: tf.Tensor, y: tf.Tensor, step: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            predictions = head(encoder(x, training=True), training=True)
            loss = harness.mse(y, predictions)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients[-2:], head.trainable_variables))
        monitor.record(step, gradients, variables, weights, predictions, x, labels=y)

    data = harness.batches(*harness.regression())
    for step in range(harness.STEPS):
        train_step(*next(data), tf.constant(step, tf.int64))
