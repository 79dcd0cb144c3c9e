"""A pipeline bug repeats the first example across the batch: every example is the same input."""

import keras
import tensorflow as tf

from . import harness

CAUSE = "x = tf.repeat(x[:1], len(x), axis=0): a broadcast bug in the input pipeline"
EXPECTED_STATUS = "warning"
EXPECTED_KINDS = {"degenerate_batch"}
EXPECTED_CAUSES = {"degenerate_batch": "identical_examples"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    model = harness.mlp()
    optimizer = keras.optimizers.Adam(1e-3)
    variables = model.trainable_variables

    @tf.function
    def train_step(x: tf.Tensor, y: tf.Tensor, step: tf.Tensor) -> None:
        x = tf.repeat(x[:1], tf.shape(x)[0], axis=0)
        with tf.GradientTape() as tape:
            predictions = model(x, training=True)
            loss = harness.mse(y, predictions)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        monitor.record(step, gradients, variables, model.weights, predictions, x, labels=y)

    data = harness.batches(*harness.regression())
    for step in range(harness.STEPS):
        train_step(*next(data), tf.constant(step, tf.int64))
