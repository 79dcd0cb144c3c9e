"""The summary ops behave like `tf.summary.*` and record what they measure, checked against numpy.

Every test writes real event files with a real `tf.summary` writer and reads them back with
TensorBoard's event file loader (`eventdata.written_points`); tests/test_roundtrip_loaders.py shows
that TensorBoard's data providers return the same.
"""

import math

import keras
import numpy as np
import pytest
import tensorflow as tf
from eventdata import written_by_tag, written_points

from tb_stuckplugin import summary
from tb_stuckplugin.diagnosis import thresholds
from tb_stuckplugin.record_format import (
    GRADIENTS,
    MODEL_ROW,
    OPS,
    OUTPUTS,
    SINCE_FIELDS,
    VALUE_FIELDS,
    WEIGHTS,
)
from tb_stuckplugin.sketch import BUCKETS, EXACT_MAX_SIZE

# Relative standard deviation of a sketched change norm (tb_stuckplugin.sketch docstring); single
# draws are checked within 6 of it.
SKETCH_TOLERANCE = 6 * math.sqrt(2 / BUCKETS) / 2


@pytest.fixture(autouse=True)
def no_default_step():
    """Each test starts and ends without a default step, like a fresh process."""
    tf.summary.experimental.set_step(None)
    yield
    tf.summary.experimental.set_step(None)


@pytest.fixture
def writer(logdir):
    """A real summary writer on the test's logdir (its run is ".")."""
    writer = tf.summary.create_file_writer(str(logdir))
    yield writer
    writer.close()


def steps(points: list) -> list[int]:
    """The steps of a tag's points."""
    return [step for step, _ in points]


def value_column(points: list, op: str, field: str) -> np.ndarray:
    """[points, rows] of one field of a values tag."""
    return np.stack([array[:, VALUE_FIELDS[op].index(field)] for _, array in points])


def since_column(points: list, op: str, condition: str) -> np.ndarray:
    """[rows] of one condition in the latest since record."""
    return points[-1][1][:, SINCE_FIELDS[op].index(condition)]


def op_call(op: str):
    """A call of `op` on small fixed arguments, as `call(step=..., name=...)`."""
    kernel = tf.Variable(tf.reshape(tf.range(6.0), [2, 3]), name="kernel")
    bias = tf.Variable(tf.ones([3]), name="bias")
    outputs = tf.constant([[1.0, 2.0], [3.0, 5.0]])
    if op == GRADIENTS:
        return lambda **kw: summary.gradient_norms([kernel * 0.5, bias * 0.1], [kernel, bias], **kw)
    if op == WEIGHTS:
        return lambda **kw: summary.weight_deltas([kernel, bias], **kw)
    return lambda **kw: summary.output_spread(outputs, inputs=outputs * 2, **kw)


# --- Like tf.summary ------------------------------------------------------------------------------


@pytest.mark.parametrize("op", OPS)
def test_writes_values_since_and_layout_to_the_default_writer_and_returns_true(op, writer, logdir):
    call = op_call(op)
    with writer.as_default():
        written = call(step=3, name="probe")
    assert written.dtype == tf.bool and written.shape == () and bool(written)
    points = written_by_tag(writer, logdir)
    assert set(points) == {"probe", "probe/since", "probe/layout"}
    assert all(steps(p) == [3] for p in points.values())


@pytest.mark.parametrize("op", OPS)
def test_step_defaults_to_set_step(op, writer, logdir):
    call = op_call(op)
    tf.summary.experimental.set_step(tf.Variable(5, dtype=tf.int64))
    with writer.as_default():
        assert bool(call(name="probe"))
    assert steps(written_by_tag(writer, logdir)["probe"]) == [5]


@pytest.mark.parametrize("op", OPS)
def test_step_defaults_to_the_writer_default_step(op, writer, logdir):
    call = op_call(op)
    with writer.as_default(step=9):
        assert bool(call(name="probe"))
    assert steps(written_by_tag(writer, logdir)["probe"]) == [9]


