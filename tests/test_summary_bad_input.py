"""Bad values are recorded as findings and never crash training; misuse raises, naming the argument.

One test per case. Values are read back from the real event files with TensorBoard's event file
loader (`eventdata.written_points`).
"""

import keras
import numpy as np
import pytest
import tensorflow as tf
from eventdata import written_by_tag

from tb_stuckplugin import summary
from tb_stuckplugin.record_format import (
    GRADIENTS,
    OPS,
    OUTPUTS,
    SINCE_FIELDS,
    VALUE_FIELDS,
    WEIGHTS,
)


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


def latest(points: list, op: str, field: str) -> np.ndarray:
    """[rows] of one field of the latest point of a values tag."""
    return points[-1][1][:, VALUE_FIELDS[op].index(field)]


def latest_since(points: list, op: str, condition: str) -> np.ndarray:
    """[rows] of one condition in the latest point of a since tag."""
    return points[-1][1][:, SINCE_FIELDS[op].index(condition)]


def layout_dtypes(points: list) -> list[str]:
    """The dtype column of the latest layout, variables only."""
    return [row[2].decode() for row in points[-1][1][1:]]


# --- Bad values: recorded -------------------------------------------------------------------------


@pytest.mark.parametrize("in_function", [False, True], ids=["eager", "tf.function"])
def test_all_gradients_none_are_missing_not_an_error(in_function, writer, logdir):
    a, b = tf.Variable(tf.ones([3])), tf.Variable(tf.ones([2, 2]))

    def record(step):
        return summary.gradient_norms([None, None], [a, b], step=step)

    record = tf.function(record) if in_function else record
    with writer.as_default():
        assert bool(record(tf.constant(0, tf.int64)))
    points = written_by_tag(writer, logdir)
    np.testing.assert_array_equal(latest(points["gradients"], GRADIENTS, "missing"), [1, 1, 1])
    assert np.isnan(latest(points["gradients"], GRADIENTS, "norm")).all()
    np.testing.assert_array_equal(latest_since(points["gradients/since"], GRADIENTS, "missing"), 0)


def test_nan_and_inf_gradients_are_counted(writer, logdir):
    a, b = tf.Variable(tf.ones([4])), tf.Variable(tf.ones([2]))
    bad = tf.constant([np.nan, np.inf, -np.inf, 1.0])
    with writer.as_default():
        assert bool(summary.gradient_norms([bad, tf.ones([2])], [a, b], step=2))
    points = written_by_tag(writer, logdir)
    np.testing.assert_array_equal(latest(points["gradients"], GRADIENTS, "nonfinite"), [3, 3, 0])
    np.testing.assert_array_equal(
        latest_since(points["gradients/since"], GRADIENTS, "nonfinite"), [2, 2, np.nan]
    )
    assert latest(points["gradients"], GRADIENTS, "norm")[2] == pytest.approx(np.sqrt(2))


def test_nan_and_inf_weights_are_flagged_and_recover(writer, logdir):
    small = tf.Variable(tf.ones([3]))
    sketched = tf.Variable(tf.ones([300, 257]))
    with writer.as_default():
        summary.weight_deltas([small, sketched], step=0)
        small.assign([1.0, np.nan, 1.0])
        sketched[5, 5].assign(np.inf)
        assert bool(summary.weight_deltas([small, sketched], step=1))
        points = written_by_tag(writer, logdir)
        np.testing.assert_array_equal(latest(points["weights"], WEIGHTS, "nonfinite"), [1, 1, 1])
        np.testing.assert_array_equal(
            latest_since(points["weights/since"], WEIGHTS, "nonfinite"), [1, 1, 1]
        )
        small.assign([1.0, 1.0, 1.0])
        sketched.assign(tf.ones([300, 257]))
        summary.weight_deltas([small, sketched], step=2)
    points = written_by_tag(writer, logdir)
    np.testing.assert_array_equal(latest(points["weights"], WEIGHTS, "nonfinite"), [0, 0, 0])
    assert np.isnan(latest_since(points["weights/since"], WEIGHTS, "nonfinite")).all()


def test_float16_and_bfloat16_gradients_are_measured_in_float32(writer, logdir):
    half = tf.Variable(tf.zeros([3], tf.float16))
    brain = tf.Variable(tf.zeros([2], tf.bfloat16))
    # 60000^2 overflows float16: the norm must still be finite and right.
    grads = [tf.constant([60000.0, 0.0, 0.0], tf.float16), tf.constant([3.0, 4.0], tf.bfloat16)]
    with writer.as_default():
        summary.gradient_norms(grads, [half, brain], step=0)
    points = written_by_tag(writer, logdir)
    np.testing.assert_allclose(
        latest(points["gradients"], GRADIENTS, "norm"), [np.hypot(60000, 5), 60000, 5], rtol=1e-6
    )
    np.testing.assert_array_equal(latest(points["gradients"], GRADIENTS, "nonfinite"), 0)
    assert layout_dtypes(points["gradients/layout"]) == ["float16", "bfloat16"]


