"""MSE between labels of shape (N, 1) and outputs squeezed to (N,): it broadcasts to (N, N).

Every output is pulled towards every label of the batch, so the best the model can do is to
predict their mean, the same for every input: it slowly collapses to a constant.
"""

import keras
import tensorflow as tf

from . import harness

CAUSE = "mean((y - predictions) ** 2) with y of shape (N, 1) and predictions squeezed to (N,)"
EXPECTED_STATUS = "stuck"
EXPECTED_KINDS = {"invariant_outputs"}
EXPECTED_CAUSES = {"invariant_outputs": "collapse_to_constant"}
CAUSE_STEP = 0
# The outputs shrink to 1-3% of the labels' spread: relative to their own mean (near 0 here) they
# still vary, so only the labels given to output_spread tell it.


def train(monitor: harness.Monitor) -> None:
    def loss(labels: tf.Tensor, predictions: tf.Tensor) -> tf.Tensor:
        return tf.reduce_mean(tf.square(labels - tf.squeeze(predictions, axis=-1)))

    harness.fit(
        monitor,
        harness.mlp(),
        keras.optimizers.Adam(1e-2),
        loss,
        harness.batches(*harness.regression()),
    )
