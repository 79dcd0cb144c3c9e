"""A log-scale loss taken of raw linear outputs: log of a negative prediction is NaN."""

import keras
import tensorflow as tf

from . import harness

CAUSE = "loss = mean((log(predictions) - log(y)) ** 2) on a linear output"
EXPECTED_STATUS = "stuck"
EXPECTED_KINDS = {"non_finite"}
EXPECTED_CAUSES = {"non_finite": "bad_loss"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    x, y = harness.regression()

    def loss(labels: tf.Tensor, predictions: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(tf.square(tf.math.log(predictions) - tf.math.log(1.0 + labels**2)))

    harness.fit(monitor, harness.mlp(), keras.optimizers.Adam(1e-3), loss, harness.batches(x, y))
