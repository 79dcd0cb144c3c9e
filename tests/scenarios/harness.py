"""What the labelled scenarios share: seeds, tiny data, small models, and the monitored loop.

A scenario is one module of this package. It declares what the diagnosis should say about it and
`train(monitor)`, a training loop written the way a user writes one (bug included), which calls
`monitor.record(...)` after every optimizer step, as the README shows:

    CAUSE = "one line: what is wrong, or why a healthy run looks suspicious"
    EXPECTED_STATUS = "stuck"                 # or "warning", "ok"
    EXPECTED_KINDS = {"frozen_weights"}       # kinds the verdict must include (empty if healthy)
    EXPECTED_CAUSES = {"frozen_weights": "learning_rate_zero"}   # kind -> first cause (causes.py)
    CAUSE_STEP = 0                            # the step the fault starts (None if healthy)
    KNOWN_MISS = "why"                        # optional: a fault the logged signals cannot show yet

`run(name, logdir)` trains one scenario into `logdir`, in this process; `python -m
scenarios.harness LOGDIR NAME...` trains several in a fresh one (the suite runs two such processes
at a time, each importing TensorFlow once).
Data are generated here with fixed seeds: no downloads, and the same event files on every run.
"""

from __future__ import annotations

import importlib
import os
import pkgutil
import sys
import traceback
from collections.abc import Callable, Iterator, Sequence
from types import ModuleType
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import tensorflow as tf  # noqa: E402

from tb_stuckplugin import summary  # noqa: E402

SEED = 7
STEPS = 300
LOG_EVERY = 5
BATCH = 64
FEATURES = 8
EXAMPLES = 1024
# Epochs of `fit` that make about STEPS steps, for the scenarios trained with Keras' `fit`.
EPOCHS = STEPS * BATCH // EXAMPLES

Batch = tuple[tf.Tensor, tf.Tensor]


def scenario_names() -> list[str]:
    """Every scenario module of this package, by name."""
    package = os.path.dirname(__file__)
    return sorted(
        info.name
        for info in pkgutil.iter_modules([package])
        if info.name not in ("harness", "suite", "figures") and not info.name.startswith("_")
    )


def scenario(name: str) -> ModuleType:
    """The scenario module `name`."""
    return importlib.import_module(f"{__package__}.{name}")


class Monitor:
    """The three summary ops, recorded every LOG_EVERY steps, as a user of the plugin calls them.

    `logdir` is the run's directory, for scenarios that log with the Keras callback instead.
    """

    def __init__(self, logdir: str, log_every: int = LOG_EVERY):
        self.logdir = logdir
        self.log_every = log_every

    @tf.autograph.experimental.do_not_convert
    def record(
        self,
        step: tf.Tensor | int,
        gradients: Sequence[Any],
        variables: Sequence[Any],
        weights: Sequence[Any],
        outputs: tf.Tensor,
        inputs: tf.Tensor,
        labels: tf.Tensor | None = None,
    ) -> None:
        """Log one step: call it after the optimizer step, with that step's gradients and batch.

        Inside a `tf.function`, pass `step` as a tensor (a Python int would retrace every step).
        Not converted by AutoGraph: the ops need none, and converting them costs seconds a trace.
        """
        with tf.summary.record_if(step % self.log_every == 0):
            summary.gradient_norms(gradients, variables, step=step)
            summary.weight_deltas(weights, step=step)
            summary.output_spread(outputs, step=step, inputs=inputs, labels=labels)


# --- Data ---------------------------------------------------------------------------------------


def rng(offset: int = 0) -> np.random.Generator:
    """A numpy generator seeded from SEED: each data helper has its own offset."""
    return np.random.default_rng(SEED + offset)


def regression(
    n: int = EXAMPLES, features: int = FEATURES, noise: float = 0.1
) -> tuple[np.ndarray, np.ndarray]:
    """A smooth non-linear target of standard normal inputs, labels of shape (n, 1)."""
    r = rng(1)
    x = r.standard_normal((n, features)).astype("float32")
    w = r.standard_normal((features, 1)).astype("float32") / np.sqrt(features)
    y = np.sin(2.0 * x @ w) + 0.5 * x[:, :1] * x[:, 1:2] + noise * r.standard_normal((n, 1))
    return x, y.astype("float32")


