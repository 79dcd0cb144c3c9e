"""The weight sketch keeps the error bound its docstring states, and shape groups keep the order.

Bounds come from `tb_stuckplugin.sketch`'s docstring: with P buckets, the relative standard deviation
of the estimated change norm is about sqrt(2 / P) / 2 (2.2%) when chunks are alike only by chance,
up to sqrt(2) times that for a rank-one update of a kernel narrower than P, exactly zero error for a
constant update, and sqrt(2 / P + 2 f^2 / m) / 2 for a periodic update of a kernel with last
dimension m. Each bound is checked over many independent sketches (one per variable name) with a
margin: the root-mean-square error within 1.5 times the stated deviation, no single error beyond 6
times it, and a mean error consistent with an unbiased estimate. Seeds are fixed.
"""

import math

import numpy as np
import pytest
import tensorflow as tf

from tb_stuckplugin.sketch import (
    BUCKETS,
    BUCKETS_ALT,
    EXACT_MAX_SIZE,
    GROUP_MAX_SIZE,
    ShapeGroups,
    WeightMemory,
    WeightSketch,
)

SIGMA = math.sqrt(2 / BUCKETS) / 2  # relative standard deviation of the norm, from the docstring
TRIALS = 120
TRIALS_PER_SKETCH = 20  # sketches measured together, to bound the test's memory


def dense_random(rng, shape, trials):
    """Every element moves by an independent normal amount."""
    return rng.normal(size=(trials, *shape))


def outer_products(rng, shape, trials, first_factor=lambda x: x):
    """Rank-one updates u v^T, u transformed by `first_factor` (e.g. abs for ReLU inputs)."""
    return np.stack(
        [
            np.outer(first_factor(rng.normal(size=shape[0])), rng.normal(size=shape[1]))
            for _ in range(trials)
        ]
    )


def sparse_rows(rng, shape, trials, rows=20, same_values=False):
    """Embedding-like updates: a few random rows change, by their own values or all by the same."""
    updates = np.zeros((trials, *shape))
    for update in updates:
        chosen = rng.choice(shape[0], rows, replace=False)
        values = rng.normal(size=shape[1]) if same_values else rng.normal(size=(rows, shape[1]))
        update[chosen] = values
    return updates


def measure(memory, rows, shape):
    """`memory.measure` of one variable of `shape` per row of `rows`, as numpy arrays."""
    tensors = [tf.constant(row.reshape(shape)) for row in np.asarray(rows, np.float32)]
    return tuple(t.numpy() for t in memory.measure(tensors))


def memory_of(shape, names):
    """A WeightMemory of one variable of `shape` per name."""
    return WeightMemory([tf.TensorShape(shape)] * len(names), names)


def sketch_errors(shape, updates, label):
    """Relative errors of the estimated change norm and weight norm, one per independent sketch.

    Trial i is a variable named f"{label}/{i}" (its own random signs), starting from random weights
    and moved by `updates[i]`; the sketch measures it before and after.
    """
    rng = np.random.default_rng(1)
    size = int(np.prod(shape))
    change_errors, norm_errors, changed = [], [], []
    for start in range(0, len(updates), TRIALS_PER_SKETCH):
        batch = updates[start : start + TRIALS_PER_SKETCH].reshape(-1, size).astype(np.float32)
        names = [f"{label}/{start + i}" for i in range(len(batch))]
        memory = memory_of(shape, names)
        before = rng.normal(size=batch.shape).astype(np.float32)
        after = before + batch
        measure(memory, before, shape)
        norm_sq, change_sq, batch_changed = measure(memory, after, shape)
        true_change = np.linalg.norm(after.astype(np.float64) - before, axis=1)
        true_norm = np.linalg.norm(after.astype(np.float64), axis=1)
        change_errors.append(np.sqrt(change_sq) / true_change - 1)
        norm_errors.append(np.sqrt(norm_sq) / true_norm - 1)
        changed.append(batch_changed)
    return np.concatenate(change_errors), np.concatenate(norm_errors), np.concatenate(changed)