def test_float16_and_bfloat16_variables_report_their_change(writer, logdir):
    half = tf.Variable(tf.ones([3], tf.float16))
    brain = tf.Variable(tf.ones([2], tf.bfloat16))
    with writer.as_default():
        summary.weight_deltas([half, brain], step=0)
        half.assign_add(tf.constant([0.5, 0.0, 0.0], tf.float16))
        brain.assign_add(tf.constant([0.0, 0.25], tf.bfloat16))
        summary.weight_deltas([half, brain], step=1)
    points = written_by_tag(writer, logdir)
    np.testing.assert_allclose(
        latest(points["weights"], WEIGHTS, "delta"), [np.hypot(0.5, 0.25), 0.5, 0.25], rtol=1e-6
    )
    assert layout_dtypes(points["weights/layout"]) == ["float16", "bfloat16"]


def test_mixed_precision_keras_model(writer, logdir):
    """Keras "mixed_float16": float32 variables, float16 outputs and gradients of float16 ops."""
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = keras.Sequential([keras.Input((6,)), keras.layers.Dense(4)])
        x = tf.random.stateless_normal([8, 6], [0, 0])
        with tf.GradientTape() as tape:
            y = model(x)
            loss = tf.reduce_mean(tf.cast(y, tf.float32) ** 2)
        grads = tape.gradient(loss, model.trainable_variables)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert y.dtype == tf.float16
    with writer.as_default():
        assert bool(summary.gradient_norms(grads, model.trainable_variables, step=0))
        assert bool(summary.output_spread(y, step=0, inputs=x))
    points = written_by_tag(writer, logdir)
    norms = [np.linalg.norm(g.numpy().astype(np.float64)) for g in grads]
    np.testing.assert_allclose(latest(points["gradients"], GRADIENTS, "norm")[1:], norms, rtol=1e-5)
    assert latest(points["outputs"], OUTPUTS, "spread")[0] == pytest.approx(
        y.numpy().astype(np.float64).std(axis=0).mean(), rel=1e-5
    )


def test_int_outputs_and_inputs_are_measured(writer, logdir):
    outputs = tf.constant([[1, 5], [3, 5], [5, 5]])
    inputs = {
        "ids": tf.constant([[7], [8], [9]], tf.int64),
        "mask": tf.constant([[True], [False], [True]]),
    }
    with writer.as_default():
        assert bool(summary.output_spread(outputs, step=0, inputs=inputs))
    values = written_by_tag(writer, logdir)["outputs"][-1][1]
    spread = VALUE_FIELDS[OUTPUTS].index("spread")
    zero = VALUE_FIELDS[OUTPUTS].index("zero_spread_fraction")
    assert values[0, spread] == pytest.approx(np.std([1, 3, 5]) / 2)
    assert values[0, zero] == 0.5
    assert values[1, spread] == pytest.approx((np.std([7, 8, 9]) + np.std([1, 0, 1])) / 2)


def test_int_variables_report_their_change_and_have_no_gradient(writer, logdir):
    counter = tf.Variable([1, 2, 3])
    weight = tf.Variable(tf.ones([2]))
    with writer.as_default():
        summary.weight_deltas([counter, weight], step=0)
        counter.assign_add([3, 0, 4])
        summary.weight_deltas([counter, weight], step=1)
        with tf.GradientTape() as tape:
            loss = tf.reduce_sum(weight) * tf.reduce_sum(tf.cast(counter, tf.float32))
        grads = tape.gradient(loss, [counter, weight])
        summary.gradient_norms(grads, [counter, weight], step=1)
    points = written_by_tag(writer, logdir)
    np.testing.assert_allclose(latest(points["weights"], WEIGHTS, "delta"), [5, 5, 0])
    assert layout_dtypes(points["weights/layout"]) == ["int32", "float32"]
    assert grads[0] is None
    np.testing.assert_array_equal(latest(points["gradients"], GRADIENTS, "missing"), [0, 1, 0])


def test_empty_variables_are_recorded_without_conditions(writer, logdir):
    empty = tf.Variable(tf.zeros([0, 4]))
    weight = tf.Variable(tf.ones([2]))
    with writer.as_default():
        for step in range(3):
            summary.weight_deltas([empty, weight], step=step)
            summary.gradient_norms([tf.zeros([0, 4]), tf.ones([2])], [empty, weight], step=step)
    points = written_by_tag(writer, logdir)
    np.testing.assert_array_equal(latest(points["weights"], WEIGHTS, "norm")[1], 0)
    np.testing.assert_array_equal(latest(points["weights"], WEIGHTS, "delta")[1], 0)
    np.testing.assert_array_equal(latest(points["gradients"], GRADIENTS, "norm")[1], 0)
    # A variable with no elements is neither frozen nor has a zero gradient: no condition holds.
    assert np.isnan(points["weights/since"][-1][1][1, :3]).all()
    assert np.isnan(points["gradients/since"][-1][1][1, :6]).all()
    assert points["weights/layout"][-1][1][1, 1].decode() == "0x4"


