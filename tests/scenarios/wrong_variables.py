"""Gradients taken with respect to the target network's variables instead of the online network's.

The DQN pattern: `target` is a copy used for labels. Every gradient is None; the loop skips None
gradients (the usual fix for Keras' "No gradients provided" error), so nothing ever learns.
"""

import keras
import tensorflow as tf

from . import harness

CAUSE = "tape.gradient(loss, target.trainable_variables): the wrong model's variables"
EXPECTED_STATUS = "stuck"
EXPECTED_KINDS = {"missing_gradients"}
EXPECTED_CAUSES = {"missing_gradients": "wrong_variables"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    model, target = harness.mlp(), harness.mlp()
    target.set_weights(model.get_weights())
    optimizer = keras.optimizers.Adam(1e-3)
    variables = target.trainable_variables

    @tf.function
    def train_step(x: tf.Tensor, y: tf.Tensor, step: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            predictions = model(x, training=True)
            loss = harness.mse(y, predictions)
        gradients = tape.gradient(loss, variables)
        pairs = [(g, v) for g, v in zip(gradients, variables) if g is not None]
        if pairs:
            optimizer.apply_gradients(pairs)
        monitor.record(step, gradients, variables, model.weights, predictions, x, labels=y)

    data = harness.batches(*harness.regression())
    for step in range(harness.STEPS):
        train_step(*next(data), tf.constant(step, tf.int64))
