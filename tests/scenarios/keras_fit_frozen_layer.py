"""Keras `fit` with a hidden layer left trainable=False by mistake, seen through the callback."""

import keras

import tb_stuckplugin as stuckplugin

from . import harness

CAUSE = "layer.trainable = False on a fresh hidden layer before compile(), trained with fit()"
EXPECTED_STATUS = "warning"
EXPECTED_KINDS = {"frozen_weights"}
EXPECTED_CAUSES = {"frozen_weights": "frozen_at_init"}
CAUSE_STEP = 0


def train(monitor: harness.Monitor) -> None:
    x, y = harness.regression()
    model = harness.mlp()
    model.layers[0].trainable = False
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    callback = stuckplugin.keras.StuckMonitor(monitor.logdir, interval=monitor.log_every)
    model.fit(
        x, y, batch_size=harness.BATCH, epochs=harness.EPOCHS, callbacks=[callback], verbose=0
    )