def test_batch_of_one_has_no_spread_and_no_condition(writer, logdir):
    with writer.as_default():
        assert bool(
            summary.output_spread(tf.constant([[1.0, 2.0]]), step=0, inputs=tf.ones([1, 3]))
        )
    points = written_by_tag(writer, logdir)
    assert np.isnan(latest(points["outputs"], OUTPUTS, "spread")).all()
    np.testing.assert_array_equal(latest(points["outputs"], OUTPUTS, "batch"), [1, 1, np.nan])
    assert np.isnan(points["outputs/since"][-1][1][:, :4]).all()


def test_rank_one_outputs_are_one_unit(writer, logdir):
    with writer.as_default():
        summary.output_spread(tf.constant([1.0, 2.0, 4.0]), step=0)
    spread = latest(written_by_tag(writer, logdir)["outputs"], OUTPUTS, "spread")[0]
    assert spread == pytest.approx(np.std([1.0, 2.0, 4.0]))


# --- Misuse: raises, naming the argument ------------------------------------------------------------


def test_gradients_and_variables_of_different_lengths():
    a, b = tf.Variable(tf.ones([3])), tf.Variable(tf.ones([2]))
    with pytest.raises(ValueError, match="gradients has 1 entries but variables has 2"):
        summary.gradient_norms([tf.ones([3])], [a, b], step=0)


def test_gradient_of_another_shape_than_its_variable():
    a, b = tf.Variable(tf.ones([3])), tf.Variable(tf.ones([2]))
    with pytest.raises(ValueError, match=r"gradients\[0\].*variables\[0\]"):
        summary.gradient_norms([tf.ones([2]), tf.ones([3])], [a, b], step=0)


def test_ragged_outputs():
    with pytest.raises(TypeError, match="outputs must be a dense tensor"):
        summary.output_spread(tf.ragged.constant([[1.0], [2.0, 3.0]]), step=0)


def test_ragged_gradient():
    a = tf.Variable(tf.ones([2, 2]))
    with pytest.raises(TypeError, match=r"gradients\[0\]"):
        summary.gradient_norms([tf.ragged.constant([[1.0], [2.0, 3.0]])], [a], step=0)


def test_labels_with_different_batch_sizes():
    with pytest.raises(ValueError, match="labels must all have the same batch size"):
        summary.output_spread(tf.ones([4, 2]), step=0, labels=(tf.ones([4, 1]), tf.ones([3, 1])))


def test_inputs_with_different_batch_sizes():
    with pytest.raises(ValueError, match="inputs must all have the same batch size"):
        summary.output_spread(tf.ones([4, 2]), step=0, inputs=[tf.ones([4, 3]), tf.ones([5, 3])])


NOT_TENSORS = {
    "gradients list": (lambda v: summary.gradient_norms(np.ones(3), [v], step=0), "gradients"),
    "gradient entry": (
        lambda v: summary.gradient_norms([[1.0, 2.0, 3.0]], [v], step=0),
        r"gradients\[0\]",
    ),
    "variables entry": (lambda v: summary.weight_deltas([np.ones(3)], step=0), r"variables\[0\]"),
    "single variable": (lambda v: summary.weight_deltas(v, step=0), "variables must be a list"),
    "outputs object": (lambda v: summary.output_spread(object(), step=0), "outputs"),
    "outputs string": (lambda v: summary.output_spread("text", step=0), "outputs"),
    "inputs string": (
        lambda v: summary.output_spread(tf.ones([2, 1]), step=0, inputs={"a": "x"}),
        "inputs",
    ),
    "labels string": (
        lambda v: summary.output_spread(tf.ones([2, 1]), step=0, labels=["a", "b"]),
        "labels",
    ),
    "name": (lambda v: summary.weight_deltas([v], step=0, name=""), "name"),
}


@pytest.mark.parametrize("case", NOT_TENSORS)
def test_non_tensor_argument(case, writer):
    call, argument = NOT_TENSORS[case]
    with writer.as_default(), pytest.raises(TypeError, match=argument):
        call(tf.Variable(tf.ones([3])))


# --- No writer, no step --------------------------------------------------------------------------------


def op_call(op: str):
    """A call of `op` on small fixed arguments, as `call(step=...)`."""
    weight = tf.Variable(tf.ones([3]))
    if op == GRADIENTS:
        return lambda **kw: summary.gradient_norms([weight * 2.0], [weight], **kw)
    if op == WEIGHTS:
        return lambda **kw: summary.weight_deltas([weight], **kw)
    return lambda **kw: summary.output_spread(tf.ones([2, 2]), **kw)


@pytest.mark.parametrize("in_function", [False, True], ids=["eager", "tf.function"])
@pytest.mark.parametrize("op", OPS)
def test_without_default_writer_returns_false(op, in_function, logdir):
    call = op_call(op)
    call = tf.function(call) if in_function else call
    written = call(step=tf.constant(0, tf.int64))
    assert written.dtype == tf.bool and not bool(written)
    assert list(logdir.iterdir()) == []


@pytest.mark.parametrize("in_function", [False, True], ids=["eager", "tf.function"])
@pytest.mark.parametrize("op", OPS)
def test_without_step_raises_like_tf_summary(op, in_function, writer):
    call = op_call(op)
    call = tf.function(call) if in_function else call
    with writer.as_default(), pytest.raises(ValueError, match="[Nn]o step set"):
        call()