def assert_within(errors, sigma):
    """Errors of an unbiased estimate with relative standard deviation about `sigma`, with margin."""
    rms = float(np.sqrt(np.mean(errors**2)))
    assert rms <= 1.5 * sigma, f"rms error {rms:.4f} > 1.5 x {sigma:.4f}"
    assert np.max(np.abs(errors)) <= 6 * sigma, f"largest error {np.max(np.abs(errors)):.4f}"
    assert abs(float(np.mean(errors))) <= 4 * sigma / math.sqrt(len(errors)) + sigma**2


# --- Shape groups --------------------------------------------------------------------------------


def test_shape_groups_stack_same_shaped_small_tensors_and_keep_large_ones_alone():
    big = int(math.isqrt(GROUP_MAX_SIZE)) + 1
    shapes = [tf.TensorShape(s) for s in [(3, 4), (5,), (3, 4), (big, big), (5,), (3, 4)]]
    groups = ShapeGroups(shapes)
    assert sorted(map(sorted, groups.groups)) == [[0, 2, 5], [1, 4], [3]]

    tensors = [tf.fill(s, float(i)) for i, s in enumerate(shapes)]
    stacked = groups.stacked(tensors)
    for group, x in zip(groups.groups, stacked):
        assert x.dtype == tf.float32 and x.shape == (len(group), shapes[group[0]].num_elements())
        np.testing.assert_array_equal(x.numpy()[:, 0], group)

    per_item = groups.per_item([x[:, 0] for x in stacked])
    np.testing.assert_array_equal(per_item.numpy(), np.arange(len(shapes)))


def test_shape_groups_cast_to_float32():
    groups = ShapeGroups([tf.TensorShape([2]), tf.TensorShape([2])])
    (stacked,) = groups.stacked([tf.constant([1, 2]), tf.constant([3.5, 4], tf.float16)])
    assert stacked.dtype == tf.float32
    np.testing.assert_array_equal(stacked.numpy(), [[1, 2], [3.5, 4]])


# --- Exact part ----------------------------------------------------------------------------------