@pytest.mark.parametrize("op", OPS)
def test_record_if_false_writes_nothing_and_does_not_count_a_record(op, writer, logdir):
    call = op_call(op)
    with writer.as_default():
        with tf.summary.record_if(False):
            written = call(step=0, name="probe")
        assert written.dtype == tf.bool and not bool(written)
        assert written_by_tag(writer, logdir) == {}
        call(step=1, name="probe")
    points = written_by_tag(writer, logdir)
    assert steps(points["probe"]) == [1]
    assert (value_column(points["probe"], op, "records") == 1).all()
    # The first record is the first one written: the since tag starts there.
    assert (points["probe/since"][-1][1][:, -1] == 1).all()


def test_unrecorded_steps_leave_the_weight_sketch_unchanged(writer, logdir):
    big = tf.Variable(tf.random.stateless_normal([300, 257], seed=[1, 2]))
    small = tf.Variable(tf.ones([5]))
    start = [big.numpy(), small.numpy()]
    with writer.as_default():
        summary.weight_deltas([big, small], step=0)
        with tf.summary.record_if(False):
            for step in range(1, 4):
                big.assign_add(tf.fill(big.shape, 0.01))
                small.assign_add(tf.fill(small.shape, 0.5))
                summary.weight_deltas([big, small], step=step)
        summary.weight_deltas([big, small], step=4)
    points = written_by_tag(writer, logdir)["weights"]
    assert steps(points) == [0, 4]
    np.testing.assert_array_equal(value_column(points, WEIGHTS, "records")[-1], 2)
    # The change at step 4 is since step 0, the previous recorded call.
    delta = value_column(points, WEIGHTS, "delta")[-1]
    np.testing.assert_allclose(delta[1], np.linalg.norm(big.numpy() - start[0]), rtol=1e-4)
    np.testing.assert_allclose(delta[2], np.linalg.norm(small.numpy() - start[1]), rtol=1e-6)


def test_unrecorded_steps_leave_the_previous_batch_unchanged(writer, logdir):
    batch = tf.constant([[1.0, 2.0], [3.0, 4.0]])
    with writer.as_default():
        summary.output_spread(batch, step=0)
        with tf.summary.record_if(False):
            summary.output_spread(batch + 1.0, step=1)
        summary.output_spread(batch, step=2)
    since = written_by_tag(writer, logdir)["outputs/since"]
    # Step 2 repeats step 0's batch: the unrecorded step 1 did not replace the previous batch.
    assert steps(since) == [0, 2]
    assert since_column(since, OUTPUTS, "repeated")[0] == 0


def test_record_if_callable_inside_tf_function_records_only_those_steps(writer, logdir):
    kernel = tf.Variable(tf.ones([3, 2]))
    step = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            y = tf.matmul(x, kernel)
            loss = tf.reduce_sum(y**2)
        (grad,) = tape.gradient(loss, [kernel])
        kernel.assign_sub(0.01 * grad)
        with tf.summary.record_if(lambda: tf.equal(step % 3, 0)):
            return (
                summary.gradient_norms([grad], [kernel], step=step),
                summary.weight_deltas([kernel], step=step),
                summary.output_spread(y, step=step, inputs=x),
            )

    returned = []
    with writer.as_default():
        for i in range(7):
            step.assign(i)
            returned.append(
                [bool(r) for r in train_step(tf.random.stateless_normal([4, 3], [i, 0]))]
            )
    assert returned == [[i % 3 == 0] * 3 for i in range(7)]
    points = written_by_tag(writer, logdir)
    for tag, op in [("gradients", GRADIENTS), ("weights", WEIGHTS), ("outputs", OUTPUTS)]:
        assert steps(points[tag]) == [0, 3, 6]
        np.testing.assert_array_equal(value_column(points[tag], op, "records")[:, 0], [1, 2, 3])


def test_tf_function_is_traced_once_whatever_the_number_of_steps(writer):
    model = keras.Sequential([keras.Input((3,)), keras.layers.Dense(4), keras.layers.Dense(2)])
    optimizer = keras.optimizers.SGD(0.01)
    step = tf.Variable(0, dtype=tf.int64)
    traces = []

    @tf.function
    def train_step(x):
        traces.append(1)
        with tf.GradientTape() as tape:
            y = model(x)
            loss = tf.reduce_mean(y**2)
        grads = tape.gradient(loss, model.trainable_variables)
        optimizer.apply_gradients(zip(grads, model.trainable_variables))
        with tf.summary.record_if(lambda: tf.equal(step % 2, 0)):
            summary.gradient_norms(grads, model.trainable_variables, step=step)
            summary.weight_deltas(model.trainable_variables, step=step)
            summary.output_spread(y, step=step, inputs=x)

    traces_after = []
    with writer.as_default():
        for i in range(12):
            step.assign(i)
            train_step(tf.random.stateless_normal([8, 3], [i, 1]))
            traces_after.append(len(traces))
    # Creating variables on the first call makes tf.function trace twice then; never again.
    assert traces_after[1] <= 2
    assert traces_after[-1] == traces_after[1]


