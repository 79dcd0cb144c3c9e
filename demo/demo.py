"""The tb-stuckplugin demo: a healthy run beside five classic "my output does not change" runs.

Trains six small classifiers on synthetic 28x28 "images" (about two minutes on a 2-core CPU), some with
a custom training loop and the summary ops, some with `model.fit` and the Keras callback, into
`runs/`; prints the `tb-stuck check` verdicts; then starts TensorBoard on a free port and prints the
address of the Stuck? dashboard.

    python demo/demo.py [--logdir runs] [--steps 600] [--no-tensorboard]
"""

from __future__ import annotations

import argparse
import os
import shutil
import socket
import subprocess
import sys
import time

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tb_stuckplugin as stuckplugin  # noqa: E402
from tb_stuckplugin import cli  # noqa: E402

CLASSES = 10
PIXELS = 784
BATCH = 64

# What each demo run was made to show: the status `tb-stuck check` must give it (tests/test_demo.py).
# Runs trained with `fit` are in a `train` folder, where Keras' TensorBoard callback writes.
EXPECTED_STATUS = {
    "healthy": "ok",
    "learning_rate_zero/train": "stuck",
    "softmax_single_unit": "stuck",
    "layer_frozen_by_mistake/train": "warning",
    "relu_killed_by_lr_spike": "stuck",
    "sigmoid_on_raw_pixels/train": "stuck",
}


def synthetic_pixels(seed: int = 0, count: int = 2048) -> tuple[np.ndarray, np.ndarray]:
    """28x28 light-grey "images" in 0..255, flattened: one noisy prototype per class."""
    rng = np.random.default_rng(seed)
    prototypes = rng.uniform(100, 255, size=(CLASSES, PIXELS))
    labels = rng.integers(0, CLASSES, size=count)
    images = prototypes[labels] + rng.normal(0, 40, size=(count, PIXELS))
    return np.clip(images, 0, 255).astype("float32"), labels.astype("int32")


def mlp(hidden_activation: str = "relu", output_units: int = CLASSES, output_activation=None):
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((PIXELS,)),
            keras.layers.Dense(64, activation=hidden_activation),
            keras.layers.Dense(64, activation=hidden_activation),
            keras.layers.Dense(output_units, activation=output_activation),
        ]
    )


def train_custom_loop(
    logdir, model, images, labels, steps, loss_fn, optimizer, progress, schedule=None
):
    """A custom training loop with the three summary ops at every 5th step.

    `schedule(step)`, if given, returns the learning rate to use at that step.
    """
    writer = tf.summary.create_file_writer(logdir)

    @tf.function
    def train_step(x, y, step):
        with tf.GradientTape() as tape:
            predictions = model(x, training=True)
            loss = loss_fn(y, predictions)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        with writer.as_default(step=step), tf.summary.record_if(step % 5 == 0):
            stuckplugin.summary.gradient_norms(grads, model.trainable_variables)
            stuckplugin.summary.weight_deltas(model.weights)
            stuckplugin.summary.output_spread(predictions, inputs=x)
            tf.summary.scalar("loss", loss)

    rng = np.random.default_rng(2)
    for step in range(steps):
        if schedule is not None:
            optimizer.learning_rate = schedule(step)
        batch = rng.integers(0, len(images), BATCH)
        train_step(images[batch], labels[batch], tf.constant(step, tf.int64))
        progress(step + 1)
    writer.close()