def test_small_variables_are_measured_exactly():
    rng = np.random.default_rng(0)
    shape = (EXACT_MAX_SIZE // 64, 64)
    memory = memory_of(shape, ["a", "b", "c"])
    before = rng.normal(size=(3, EXACT_MAX_SIZE)).astype(np.float32)
    after = before.copy()
    after[0] += 1e-3 * rng.normal(size=EXACT_MAX_SIZE).astype(np.float32)
    after[2, 17] = -after[2, 17]
    measure(memory, before, shape)
    norm_sq, change_sq, changed = measure(memory, after, shape)

    np.testing.assert_allclose(norm_sq, np.sum(after.astype(np.float64) ** 2, axis=1), rtol=1e-5)
    np.testing.assert_allclose(
        change_sq, np.sum((after.astype(np.float64) - before) ** 2, axis=1), rtol=1e-5
    )
    assert change_sq[1] == 0.0
    np.testing.assert_array_equal(changed, [True, False, True])


def test_variables_of_every_kind_are_measured_in_their_order():
    """Sketched alone, stacked exact, and empty (last in group order: it has no kept values)."""
    shapes = [(3, 4), (300, 257), (3, 4), (0, 5)]
    variables = [tf.Variable(tf.fill(shape, 1.0)) for shape in shapes]
    memory = WeightMemory([tf.TensorShape(shape) for shape in shapes], ["a", "b", "c", "d"])
    memory.measure(variables)
    variables[2].assign_add(tf.fill([3, 4], 0.5))
    norm_sq, change_sq, changed = (t.numpy() for t in memory.measure(variables))
    np.testing.assert_allclose(norm_sq, [12, 300 * 257, 12 * 1.5**2, 0], rtol=3 * SIGMA)
    np.testing.assert_array_equal(change_sq, [0, 0, 12 * 0.5**2, 0])
    np.testing.assert_array_equal(changed, [False, False, True, False])


@pytest.mark.parametrize("shape", [(300, 257), (30, 257)])
def test_state_bytes_counts_what_sketched_variables_keep(shape):
    """Two variables, sketched alone (large) or stacked (small)."""
    memory = memory_of(shape, ["a", "b"])
    kept = [memory.previous] + [sketch.coefficients for sketch in memory.sketches]
    assert memory.state_bytes == sum(4 * t.shape.num_elements() for t in kept)
    # The docstring's bound: 12 KiB plus 0.2% of the variable, per variable.
    assert memory.state_bytes <= 2 * (12 * 1024 + 0.002 * 4 * np.prod(shape))


def test_buckets_avoid_a_last_dimension_they_divide():
    assert WeightSketch(1, 8 * BUCKETS, BUCKETS, ["a"]).buckets == BUCKETS_ALT
    assert WeightSketch(1, 8 * 1000, 1000, ["a"]).buckets == BUCKETS


# --- Error bound on sketched variables -------------------------------------------------------------

UPDATES = {
    "dense random": ((300, 257), dense_random, SIGMA),
    "rank-one, wide kernel": ((64, 1500), outer_products, SIGMA),
    "rank-one, narrow kernel": ((300, 257), outer_products, math.sqrt(2) * SIGMA),
    "sparse rows": ((2000, 64), sparse_rows, SIGMA),
    "sparse rows, same values": (
        (2000, 64),
        lambda rng, shape, trials: sparse_rows(rng, shape, trials, same_values=True),
        SIGMA,
    ),
}


@pytest.mark.parametrize("kind", UPDATES)
def test_change_norm_error_is_within_the_stated_bound(kind):
    shape, make_updates, sigma = UPDATES[kind]
    rng = np.random.default_rng(7)
    updates = 1e-2 * make_updates(rng, shape, TRIALS)
    change_errors, norm_errors, changed = sketch_errors(shape, updates, kind)

    assert changed.all()
    assert_within(change_errors, sigma)
    assert_within(norm_errors, SIGMA)


def test_constant_update_is_measured_exactly():
    # 2042 x 64 is a whole number of chunks: no exactly-copied tail to lean on.
    shape = (2 * BUCKETS, 64)
    updates = np.full((TRIALS, *shape), 1e-3)
    change_errors, _, changed = sketch_errors(shape, updates, "constant")
    assert changed.all()
    np.testing.assert_allclose(change_errors, 0.0, atol=1e-4)


def test_constant_plus_noise_update_is_within_the_stated_bound():
    shape = (2 * BUCKETS, 64)
    updates = 1e-3 + 1e-4 * dense_random(np.random.default_rng(3), shape, TRIALS)
    change_errors, _, changed = sketch_errors(shape, updates, "constant plus noise")
    assert changed.all()
    assert_within(change_errors, SIGMA)


def test_periodic_update_of_a_narrow_kernel_is_within_its_stated_bound():
    """Gradient of a 10-unit output layer from one example with ReLU inputs: period m = 10."""
    shape = (5000, 10)
    rng = np.random.default_rng(5)
    updates = 1e-2 * outer_products(rng, shape, TRIALS, first_factor=np.abs)
    f = 2 / math.pi  # fraction of the update in its mean row, for a half-normal first factor
    sigma = math.sqrt(2 / BUCKETS + 2 * f**2 / shape[1]) / 2
    change_errors, _, changed = sketch_errors(shape, updates, "periodic")
    assert changed.all()
    assert_within(change_errors, sigma)


@pytest.mark.parametrize("shape", [(300, 257), (2 * BUCKETS, 64), (64, 1500)])
def test_unchanged_sketched_variable_reads_exactly_zero(shape):
    rng = np.random.default_rng(11)
    size = int(np.prod(shape))
    weights = rng.normal(size=(4, size)).astype(np.float32)
    memory = memory_of(shape, ["a", "b", "c", "d"])
    measure(memory, weights, shape)
    norm_sq, change_sq, changed = measure(memory, weights.copy(), shape)
    np.testing.assert_array_equal(change_sq, 0.0)
    assert not changed.any()
    assert (norm_sq > 0).all()


def test_one_changed_element_of_a_sketched_variable_is_seen_and_measured():
    shape = (300, 257)
    size = int(np.prod(shape))
    rng = np.random.default_rng(13)
    before = rng.normal(size=(1, size)).astype(np.float32)
    after = before.copy()
    after[0, 12345] += 0.5
    memory = memory_of(shape, ["one"])
    measure(memory, before, shape)
    _, change_sq, changed = measure(memory, after, shape)
    assert changed.all()
    np.testing.assert_allclose(np.sqrt(change_sq), 0.5, rtol=3 * SIGMA)
