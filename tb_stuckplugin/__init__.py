"""tb-stuckplugin: tells you, inside TensorBoard and while the job runs, that training is stuck.

    import tb_stuckplugin as stuckplugin
    stuckplugin.summary.gradient_norms(grads, model.trainable_variables, step=step)
    model.fit(..., callbacks=[stuckplugin.keras.StuckMonitor(log_dir)])

`summary` and `keras` import TensorFlow; they are loaded on first use, so that TensorBoard can load the
plugin (and `tb-stuck` can read logs) without TensorFlow.
"""

import importlib

__version__ = "0.1.0"

_LAZY_SUBMODULES = ("summary", "keras")


def __getattr__(name):
    if name in _LAZY_SUBMODULES:
        return importlib.import_module(f"{__name__}.{name}")
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
