"""A two-branch model where a stop_gradient (meant for a target) cuts one branch off the loss."""

import keras
import tensorflow as tf

from . import harness

CAUSE = "tf.stop_gradient on the output of one branch: its layers get None gradients"
EXPECTED_STATUS = "warning"
EXPECTED_KINDS = {"missing_gradients"}
EXPECTED_CAUSES = {"missing_gradients": "cut_branch"}
CAUSE_STEP = 0


class TwoBranch(keras.Model):
    def __init__(self) -> None:
        super().__init__()
        self.left = keras.layers.Dense(32, activation="relu", name="left")
        self.right = keras.layers.Dense(32, activation="relu", name="right")
        self.head = keras.layers.Dense(1, name="head")

    def call(self, x: tf.Tensor) -> tf.Tensor:
        both = tf.concat([self.left(x), tf.stop_gradient(self.right(x))], axis=1)
        return self.head(both)


def train(monitor: harness.Monitor) -> None:
    model = TwoBranch()
    model(tf.zeros((1, harness.FEATURES)))
    harness.fit(
        monitor,
        model,
        keras.optimizers.Adam(1e-3),
        harness.mse,
        harness.batches(*harness.regression()),
    )