def test_eager_and_tf_function_record_the_same_values(tmp_path):
    kernel = tf.Variable(tf.random.stateless_normal([70, 65], [3, 4]))  # sketched: 4550 elements
    bias = tf.Variable(tf.zeros([65]))

    def train_step(x):
        with tf.GradientTape() as tape:
            y = tf.nn.relu(tf.matmul(x, kernel) + bias)
            loss = tf.reduce_mean(y**2)
        grads = tape.gradient(loss, [kernel, bias])
        for v, g in zip([kernel, bias], grads):
            v.assign_sub(0.1 * g)
        summary.gradient_norms(grads, [kernel, bias])
        summary.weight_deltas([kernel, bias])
        summary.output_spread(y, inputs=x)

    records = {}
    start = (kernel.numpy(), bias.numpy())
    for mode, run in [("eager", train_step), ("function", tf.function(train_step))]:
        kernel.assign(start[0])
        bias.assign(start[1])
        writer = tf.summary.create_file_writer(str(tmp_path / mode))
        step = tf.Variable(0, dtype=tf.int64)  # a Python step would be frozen into the trace
        tf.summary.experimental.set_step(step)
        with writer.as_default():
            for i in range(3):
                step.assign(i)
                run(tf.random.stateless_normal([16, 70], [i, 2]))
        writer.close()
        records[mode] = written_points(tmp_path / mode)["."]
    assert records["eager"].keys() == records["function"].keys()
    for tag, points in records["eager"].items():
        assert steps(points) == steps(records["function"][tag])
        for (_, a), (_, b) in zip(points, records["function"][tag]):
            if a.dtype == object:
                np.testing.assert_array_equal(a, b)
            else:
                np.testing.assert_allclose(a, b, rtol=1e-5, equal_nan=True)


# --- gradient_norms --------------------------------------------------------------------------------


def small_model() -> keras.Model:
    """Dense layers with a kernel above EXACT_MAX_SIZE (not scanned for zeros) and small ones."""
    keras.utils.set_random_seed(0)
    return keras.Sequential(
        [
            keras.Input((70,)),
            keras.layers.Dense(80, activation="relu"),
            keras.layers.Dense(3),
        ]
    )


def test_gradient_norms_match_numpy(writer, logdir):
    model = small_model()
    x = tf.random.stateless_normal([16, 70], [0, 0])
    with tf.GradientTape() as tape:
        loss = tf.reduce_mean(model(x) ** 2)
    grads = tape.gradient(loss, model.trainable_variables)
    with writer.as_default():
        summary.gradient_norms(grads, model.trainable_variables, step=0)
    points = written_by_tag(writer, logdir)["gradients"]

    arrays = [g.numpy().astype(np.float64) for g in grads]
    norms = [np.linalg.norm(a) for a in arrays]
    global_norm = np.sqrt(sum(n**2 for n in norms))
    np.testing.assert_allclose(
        value_column(points, GRADIENTS, "norm")[0], [global_norm, *norms], rtol=1e-5
    )
    np.testing.assert_array_equal(value_column(points, GRADIENTS, "missing")[0], 0)
    np.testing.assert_array_equal(value_column(points, GRADIENTS, "nonfinite")[0], 0)
    zero = value_column(points, GRADIENTS, "zero_fraction")[0]
    for row, a in enumerate(arrays, start=1):
        if a.size > EXACT_MAX_SIZE:
            assert np.isnan(zero[row])
        else:
            assert zero[row] == pytest.approx(np.mean(a == 0))


