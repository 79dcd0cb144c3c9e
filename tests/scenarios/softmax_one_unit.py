"""A binary classifier whose output is a softmax over one unit: always exactly 1.0."""

import keras
import tensorflow as tf

from . import harness

CAUSE = 'Dense(1, activation="softmax") with binary cross-entropy'
EXPECTED_STATUS = "stuck"
EXPECTED_KINDS = {"invariant_outputs"}
EXPECTED_CAUSES = {"invariant_outputs": "softmax_one_unit"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    x, y = harness.classification(classes=2)
    model = harness.mlp(output_activation="softmax")

    def loss(labels: tf.Tensor, probabilities: tf.Tensor) -> tf.Tensor:
        labels = tf.cast(labels[:, None], tf.float32)
        return tf.reduce_mean(keras.losses.binary_crossentropy(labels, probabilities))

    harness.fit(monitor, model, keras.optimizers.Adam(1e-3), loss, harness.batches(x, y))
