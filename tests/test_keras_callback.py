"""StuckMonitor records the real training batches during `model.fit`, in every Keras set-up.

Real training of tiny models for a few steps, real event files in a temporary directory, read back
with TensorBoard's EventAccumulator. With a learning rate of 0 the weights never move, so the
gradient of every step is known: a GradientTape on that step's batch (batches come in order). That
tells the real batch from any other.
"""

import json
import logging

import keras
import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

import tb_stuckplugin as stuckplugin
from tb_stuckplugin import cli
from tb_stuckplugin.record_format import GRADIENTS, OUTPUTS, SINCE_FIELDS, VALUE_FIELDS, WEIGHTS

BATCH = 8
STEPS_PER_EPOCH = 8
INTERVAL = 2


@pytest.fixture(scope="module")
def data():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * STEPS_PER_EPOCH, 6)).astype("float32")
    y = rng.normal(size=(BATCH * STEPS_PER_EPOCH, 1)).astype("float32")
    return x, y


@pytest.fixture
def policy():
    """Set a dtype policy for one test and restore the global one afterwards."""
    previous = keras.mixed_precision.global_policy()
    yield keras.mixed_precision.set_global_policy
    keras.mixed_precision.set_global_policy(previous)


def read_run(log_dir) -> dict[str, list[tuple[int, np.ndarray]]]:
    """{tag: [(step, array)]} of every tensor written to the `train` run of `log_dir`."""
    accumulator = EventAccumulator(str(log_dir / "train"), size_guidance={"tensors": 0})
    accumulator.Reload()
    return {
        tag: [(e.step, tf.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)]
        for tag in accumulator.Tags()["tensors"]
    }


def column(array: np.ndarray, op: str, field: str) -> np.ndarray:
    return array[:, VALUE_FIELDS[op].index(field)]


def since(array: np.ndarray, op: str, condition: str) -> np.ndarray:
    return array[:, SINCE_FIELDS[op].index(condition)]


def layout_rows(run: dict, tag: str) -> list[list[str]]:
    (_, layout), *_ = run[tag + "/layout"]
    return [[cell.decode() for cell in row] for row in layout]


def mlp() -> keras.Model:
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [keras.Input((6,)), keras.layers.Dense(8, activation="relu"), keras.layers.Dense(1)]
    )


class CustomStep(keras.Model):
    """A subclassed model with its own train_step, as in the Keras guide."""

    def __init__(self):
        super().__init__()
        self.hidden = keras.layers.Dense(8, activation="relu")
        self.out = keras.layers.Dense(1)

    def call(self, x):
        return self.out(self.hidden(x))

    def train_step(self, data):
        x, y = data
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(tf.square(self(x, training=True) - y))
        grads = tape.gradient(loss, self.trainable_variables)
        self.optimizer.apply_gradients(zip(grads, self.trainable_variables))
        return {"loss": loss}


def batch_gradients(model: keras.Model, x: np.ndarray, y: np.ndarray) -> list[np.ndarray]:
    """The gradient of the mean squared error on one batch, for each trainable variable."""
    with tf.GradientTape() as tape:
        predictions = tf.cast(model(x, training=True), tf.float32)
        loss = tf.reduce_mean(tf.square(predictions - y))
    return [tf.convert_to_tensor(g).numpy() for g in tape.gradient(loss, model.trainable_variables)]


def expected_records(total_steps: int, steps_per_execution: int, jit: bool) -> list[int]:
    """The steps StuckMonitor records at: multiples of INTERVAL, or, under XLA, the last step of
    each execution (executions end at epoch ends) that reaches one."""
    if not jit:
        return list(range(0, total_steps, INTERVAL))
    recorded = []
    for epoch_start in range(0, total_steps, STEPS_PER_EPOCH):
        for first in range(epoch_start, epoch_start + STEPS_PER_EPOCH, steps_per_execution):
            last = min(first + steps_per_execution, epoch_start + STEPS_PER_EPOCH) - 1
            if any(s % INTERVAL == 0 for s in range(first, last + 1)):
                recorded.append(last)
    return recorded