def test_sparse_gradient_with_repeated_indices_is_summed_like_the_dense_one(writer, logdir):
    table = tf.Variable(tf.random.stateless_normal([50, 4], [5, 5]))
    dense_kernel = tf.Variable(tf.ones([4, 2]))
    ids = tf.constant([3, 7, 3, 3, 12])

    def gradients(ids):
        with tf.GradientTape() as tape:
            looked_up = tf.gather(table, ids)
            loss = tf.reduce_sum(tf.matmul(looked_up, dense_kernel) ** 2)
        return tape.gradient(loss, [table, dense_kernel])

    grads = gradients(ids)
    assert isinstance(grads[0], tf.IndexedSlices)
    expected_table = np.linalg.norm(tf.convert_to_tensor(grads[0]).numpy())
    expected_kernel = np.linalg.norm(grads[1].numpy())

    @tf.function
    def record_in_function(ids, step):  # ids unknown at trace time, like a real input batch
        return summary.gradient_norms(gradients(ids), [table, dense_kernel], step=step, name="fn")

    with writer.as_default():
        summary.gradient_norms(grads, [table, dense_kernel], step=0, name="eager")
        record_in_function(ids, tf.constant(0, tf.int64))
    points = written_by_tag(writer, logdir)
    for name in ["eager", "fn"]:
        norms = value_column(points[name], GRADIENTS, "norm")[0]
        np.testing.assert_allclose(
            norms,
            [math.hypot(expected_table, expected_kernel), expected_table, expected_kernel],
            rtol=1e-5,
        )
        # Summed, not the norm of the raw slices (which would count index 3 three times apart).
        raw = np.linalg.norm(grads[0].values.numpy())
        assert abs(norms[1] - raw) > 1e-3 * raw
        # Sparse gradients are not scanned for zero entries (their rows are not units).
        zero_fraction = value_column(points[name], GRADIENTS, "zero_fraction")[0]
        assert np.isnan(zero_fraction[1]) and zero_fraction[2] == 0


