"""Healthy, with Keras `fit` and the plugin's callback instead of the custom-loop ops."""

import keras

import tb_stuckplugin as stuckplugin

from . import harness

CAUSE = "none (model.fit with StuckMonitor)"
EXPECTED_STATUS = "ok"
EXPECTED_KINDS: set[str] = set()
EXPECTED_CAUSES: dict[str, str] = {}
CAUSE_STEP = None


def train(monitor: harness.Monitor) -> None:
    x, y = harness.regression()
    model = harness.mlp()
    model.compile(keras.optimizers.Adam(1e-3), "mse")
    callback = stuckplugin.keras.StuckMonitor(monitor.logdir, interval=monitor.log_every)
    model.fit(
        x, y, batch_size=harness.BATCH, epochs=harness.EPOCHS, callbacks=[callback], verbose=0
    )