SETUPS = {
    "numpy arrays": dict(model=mlp, jit=False, steps_per_execution=1, dataset=False),
    "tf.data, steps_per_execution=3": dict(
        model=mlp, jit=False, steps_per_execution=3, dataset=True
    ),
    "jit_compile": dict(model=mlp, jit=True, steps_per_execution=1, dataset=False),
    "jit_compile, tf.data, steps_per_execution=3": dict(
        model=mlp, jit=True, steps_per_execution=3, dataset=True
    ),
    "subclassed, custom train_step": dict(
        model=CustomStep, jit=False, steps_per_execution=1, dataset=True
    ),
    "subclassed, custom train_step, jit_compile": dict(
        model=CustomStep, jit=True, steps_per_execution=1, dataset=False
    ),
}


@pytest.mark.parametrize("setup", SETUPS.values(), ids=SETUPS.keys())
def test_records_gradients_and_outputs_of_the_training_batches(tmp_path, data, setup):
    x, y = data
    model = setup["model"]()
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss="mse",
        jit_compile=setup["jit"],
        steps_per_execution=setup["steps_per_execution"],
    )
    epochs = 2
    inputs = tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH) if setup["dataset"] else x
    targets = None if setup["dataset"] else y
    model.fit(
        inputs,
        targets,
        batch_size=None if setup["dataset"] else BATCH,
        epochs=epochs,
        shuffle=False,
        verbose=0,
        callbacks=[stuckplugin.keras.StuckMonitor(tmp_path, interval=INTERVAL)],
    )

    run = read_run(tmp_path)
    recorded = expected_records(
        epochs * STEPS_PER_EPOCH, setup["steps_per_execution"], setup["jit"]
    )
    assert [step for step, _ in run["gradients"]] == recorded
    assert [row[0] for row in layout_rows(run, "gradients")[1:]] == [
        v.path for v in model.trainable_variables
    ]
    for step, values in run["gradients"]:
        b = step % STEPS_PER_EPOCH
        xb, yb = x[b * BATCH : (b + 1) * BATCH], y[b * BATCH : (b + 1) * BATCH]
        expected = [np.linalg.norm(g) for g in batch_gradients(model, xb, yb)]
        np.testing.assert_allclose(column(values, GRADIENTS, "norm")[1:], expected, rtol=1e-5)

    assert [step for step, _ in run["outputs"]] == recorded
    for step, values in run["outputs"]:
        b = step % STEPS_PER_EPOCH
        xb, yb = x[b * BATCH : (b + 1) * BATCH], y[b * BATCH : (b + 1) * BATCH]
        outputs = model(xb, training=False).numpy()
        spread = column(values, OUTPUTS, "spread")
        np.testing.assert_allclose(spread[0], np.std(outputs, axis=0).mean(), rtol=1e-5)
        np.testing.assert_allclose(spread[1], np.std(xb, axis=0).mean(), rtol=1e-5)
        labels = np.reshape(yb, (len(yb), -1)).astype(np.float64)
        np.testing.assert_allclose(spread[2], np.std(labels, axis=0).mean(), rtol=1e-5)
        assert column(values, OUTPUTS, "batch").tolist() == [BATCH] * 3

    assert [step for step, _ in run["weights"]] == recorded


@pytest.mark.parametrize("dtype_policy", ["mixed_float16", "mixed_bfloat16"])
def test_mixed_precision_records_unscaled_gradients(tmp_path, data, policy, dtype_policy):
    policy(dtype_policy)
    x, y = data
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    loss_scaled = isinstance(model.optimizer, keras.optimizers.LossScaleOptimizer)
    assert loss_scaled == (dtype_policy == "mixed_float16")
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[stuckplugin.keras.StuckMonitor(tmp_path, interval=INTERVAL)],
    )
    if loss_scaled:
        assert float(model.optimizer.dynamic_scale.numpy()) > 1000

    run = read_run(tmp_path)
    assert [step for step, _ in run["gradients"]] == list(range(0, STEPS_PER_EPOCH, INTERVAL))
    for step, values in run["gradients"]:
        xb, yb = x[step * BATCH : (step + 1) * BATCH], y[step * BATCH : (step + 1) * BATCH]
        expected = [np.linalg.norm(g) for g in batch_gradients(model, xb, yb)]
        # Half precision: the recorded and the recomputed gradient differ by rounding only.
        np.testing.assert_allclose(column(values, GRADIENTS, "norm")[1:], expected, rtol=2e-2)
        assert column(values, GRADIENTS, "nonfinite")[0] == 0