def test_keras_embedding_model_in_tf_function(writer, logdir):
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((5,), dtype="int32"),
            keras.layers.Embedding(100, 8),
            keras.layers.GlobalAveragePooling1D(),
            keras.layers.Dense(1),
        ]
    )

    @tf.function
    def train_step(ids, step):
        with tf.GradientTape() as tape:
            loss = tf.reduce_mean(model(ids) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
        return grads, summary.gradient_norms(grads, model.trainable_variables, step=step)

    ids = tf.constant([[1, 2, 3, 3, 4], [4, 5, 6, 7, 7]])
    with writer.as_default():
        grads, written = train_step(ids, tf.constant(0, tf.int64))
    assert bool(written)
    norms = value_column(written_by_tag(writer, logdir)["gradients"], GRADIENTS, "norm")[0]
    expected = [np.linalg.norm(tf.convert_to_tensor(g).numpy()) for g in grads]
    np.testing.assert_allclose(norms[1:], expected, rtol=1e-5)


def test_gradient_traced_with_an_unknown_shape_is_measured(writer, logdir):
    bias = tf.Variable(tf.zeros([3]))

    @tf.function(input_signature=[tf.TensorSpec([None], tf.float32)])
    def record(gradient):
        return summary.gradient_norms([gradient], [bias], step=0)

    with writer.as_default():
        assert bool(record(tf.constant([0.0, 3.0, 4.0])))
    points = written_by_tag(writer, logdir)["gradients"]
    np.testing.assert_allclose(value_column(points, GRADIENTS, "norm")[0], [5, 5])
    np.testing.assert_allclose(value_column(points, GRADIENTS, "zero_fraction")[0], [1 / 3, 1 / 3])


def test_none_gradient_is_recorded_as_missing(writer, logdir):
    used = tf.Variable(tf.ones([3]))
    unused = tf.Variable(tf.ones([2]))
    with writer.as_default():
        for step in range(3):
            summary.gradient_norms([used * 2.0, None], [used, unused], step=step)
    points = written_by_tag(writer, logdir)
    norm = value_column(points["gradients"], GRADIENTS, "norm")[-1]
    assert norm[1] == pytest.approx(np.linalg.norm([2.0] * 3))
    assert norm[0] == pytest.approx(norm[1])  # the model row is over the gradients there are
    assert np.isnan(norm[2])
    np.testing.assert_array_equal(
        value_column(points["gradients"], GRADIENTS, "missing")[-1], [0, 0, 1]
    )
    # The streak began at the first step and is written once: it did not change since.
    np.testing.assert_array_equal(
        since_column(points["gradients/since"], GRADIENTS, "missing"), [np.nan, np.nan, 0]
    )
    assert steps(points["gradients/since"]) == [0]


def test_vanishing_through_depth_is_tracked_on_the_model_row_from_its_first_record(writer, logdir):
    """First kernel's gradient RMS 1e-5 against the last one's 1: the model row holds it."""
    kernels = [tf.Variable(tf.ones([4, 4]), name=f"k{i}") for i in range(3)]
    biases = [tf.Variable(tf.ones([4]), name=f"b{i}") for i in range(3)]
    variables = [v for pair in zip(kernels, biases) for v in pair]

    def record(step, first_rms):
        grads = [tf.fill(v.shape, rms) for v, rms in zip(variables, [first_rms, 1, 1, 1, 1, 1])]
        with writer.as_default():
            summary.gradient_norms(grads, variables, step=step)

    record(0, 1.0)  # healthy
    for step in (10, 20, 30):
        record(step, 1e-5)
    depth = since_column(written_by_tag(writer, logdir)["gradients/since"], GRADIENTS, "depth")
    assert depth[0] == 10
    assert np.isnan(depth[1:]).all()
    record(40, 1e-2)  # recovered: the streak ends
    depth = since_column(written_by_tag(writer, logdir)["gradients/since"], GRADIENTS, "depth")
    assert np.isnan(depth).all()


def test_layout_names_are_keras_paths_with_shape_dtype_and_trainable(writer, logdir):
    model = keras.Sequential(
        [
            keras.Input((4,)),
            keras.layers.Dense(8, name="hidden"),
            keras.layers.BatchNormalization(name="norm"),
        ],
        name="net",
    )
    plain = tf.Variable(tf.zeros([2, 5], tf.float16), name="plain")
    variables = [*model.variables, plain]
    with writer.as_default():
        summary.weight_deltas(variables, step=0)
    ((_, layout),) = written_by_tag(writer, logdir)["weights/layout"]
    rows = [[cell.decode() for cell in row] for row in layout]
    assert rows[0][0] == MODEL_ROW
    expected = [
        [v.path, "x".join(map(str, v.shape)), "float32", "1" if v.trainable else "0"]
        for v in model.variables
    ] + [["plain", "2x5", "float16", "1"]]
    assert rows[1:] == expected
    assert any(r[3] == "0" for r in rows[1:])  # BatchNormalization's moving statistics
    assert rows[1][0] == "net/hidden/kernel"


# --- weight_deltas ---------------------------------------------------------------------------------


def test_weight_deltas_match_numpy(writer, logdir):
    small = tf.Variable(tf.random.stateless_normal([4, 3], [1, 0]))
    sketched = tf.Variable(tf.random.stateless_normal([300, 257], [1, 1]))
    whole_chunks = tf.Variable(tf.random.stateless_normal([2 * BUCKETS, 64], [1, 2]))
    variables = [small, sketched, whole_chunks]
    history = [[v.numpy().astype(np.float64) for v in variables]]
    with writer.as_default():
        summary.weight_deltas(variables, step=0)
        for step in range(1, 4):
            for i, v in enumerate(variables):
                v.assign_add(tf.random.stateless_normal(v.shape, [step, i]) * 0.01 * step)
            history.append([v.numpy().astype(np.float64) for v in variables])
            summary.weight_deltas(variables, step=step)
    points = written_by_tag(writer, logdir)["weights"]
    delta = value_column(points, WEIGHTS, "delta")
    norm = value_column(points, WEIGHTS, "norm")

    assert np.isnan(delta[0]).all()  # no previous point at the first record
    for step in range(1, 4):
        true = [np.linalg.norm(a - b) for a, b in zip(history[step], history[step - 1])]
        assert delta[step][1] == pytest.approx(true[0], rel=1e-5)  # exact copy
        np.testing.assert_allclose(delta[step][2:], true[1:], rtol=SKETCH_TOLERANCE)
        np.testing.assert_allclose(delta[step][0], np.linalg.norm(true), rtol=SKETCH_TOLERANCE)
        true_norms = [np.linalg.norm(a) for a in history[step]]
        np.testing.assert_allclose(norm[step][1:], true_norms, rtol=SKETCH_TOLERANCE)
    np.testing.assert_array_equal(value_column(points, WEIGHTS, "records")[:, 0], [1, 2, 3, 4])


def test_unchanged_variables_report_exactly_zero(writer, logdir):
    moving = tf.Variable(tf.ones([3]))
    frozen_small = tf.Variable(tf.ones([4]))
    frozen_sketched = tf.Variable(tf.random.stateless_normal([300, 257], [2, 0]))
    variables = [moving, frozen_small, frozen_sketched]
    with writer.as_default():
        for step in range(0, 40, 10):
            moving.assign_add([0.1, 0.0, 0.0])
            summary.weight_deltas(variables, step=step)
    points = written_by_tag(writer, logdir)
    delta = value_column(points["weights"], WEIGHTS, "delta")[1:]
    np.testing.assert_array_equal(delta[:, 2:], 0.0)
    np.testing.assert_allclose(delta[:, 1], 0.1, rtol=1e-5)
    # Unchanged since the first record (step 0): the streak is dated from when they last differed.
    np.testing.assert_array_equal(
        since_column(points["weights/since"], WEIGHTS, "unchanged"), [np.nan, np.nan, 0, 0]
    )


def test_weight_state_is_at_most_one_percent_of_the_parameters_plus_a_constant_per_variable():
    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [
            keras.Input((20,), dtype="int32"),
            keras.layers.Embedding(30000, 64),
            keras.layers.Flatten(),
            keras.layers.Dense(700, activation="relu"),
            keras.layers.Dense(700, activation="relu"),
            keras.layers.Dense(10),
        ]
    )
    variables = model.trainable_variables
    parameter_bytes = sum(4 * v.shape.num_elements() for v in variables)
    state = summary._WeightState(variables)
    constant_per_variable = 4 * EXACT_MAX_SIZE  # at most an exact copy of a small variable
    assert state.state_bytes() <= 0.01 * parameter_bytes + constant_per_variable * len(variables)
    # What the sketches hold is what state_bytes counts.
    held = 4 * state.memory.previous.shape.num_elements() + sum(
        4 * sketch.coefficients.shape.num_elements() for sketch in state.memory.sketches
    )
    assert held == state.state_bytes()
    assert state.state_bytes() < 0.01 * parameter_bytes  # the model is large: far below the bound


