"""What the summary ops write comes back intact through both of TensorBoard's loaders.

The ground truth is the event files themselves (`eventdata.written_points`). The Python loader
(`EventMultiplexer` behind `MultiplexerDataProvider`) and the Rust data server
(`SubprocessServerDataIngester` with the installed `tensorboard_data_server` binary) must return it:
every point when told to keep all, and the latest point of every tag (the since tag included,
which carries the streaks) under the sample counts TensorBoard uses by default.
"""

import json

import keras
import numpy as np
import pytest
import tensorflow as tf
from eventdata import (
    KEEP_ALL,
    PointsByRunAndTag,
    data_server,
    latest_steps_are,
    plugin_contents,
    python_loader,
    read_points,
    read_points_when,
    written_metadata,
    written_points,
)
from tensorboard.compat.proto import summary_pb2

from tb_stuckplugin import summary
from tb_stuckplugin.metadata import (
    FORMAT_VERSION,
    PLUGIN_NAME,
    create_summary_metadata,
    parse_plugin_content,
)
from tb_stuckplugin.record_format import GRADIENTS, OUTPUTS, ROLE_SUFFIX, WEIGHTS

OPS_BY_TAG = {"gradients": GRADIENTS, "weights": WEIGHTS, "outputs": OUTPUTS}