def train_fit(logdir, model, images, labels, steps, optimizer, progress):
    """`model.fit` with TensorBoard's callback and ours, writing into the same run."""
    model.compile(
        optimizer=optimizer, loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True)
    )
    epochs = max(1, steps // (len(images) // BATCH))
    model.fit(
        images,
        labels,
        batch_size=BATCH,
        epochs=epochs,
        verbose=0,
        callbacks=[
            keras.callbacks.TensorBoard(logdir),
            stuckplugin.keras.StuckMonitor(logdir, interval=5),
            keras.callbacks.LambdaCallback(
                on_epoch_end=lambda epoch, logs: progress((epoch + 1) * steps // epochs)
            ),
        ],
    )


def sparse_ce(labels, logits):
    return tf.reduce_mean(
        keras.losses.sparse_categorical_crossentropy(labels, logits, from_logits=True)
    )


def binary_ce(labels, probabilities):
    targets = tf.cast(labels % 2, tf.float32)[:, None]
    return tf.reduce_mean(keras.losses.binary_crossentropy(targets, probabilities))


def run_demo(logdir: str, steps: int) -> None:
    """Train every demo run into logdir (replacing it)."""
    shutil.rmtree(logdir, ignore_errors=True)
    raw, labels = synthetic_pixels()
    scaled = raw / 255.0

    def healthy(progress):
        optimizer = keras.optimizers.Adam(1e-3)
        train_custom_loop(
            f"{logdir}/healthy", mlp(), scaled, labels, steps, sparse_ce, optimizer, progress
        )

    def learning_rate_zero(progress):
        train_fit(
            f"{logdir}/learning_rate_zero",
            mlp(),
            scaled,
            labels,
            steps,
            keras.optimizers.SGD(0.0),
            progress,
        )

    def softmax_single_unit(progress):
        model = mlp(output_units=1, output_activation="softmax")
        optimizer = keras.optimizers.Adam(1e-3)
        train_custom_loop(
            f"{logdir}/softmax_single_unit",
            model,
            scaled,
            labels,
            steps,
            binary_ce,
            optimizer,
            progress,
        )

    def layer_frozen_by_mistake(progress):
        model = mlp()
        model.layers[1].trainable = False
        train_fit(
            f"{logdir}/layer_frozen_by_mistake",
            model,
            scaled,
            labels,
            steps,
            keras.optimizers.Adam(1e-3),
            progress,
        )

    def relu_killed_by_lr_spike(progress):
        # Healthy SGD until a third of the way, then a 20-step learning-rate spike kills the ReLUs.
        spike = steps // 3
        optimizer = keras.optimizers.SGD(1e-2)
        train_custom_loop(
            f"{logdir}/relu_killed_by_lr_spike",
            mlp(),
            scaled,
            labels,
            steps,
            sparse_ce,
            optimizer,
            progress,
            schedule=lambda step: 10.0 if spike <= step < spike + 20 else 1e-2,
        )

    def sigmoid_on_raw_pixels(progress):
        model = mlp(hidden_activation="sigmoid")
        train_fit(
            f"{logdir}/sigmoid_on_raw_pixels",
            model,
            raw,
            labels,
            steps,
            keras.optimizers.Adam(1e-3),
            progress,
        )

    runs = [
        healthy,
        learning_rate_zero,
        softmax_single_unit,
        layer_frozen_by_mistake,
        relu_killed_by_lr_spike,
        sigmoid_on_raw_pixels,
    ]
    for train in runs:
        bar = ProgressBar(train.__name__, steps)
        train(bar.update)
        bar.done()


class ProgressBar:
    """One line per run, redrawn in place on a terminal (printed once, when done, elsewhere)."""

    WIDTH = 30

    def __init__(self, name: str, total: int):
        self.name, self.total, self.start = name, total, time.monotonic()
        self.live = sys.stdout.isatty()
        self.shown = -1
        self.update(0)

    def update(self, done: int) -> None:
        filled = self.WIDTH * done // max(self.total, 1)
        if not self.live or filled == self.shown:
            return
        self.shown = filled
        print(f"\r{self._line(done)}", end="", flush=True)

    def done(self) -> None:
        print(f"\r{self._line(self.total)}", flush=True)

    def _line(self, done: int) -> str:
        filled = self.WIDTH * done // max(self.total, 1)
        bar = "#" * filled + "-" * (self.WIDTH - filled)
        elapsed = time.monotonic() - self.start
        return f"  {self.name:<26} [{bar}] {done:>4}/{self.total} {elapsed:5.1f}s"


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start_tensorboard(logdir: str) -> None:
    """Run TensorBoard on a free port until Ctrl-C, pointing at the Stuck? dashboard."""
    port = free_port()
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", logdir, "--port", str(port)]
    process = subprocess.Popen(command, stderr=subprocess.DEVNULL)
    print(
        f"\nTensorBoard is starting: open http://localhost:{port}/#stuck  (Ctrl-C to stop)",
        flush=True,
    )
    try:
        process.wait()
    except KeyboardInterrupt:
        process.terminate()
        process.wait()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--logdir", default="runs")
    parser.add_argument("--steps", type=int, default=600, help="training steps per run (600)")
    parser.add_argument("--no-tensorboard", action="store_true", help="stop after the verdicts")
    args = parser.parse_args(argv)
    print(f"Training {len(EXPECTED_STATUS)} demo runs into {args.logdir}/ ...")
    run_demo(args.logdir, args.steps)
    print()
    status = cli.main(["check", args.logdir])
    if not args.no_tensorboard:
        start_tensorboard(args.logdir)
    return 0 if status in (cli.EXIT_OK, cli.EXIT_STUCK) else status


if __name__ == "__main__":
    sys.exit(main())