# --- output_spread ---------------------------------------------------------------------------------


def spread_stats(x: np.ndarray) -> list[float]:
    """numpy reference: [spread, spread_max, scale, zero_spread_fraction, nonfinite, batch]."""
    units = x.reshape(len(x), -1).astype(np.float64)
    std = units.std(axis=0)
    constant = (units == units[:1]).all(axis=0)
    rms = np.sqrt((units**2).mean(axis=0))
    return [std.mean(), std.max(), rms.mean(), constant.mean(), 0.0, len(x)]


def test_output_spread_matches_numpy(writer, logdir):
    rng = np.random.default_rng(0)
    outputs = rng.normal(size=(8, 3, 2)).astype(np.float32)
    outputs[:, 0, 1] = 4.0  # one constant unit
    inputs = {
        "a": rng.normal(size=(8, 5)).astype(np.float32),
        "b": rng.normal(size=(8, 2, 2)).astype(np.float32),
    }
    with writer.as_default():
        summary.output_spread(tf.constant(outputs), step=0, inputs=inputs)
    ((_, values),) = written_by_tag(writer, logdir)["outputs"]
    flat_inputs = np.concatenate([inputs["a"], inputs["b"].reshape(8, -1)], axis=1)
    np.testing.assert_allclose(values[0, :6], spread_stats(outputs), rtol=1e-5)
    np.testing.assert_allclose(values[1, :6], spread_stats(flat_inputs), rtol=1e-5)
    assert values[0, 3] == pytest.approx(1 / 6)
    np.testing.assert_array_equal(values[:, 6], 1)


def test_labels_are_measured_like_the_inputs(writer, logdir):
    rng = np.random.default_rng(1)
    outputs = rng.normal(size=(8, 2)).astype(np.float32)
    labels = [rng.normal(size=(8, 1)).astype(np.float32), rng.integers(0, 3, (8,))]
    with writer.as_default():
        summary.output_spread(tf.constant(outputs), step=0, labels=labels)
    ((_, values),) = written_by_tag(writer, logdir)["outputs"]
    flat_labels = np.concatenate([labels[0], labels[1][:, None].astype(np.float32)], axis=1)
    np.testing.assert_allclose(values[2, :6], spread_stats(flat_labels), rtol=1e-5)
    assert np.isnan(values[1, :6]).all()  # no inputs given