def classification(
    n: int = EXAMPLES, features: int = FEATURES, classes: int = 3
) -> tuple[np.ndarray, np.ndarray]:
    """Overlapping Gaussian blobs, integer labels of shape (n,)."""
    r = rng(2)
    centres = 1.5 * r.standard_normal((classes, features))
    y = r.integers(0, classes, n)
    x = centres[y] + r.standard_normal((n, features))
    return x.astype("float32"), y.astype("int32")


def batches(x: np.ndarray, y: np.ndarray, size: int = BATCH) -> Iterator[Batch]:
    """Shuffled mini-batches, reshuffled every epoch, forever."""
    r = rng(3)
    while True:
        order = r.permutation(len(x))
        for start in range(0, len(x) - size + 1, size):
            index = order[start : start + size]
            yield tf.constant(x[index]), tf.constant(y[index])


# --- Models and the plain loop ------------------------------------------------------------------


def mlp(
    hidden: Sequence[int] = (32, 32),
    activation: str = "relu",
    outputs: int = 1,
    output_activation: str | None = None,
    features: int = FEATURES,
    **dense_kwargs: Any,
) -> keras.Sequential:
    """A small fully connected network."""
    layers = [keras.Input((features,))]
    layers += [keras.layers.Dense(units, activation=activation, **dense_kwargs) for units in hidden]
    layers.append(keras.layers.Dense(outputs, activation=output_activation, **dense_kwargs))
    return keras.Sequential(layers)


def fit(
    monitor: Monitor,
    model: keras.Model,
    optimizer: keras.optimizers.Optimizer,
    loss_fn: Callable[[tf.Tensor, tf.Tensor], tf.Tensor],
    data: Iterator[Batch],
    steps: int = STEPS,
    before_step: Callable[[int], None] | None = None,
) -> None:
    """The textbook custom loop, for scenarios whose fault is in the model, data or loss."""
    variables = model.trainable_variables

    @tf.function
    def train_step(x: tf.Tensor, y: tf.Tensor, step: tf.Tensor) -> None:
        with tf.GradientTape() as tape:
            predictions = model(x, training=True)
            loss = loss_fn(y, predictions)
        gradients = tape.gradient(loss, variables)
        optimizer.apply_gradients(zip(gradients, variables))
        monitor.record(step, gradients, variables, model.weights, predictions, x, labels=y)

    for step in range(steps):
        if before_step is not None:
            before_step(step)
        x, y = next(data)
        train_step(x, y, tf.constant(step, tf.int64))


def mse(y: tf.Tensor, predictions: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(tf.square(y - predictions))


def sparse_crossentropy(y: tf.Tensor, logits: tf.Tensor) -> tf.Tensor:
    return tf.reduce_mean(keras.losses.sparse_categorical_crossentropy(y, logits, from_logits=True))


# --- Running ------------------------------------------------------------------------------------


def run(name: str, logdir: str) -> str:
    """Train scenario `name` with fixed seeds, writing its events to `logdir`; returns `logdir`.

    Keras' session is cleared first, so that layer names and seeds do not depend on which
    scenarios ran before in the same process.
    """
    keras.backend.clear_session()
    keras.utils.set_random_seed(SEED)
    writer = tf.summary.create_file_writer(logdir)
    with writer.as_default():
        scenario(name).train(Monitor(logdir))
    writer.close()
    return logdir


def main(argv: Sequence[str]) -> int:
    """`python -m scenarios.harness LOGDIR NAME...`: train each into LOGDIR/NAME, in turn.

    TensorFlow uses one thread per pool (the suite runs two of these processes at once). A failing
    scenario is reported on stderr and the others still run; the exit code is then 1.
    """
    logdir, *names = argv
    tf.config.threading.set_intra_op_parallelism_threads(1)
    tf.config.threading.set_inter_op_parallelism_threads(1)
    failed = []
    for name in names:
        try:
            run(name, os.path.join(logdir, name))
        except Exception:
            traceback.print_exc()
            failed.append(name)
    if failed:
        print(f"failed scenarios: {', '.join(failed)}", file=sys.stderr)
    return 1 if failed else 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