def embedding_model() -> keras.Model:
    """A model whose first gradient is sparse (`tf.IndexedSlices`)."""
    keras.utils.set_random_seed(1)
    return keras.Sequential(
        [
            keras.Input((3,), dtype="int32"),
            keras.layers.Embedding(20, 4),
            keras.layers.Flatten(),
            keras.layers.Dense(1),
        ]
    )


@pytest.mark.parametrize(
    "jit, steps_per_execution, dtype_policy",
    [(False, 1, "float32"), (True, 2, "float32"), (False, 1, "mixed_float16")],
)
def test_sparse_gradients(tmp_path, data, policy, jit, steps_per_execution, dtype_policy):
    policy(dtype_policy)
    _, y = data
    x = np.random.default_rng(2).integers(0, 20, size=(len(y), 3)).astype("int32")
    model = embedding_model()
    model.compile(
        optimizer=keras.optimizers.SGD(0.0),
        loss="mse",
        jit_compile=jit,
        steps_per_execution=steps_per_execution,
    )
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=1,
        shuffle=False,
        verbose=0,
        callbacks=[stuckplugin.keras.StuckMonitor(tmp_path, interval=INTERVAL)],
    )
    run = read_run(tmp_path)
    recorded = expected_records(STEPS_PER_EPOCH, steps_per_execution, jit)
    assert [step for step, _ in run["gradients"]] == recorded
    for step, values in run["gradients"]:
        xb, yb = x[step * BATCH : (step + 1) * BATCH], y[step * BATCH : (step + 1) * BATCH]
        expected = [np.linalg.norm(g) for g in batch_gradients(model, xb, yb)]
        np.testing.assert_allclose(column(values, GRADIENTS, "norm")[1:], expected, rtol=2e-2)


def test_writes_into_the_run_of_the_tensorboard_callback(tmp_path, data):
    x, y = data
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=2,
        verbose=0,
        callbacks=[
            keras.callbacks.TensorBoard(tmp_path),
            stuckplugin.keras.StuckMonitor(tmp_path, interval=INTERVAL),
        ],
    )
    assert sorted(p.name for p in tmp_path.iterdir()) == ["train"]
    tags = set(read_run(tmp_path))
    assert {"epoch_loss", "gradients", "weights", "outputs"} <= tags
    assert {"gradients/since", "weights/since", "outputs/since"} <= tags


def test_record_outputs_false_records_no_outputs(tmp_path, data):
    x, y = data
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    monitor = stuckplugin.keras.StuckMonitor(tmp_path, interval=INTERVAL, record_outputs=False)
    model.fit(x, y, batch_size=BATCH, epochs=1, verbose=0, callbacks=[monitor])
    tags = set(read_run(tmp_path))
    assert {"gradients", "weights"} <= tags
    assert not any(tag.startswith("outputs") for tag in tags)


def test_weights_include_non_trainable_ones(tmp_path, data):
    x, y = data
    keras.utils.set_random_seed(1)
    frozen = keras.layers.Dense(8, activation="relu", trainable=False)
    normalization = keras.layers.BatchNormalization()
    last = keras.layers.Dense(1)
    model = keras.Sequential([keras.Input((6,)), frozen, normalization, last])
    model.compile(optimizer=keras.optimizers.SGD(0.1), loss="mse")
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=1,
        verbose=0,
        callbacks=[stuckplugin.keras.StuckMonitor(tmp_path, interval=1)],
    )
    run = read_run(tmp_path)
    layout = layout_rows(run, "weights")[1:]
    assert [row[0] for row in layout] == [w.path for w in model.weights]
    trainable = {row[0]: row[3] for row in layout}
    assert trainable[frozen.kernel.path] == "0"
    assert trainable[normalization.moving_mean.path] == "0"
    assert trainable[last.kernel.path] == "1"
    assert len(layout_rows(run, "gradients")) == 1 + len(model.trainable_variables)
    _, latest_since = run["weights/since"][-1]
    unchanged = dict(zip([row[0] for row in layout], since(latest_since, WEIGHTS, "unchanged")[1:]))
    assert not np.isnan(unchanged[frozen.kernel.path])
    assert np.isnan(unchanged[last.kernel.path])
    assert np.isnan(unchanged[normalization.moving_mean.path])


