"""Training jobs under tf.distribute for tests/test_distribute.py, each run in a fresh process.

    python tests/distributed_jobs.py mirrored OUT    MirroredStrategy over two logical CPUs, and the
                                                     same jobs on one device, side by side in OUT
    python tests/distributed_jobs.py worker OUT      one worker of a MultiWorkerMirroredStrategy job
                                                     (TF_CONFIG set by the caller); learning rate 0

A separate process because logical devices must be configured before TensorFlow starts, and a
strategy's collectives must not leak into other tests. The test reads what the jobs wrote.
"""

from __future__ import annotations

import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import keras  # noqa: E402
import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

import tb_stuckplugin as stuckplugin  # noqa: E402

GLOBAL_BATCH = 16
RECORD_EVERY = 2


def data(examples: int = 64) -> tuple[np.ndarray, np.ndarray]:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(examples, 6)).astype("float32")
    return x, rng.normal(size=(examples, 1)).astype("float32")


def mlp() -> keras.Model:
    """The same weights and variable names every time, whatever was built before."""
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((6,)),
            keras.layers.Dense(8, activation="relu", name="hidden"),
            keras.layers.Dense(1, name="out"),
        ],
        name="net",
    )


def custom_loop(strategy: tf.distribute.Strategy, logdir: str | None, learning_rate: float) -> None:
    """A custom training loop calling the three summary ops inside `strategy.run`.

    Records every RECORD_EVERY steps through `tf.summary.record_if`; without `logdir` this worker
    has no writer at all (it still takes part in the collectives).
    """
    x, y = data(examples=128)
    with strategy.scope():
        model = mlp()
        optimizer = keras.optimizers.SGD(learning_rate)
        optimizer.build(model.trainable_variables)
    dataset = strategy.experimental_distribute_dataset(
        tf.data.Dataset.from_tensor_slices((x, y)).batch(GLOBAL_BATCH)
    )
    writer = tf.summary.create_file_writer(logdir) if logdir else tf.summary.create_noop_writer()
    step = tf.Variable(0, dtype=tf.int64)

    def replica_step(xb, yb):
        with tf.GradientTape() as tape:
            per_example = tf.square(model(xb, training=True) - yb)[:, 0]
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=GLOBAL_BATCH)
        grads = tape.gradient(loss, model.trainable_variables)
        with writer.as_default(step=step), tf.summary.record_if(step % RECORD_EVERY == 0):
            stuckplugin.summary.gradient_norms(grads, model.trainable_variables)
            optimizer.apply(grads, model.trainable_variables)
            stuckplugin.summary.weight_deltas(model.weights)
            stuckplugin.summary.output_spread(model(xb), inputs=xb, labels=yb)

    @tf.function
    def train_step(xb, yb):
        strategy.run(replica_step, args=(xb, yb))
        step.assign_add(1)

    for xb, yb in dataset:
        train_step(xb, yb)
    writer.flush()


def embedding_model() -> keras.Model:
    """A model whose first gradient is sparse (`tf.IndexedSlices`)."""
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((3,), dtype="int32"),
            keras.layers.Embedding(20, 4, name="embedding"),
            keras.layers.Flatten(name="flatten"),
            keras.layers.Dense(1, name="out"),
        ],
        name="net",
    )


def keras_fit(
    strategy: tf.distribute.Strategy, log_dir: str, dtype_policy: str, sparse: bool = False
) -> None:
    """`model.fit` with StuckMonitor, the model created and compiled under `strategy.scope()`."""
    keras.mixed_precision.set_global_policy(dtype_policy)
    x, y = data()
    if sparse:
        x = np.random.default_rng(2).integers(0, 20, size=(len(y), 3)).astype("int32")
    with strategy.scope():
        model = embedding_model() if sparse else mlp()
        model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(
        x,
        y,
        batch_size=GLOBAL_BATCH,
        epochs=2,
        shuffle=False,
        verbose=0,
        callbacks=[stuckplugin.keras.StuckMonitor(log_dir, interval=RECORD_EVERY)],
    )
    keras.mixed_precision.set_global_policy("float32")


def mirrored(out: str) -> None:
    cpu = tf.config.list_physical_devices("CPU")[0]
    tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
    strategies = {
        "mirrored": tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"]),
        "single": tf.distribute.get_strategy(),
    }
    for name, strategy in strategies.items():
        custom_loop(strategy, os.path.join(out, f"ops_{name}"), learning_rate=0.1)
        for dtype_policy in ("float32", "mixed_float16"):
            keras_fit(strategy, os.path.join(out, f"keras_{dtype_policy}_{name}"), dtype_policy)
        keras_fit(strategy, os.path.join(out, f"keras_sparse_{name}"), "float32", sparse=True)

    with strategies["mirrored"].scope():
        model = mlp()
        model.compile(optimizer="sgd", loss="mse", jit_compile=True)
    try:
        model.fit(*data(), verbose=0, callbacks=[stuckplugin.keras.StuckMonitor(out)])
    except ValueError as e:
        with open(os.path.join(out, "jit_refused.txt"), "w") as f:
            f.write(str(e))


class PackedRegressor(keras.Model):
    """Takes one tensor per batch, the features then the target, and returns [1]-shaped logs.

    Keras 3.15's own `fit` under MultiWorkerMirroredStrategy fails on (x, y) batches (it passes a
    tuple to `strategy.reduce` when it builds the model) and on scalar logs (it reduces them along
    axis 0): this model steps around both, so that the callback can be tested there.
    """

    def __init__(self):
        super().__init__()
        self.net = mlp()

    def call(self, packed):
        return self.net(packed[:, :6])

    def train_step(self, packed):
        with tf.GradientTape() as tape:
            per_example = tf.square(self(packed, training=True) - packed[:, 6:])[:, 0]
            loss = tf.nn.compute_average_loss(per_example, global_batch_size=GLOBAL_BATCH)
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply(grads, self.trainable_variables)
        return {"loss": tf.reshape(loss, [1])}


def worker(out: str) -> None:
    """One worker of a two-worker job with learning rate 0: the custom loop, then `fit`."""
    strategy = tf.distribute.MultiWorkerMirroredStrategy()
    task = json.loads(os.environ["TF_CONFIG"])["task"]
    chief = task["index"] == 0
    custom_loop(strategy, os.path.join(out, "ops") if chief else None, learning_rate=0.0)

    x, y = data()
    with strategy.scope():
        model = PackedRegressor()
        model.compile(optimizer=keras.optimizers.SGD(0.0))
    packed = tf.data.Dataset.from_tensor_slices(np.concatenate([x, y], axis=1))
    history = model.fit(
        packed.batch(GLOBAL_BATCH).repeat(),
        steps_per_epoch=4,
        epochs=10,
        verbose=0,
        callbacks=[
            stuckplugin.keras.StuckMonitor(
                os.path.join(out, "keras"), interval=1, stop_on_stuck=True
            )
        ],
    )
    result = {"task": task["index"], "epochs": len(history.epoch)}
    result["steps"] = int(model.optimizer.iterations.numpy())
    print(json.dumps(result), flush=True)


if __name__ == "__main__":
    mode, out = sys.argv[1:]
    {"mirrored": mirrored, "worker": worker}[mode](out)