def write_training(run_dir, steps: int) -> None:
    """Train a small Keras model for `steps` steps, recording all three ops at every step.

    Each batch is fed twice in a row, so the `repeated` condition of the outputs starts and ends at
    every step: the since tag is written at every step, as often as the values tag. The output
    layer's bias gets no gradient (None) and never moves.
    """
    keras.utils.set_random_seed(0)
    hidden = keras.layers.Dense(6, activation="relu")
    head = keras.layers.Dense(2)
    model = keras.Sequential([keras.Input((3,)), hidden, head])
    trained = [hidden.kernel, hidden.bias, head.kernel]
    step = tf.Variable(0, dtype=tf.int64)

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            y = model(x)
            loss = tf.reduce_mean((y - head.bias) ** 2)
        grads = tape.gradient(loss, model.trainable_variables, unconnected_gradients="none")
        for v, g in zip(trained, grads):
            v.assign_sub(0.05 * g)
        summary.gradient_norms(grads, model.trainable_variables, step=step)
        summary.weight_deltas(model.trainable_variables, step=step)
        summary.output_spread(y, step=step, inputs=x)

    writer = tf.summary.create_file_writer(str(run_dir))
    with writer.as_default():
        for i in range(steps):
            step.assign(i)
            train_step(tf.random.stateless_normal([8, 3], [i // 2, 0]))
    writer.close()


def assert_same_points(actual: PointsByRunAndTag, expected: PointsByRunAndTag) -> None:
    assert actual.keys() == expected.keys()
    for run, tags in expected.items():
        assert actual[run].keys() == tags.keys(), run
        for tag, points in tags.items():
            assert [s for s, _ in actual[run][tag]] == [s for s, _ in points], (run, tag)
            for (_, got), (_, want) in zip(actual[run][tag], points):
                assert got.dtype == want.dtype and got.shape == want.shape, (run, tag)
                np.testing.assert_array_equal(got, want, err_msg=f"{run}/{tag}")


def latest_of_each_tag(points: PointsByRunAndTag) -> dict[tuple[str, str], int]:
    return {(run, tag): p[-1][0] for run, tags in points.items() for tag, p in tags.items()}


@pytest.fixture(scope="module")
def two_runs(tmp_path_factory):
    """A logdir with a train and an eval run of 6 recorded steps each, and what the files hold."""
    logdir = tmp_path_factory.mktemp("two_runs")
    write_training(logdir / "train", 6)
    write_training(logdir / "eval", 6)
    return logdir, written_points(logdir)


@pytest.fixture(scope="module")
def long_run(tmp_path_factory):
    """A logdir with one run of 250 recorded steps, more than TensorBoard keeps, and its files."""
    logdir = tmp_path_factory.mktemp("long_run")
    write_training(logdir / "train", 250)
    return logdir, written_points(logdir)


def test_every_tag_is_a_tensor_with_versioned_plugin_content(two_runs):
    logdir, written = two_runs
    metadata = written_metadata(logdir)
    for run, tags in written.items():
        assert set(tags) == {
            base + suffix for base in OPS_BY_TAG for suffix in ROLE_SUFFIX.values()
        }
        for tag in tags:
            proto = metadata[run][tag]
            assert proto.data_class == summary_pb2.DATA_CLASS_TENSOR
            assert proto.plugin_data.plugin_name == PLUGIN_NAME
            content = json.loads(proto.plugin_data.content)
            base, _, role = tag.partition("/")
            assert content == {
                "version": FORMAT_VERSION,
                "op": OPS_BY_TAG[base],
                "role": role or "values",
            }


def test_python_loader_returns_every_point_intact(two_runs):
    logdir, written = two_runs
    provider = python_loader(logdir, KEEP_ALL)
    assert_same_points(read_points(provider), written)
    for tags in plugin_contents(provider).values():
        for tag, content in tags.items():
            assert parse_plugin_content(content)["op"] == OPS_BY_TAG[tag.partition("/")[0]]


def test_data_server_returns_every_point_intact(two_runs):
    logdir, written = two_runs
    with data_server(logdir, KEEP_ALL) as provider:
        points = read_points_when(provider, latest_steps_are(latest_of_each_tag(written)))
        contents = plugin_contents(provider)
    assert_same_points(points, written)
    for tags in contents.values():
        for tag, content in tags.items():
            assert parse_plugin_content(content)["op"] == OPS_BY_TAG[tag.partition("/")[0]]


def assert_latest_points_kept(kept: PointsByRunAndTag, written: PointsByRunAndTag, samples: int):
    """Each tag: at most `samples` points, among them the latest written one, intact."""
    assert kept.keys() == written.keys()
    for run, tags in written.items():
        assert kept[run].keys() == tags.keys()
        for tag, points in tags.items():
            assert len(kept[run][tag]) <= samples
            (last_step, last_array), (kept_step, kept_array) = points[-1], kept[run][tag][-1]
            assert kept_step == last_step, (run, tag)
            np.testing.assert_array_equal(kept_array, last_array, err_msg=f"{run}/{tag}")


def test_long_run_writes_the_since_tag_at_every_step(long_run):
    _, written = long_run
    assert len(written["train"]["outputs/since"]) == 250
    assert len(written["train"]["outputs"]) == 250


@pytest.mark.parametrize("samples", [None, 100], ids=["default (10)", "100"])
def test_python_loader_keeps_the_latest_point_of_each_tag(long_run, samples):
    logdir, written = long_run
    provider = python_loader(logdir, {PLUGIN_NAME: samples} if samples else None)
    kept = read_points(provider)
    assert len(kept["train"]["outputs/since"]) == (samples or 10)
    assert_latest_points_kept(kept, written, samples or 10)


@pytest.mark.parametrize("samples", [None, 10], ids=["default (100)", "10"])
def test_data_server_keeps_the_latest_point_of_each_tag(long_run, samples):
    logdir, written = long_run
    with data_server(logdir, {PLUGIN_NAME: samples} if samples else None) as provider:
        kept = read_points_when(provider, latest_steps_are(latest_of_each_tag(written)))
    assert len(kept["train"]["outputs/since"]) == (samples or 100)
    assert_latest_points_kept(kept, written, samples or 100)


# --- The metadata's content ---------------------------------------------------------------------


def test_plugin_content_round_trips_for_every_op_and_role():
    for op in OPS_BY_TAG.values():
        for role in ROLE_SUFFIX:
            proto = create_summary_metadata(op, role)
            parsed = parse_plugin_content(proto.plugin_data.content)
            assert parsed == {"version": FORMAT_VERSION, "op": op, "role": role}


@pytest.mark.parametrize(
    ("op", "role", "message"),
    [("histogram", "values", "op must be one of"), (GRADIENTS, "history", "role must be one of")],
    ids=["op", "role"],
)
def test_metadata_refuses_an_unknown_op_or_role(op, role, message):
    with pytest.raises(ValueError, match=message):
        create_summary_metadata(op, role)


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"\xff", "unreadable"),
        (b"[1]", "not a JSON object"),
        (b'{"op": "gradient_norms", "role": "values"}', "bad format version"),
        (
            json.dumps({"version": FORMAT_VERSION + 1, "op": GRADIENTS, "role": "values"}).encode(),
            "upgrade",
        ),
        (json.dumps({"version": 1, "op": "other", "role": "values"}).encode(), "unknown op"),
    ],
    ids=["not utf-8", "not an object", "no version", "newer version", "unknown op"],
)
def test_plugin_content_that_is_not_ours_is_refused(content, message):
    with pytest.raises(ValueError, match=message):
        parse_plugin_content(content)