def test_steps_continue_across_fits_and_hooks_go_away(tmp_path, data):
    x, y = data
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    monitor = stuckplugin.keras.StuckMonitor(tmp_path, interval=INTERVAL)
    fit = dict(batch_size=BATCH, epochs=1, verbose=0)
    model.fit(x, y, callbacks=[monitor], **fit)
    model.fit(x, y, callbacks=[monitor], **fit)
    assert model.train_step.__func__ is type(model).train_step
    assert "apply" not in vars(model.optimizer)
    model.fit(x, y, **fit)

    run = read_run(tmp_path)
    assert [step for step, _ in run["gradients"]] == list(range(0, 2 * STEPS_PER_EPOCH, INTERVAL))
    assert column(run["gradients"][-1][1], GRADIENTS, "records")[0] == 2 * STEPS_PER_EPOCH / 2
    # A new callback on the same model starts from the optimizer's iterations (3 epochs so far).
    model.fit(x, y, callbacks=[stuckplugin.keras.StuckMonitor(tmp_path, interval=INTERVAL)], **fit)
    assert read_run(tmp_path)["gradients"][-1][0] == 4 * STEPS_PER_EPOCH - INTERVAL


class Interrupt(keras.callbacks.Callback):
    """Raises in the middle of training, as Ctrl-C does: Keras then skips on_train_end."""

    def on_train_batch_end(self, batch, logs=None):
        if batch == 2:
            raise KeyboardInterrupt


def test_a_fit_after_an_interrupted_one_records_on(tmp_path, data):
    x, y = data
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(0.01), loss="mse")
    monitor = stuckplugin.keras.StuckMonitor(tmp_path, interval=INTERVAL)
    with pytest.raises(KeyboardInterrupt):
        model.fit(x, y, batch_size=BATCH, verbose=0, callbacks=[monitor, Interrupt()])
    model.fit(x, y, batch_size=BATCH, verbose=0, callbacks=[monitor])
    assert [step for step, _ in read_run(tmp_path)["gradients"]] == [0, 2, 4, 6, 8, 10]


def test_stop_on_stuck_stops_a_frozen_run_with_a_log_line(tmp_path, data, caplog, capsys):
    x, y = data
    model = mlp()
    model.compile(optimizer=keras.optimizers.SGD(0.0), loss="mse")
    epochs = 10
    with caplog.at_level(logging.WARNING, logger="tb_stuckplugin.keras"):
        history = model.fit(
            x,
            y,
            batch_size=BATCH,
            epochs=epochs,
            verbose=0,
            callbacks=[stuckplugin.keras.StuckMonitor(tmp_path, interval=1, stop_on_stuck=True)],
        )
    steps = int(model.optimizer.iterations.numpy())
    assert steps < STEPS_PER_EPOCH and len(history.epoch) == 1
    (record,) = caplog.records
    assert f"training is stuck at step {steps - 1}" in record.getMessage()
    assert "frozen" in record.getMessage()

    # The logged state says why: every trainable variable unchanged since the first record.
    run = read_run(tmp_path)
    _, latest_since = run["weights/since"][-1]
    assert (since(latest_since, WEIGHTS, "unchanged") == 0).all()
    # And the diagnosis, through `tb-stuck check`, agrees.
    assert cli.main(["check", str(tmp_path), "--json", "--load-fast", "false"]) == cli.EXIT_STUCK
    (report,) = json.loads(capsys.readouterr().out)["runs"]
    assert report["run"] == "train" and report["status"] == "stuck"
    assert report["findings"][0]["kind"] == "frozen_weights"


def test_stop_on_stuck_lets_a_learning_run_finish(tmp_path, data):
    x, _ = data
    y = x @ np.linspace(-1, 1, 6, dtype="float32")[:, None]
    keras.utils.set_random_seed(1)
    model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(1)])
    model.compile(optimizer=keras.optimizers.SGD(0.05), loss="mse")
    epochs = 3
    model.fit(
        x,
        y,
        batch_size=BATCH,
        epochs=epochs,
        verbose=0,
        callbacks=[stuckplugin.keras.StuckMonitor(tmp_path, interval=1, stop_on_stuck=True)],
    )
    assert int(model.optimizer.iterations.numpy()) == epochs * STEPS_PER_EPOCH
    assert cli.main(["check", str(tmp_path), "--load-fast", "false"]) == cli.EXIT_OK


@pytest.mark.parametrize("interval", [0, -1, 1.5, True])
def test_interval_must_be_a_positive_int(tmp_path, interval):
    with pytest.raises(ValueError, match="interval"):
        stuckplugin.keras.StuckMonitor(tmp_path, interval=interval)
