"""Raw 0-255 pixel values into a sigmoid layer: its units saturate, one after the other.

784 unscaled pixels give pre-activations in the hundreds: most units are saturated from the
start (exactly zero gradient), and as training pushes the rest, the layer ends up saturated for
every input, so the output stops depending on it. Whether the layer then reads as mostly dead
(`dead_units`) or as wholly without gradient (`vanishing_gradients`, exactly zero) changes from
record to record; its gradients stay below the vanishing level throughout.
"""

import keras

from . import harness

CAUSE = "sigmoid hidden layer on unscaled 0-255 pixel inputs"
EXPECTED_STATUS = "stuck"
EXPECTED_KINDS = {"invariant_outputs", "vanishing_gradients"}
EXPECTED_CAUSES = {
    "invariant_outputs": "saturated_inputs",
    "vanishing_gradients": "saturated_inputs",
}
CAUSE_STEP = 0

PIXELS = 784


def train(monitor: harness.Monitor) -> None:
    r = harness.rng(10)
    images = r.integers(0, 256, (harness.EXAMPLES, PIXELS)).astype("float32")
    labels = (images[:, : PIXELS // 2].mean(1) > images[:, PIXELS // 2 :].mean(1)).astype("int32")
    model = harness.mlp(hidden=(32,), activation="sigmoid", outputs=2, features=PIXELS)
    harness.fit(
        monitor,
        model,
        keras.optimizers.Adam(1e-3),
        harness.sparse_crossentropy,
        harness.batches(images, labels),
    )