def test_outputs_that_vary_far_less_than_the_labels_have_collapsed(writer, logdir):
    labels = tf.random.stateless_normal([32, 1], [0, 7])
    level = thresholds.LEVEL_COLLAPSED_SPREAD_RATIO
    with writer.as_default():
        # Outputs with half the labels' spread, then a tenth of the level: collapsed from step 2.
        summary.output_spread(labels * 0.5, step=0, labels=labels)
        summary.output_spread(labels * 0.5 + 1.0, step=1, labels=labels)
        summary.output_spread(labels * (0.1 * level), step=2, labels=labels)
    points = written_by_tag(writer, logdir)["outputs/since"]
    np.testing.assert_array_equal(since_column(points, OUTPUTS, "collapsed"), [2, np.nan, np.nan])


def test_labels_of_other_units_than_the_outputs_are_not_compared(writer, logdir):
    """Class ids [batch] against logits [batch, 3]: spreads of different things."""
    labels = tf.constant([0, 1, 2, 1] * 8)
    outputs = tf.fill([32, 3], 0.5) + tf.random.stateless_normal([32, 3], [0, 8]) * 1e-4
    with writer.as_default():
        summary.output_spread(outputs, step=0, labels=labels)
    points = written_by_tag(writer, logdir)["outputs/since"]
    assert np.isnan(since_column(points, OUTPUTS, "collapsed")).all()


def test_inputs_vary_but_outputs_do_not(writer, logdir):
    inputs = tf.random.stateless_normal([16, 5], [0, 1])
    outputs = tf.tile([[0.3, -1.0]], [16, 1])  # a model that ignores its input
    with writer.as_default():
        summary.output_spread(outputs, step=4, inputs=inputs)
    points = written_by_tag(writer, logdir)
    zero_fraction = value_column(points["outputs"], OUTPUTS, "zero_spread_fraction")[0]
    np.testing.assert_array_equal(zero_fraction, [1.0, 0.0, np.nan])
    since = points["outputs/since"]
    np.testing.assert_array_equal(since_column(since, OUTPUTS, "constant"), [4, np.nan, np.nan])
    np.testing.assert_array_equal(since_column(since, OUTPUTS, "invariant"), [4, np.nan, np.nan])


def test_batch_of_one_repeated_example_is_told_apart(writer, logdir):
    example = tf.random.stateless_normal([1, 5], [0, 2])
    inputs = tf.tile(example, [16, 1])  # a broken input pipeline
    outputs = tf.tile(tf.constant([[0.3, -1.0]]), [16, 1])
    with writer.as_default():
        summary.output_spread(outputs, step=4, inputs=inputs)
    points = written_by_tag(writer, logdir)
    zero_fraction = value_column(points["outputs"], OUTPUTS, "zero_spread_fraction")[0]
    np.testing.assert_array_equal(zero_fraction, [1.0, 1.0, np.nan])
    np.testing.assert_array_equal(
        since_column(points["outputs/since"], OUTPUTS, "constant"), [4, 4, np.nan]
    )


def test_same_batch_fed_again_is_repeated(writer, logdir):
    batch = tf.random.stateless_normal([8, 3], [0, 3])
    model_outputs = tf.random.stateless_normal([8, 2], [0, 4])
    with writer.as_default():
        for step in range(3):
            summary.output_spread(model_outputs, step=step, inputs=batch)
        summary.output_spread(model_outputs + 1.0, step=3, inputs=batch + 1.0)
    since = written_by_tag(writer, logdir)["outputs/since"]
    assert steps(since) == [0, 1, 3]
    # Repeated from step 1 on, dated from step 0, the batch it repeats.
    repeated = since[1][1][:, SINCE_FIELDS[OUTPUTS].index("repeated")]
    np.testing.assert_array_equal(repeated, [0, 0, np.nan])
    np.testing.assert_array_equal(since_column(since, OUTPUTS, "repeated"), [np.nan] * 3)
