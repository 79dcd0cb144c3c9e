"""Per-variable statistics in a few TensorFlow ops per model, and the bounded memory of weight changes.

Two things make monitoring cheap enough to run at every step:

`ShapeGroups`: a model has many small variables of a few shapes (100 Dense(64) layers have 200
variables of 2 shapes). Each TensorFlow op costs microseconds of dispatch whatever its size, so small
variables of one shape are stacked and processed together; large ones (over `GROUP_MAX_SIZE`) alone,
where stacking would cost a copy for nothing.

`WeightMemory` and `WeightSketch`: how far variables moved since the previous recorded step, without
keeping the previous weights (which would double the model's memory). What each group keeps
(`WeightSketch`) is laid end to end in one state vector (`WeightMemory`), read and written once per
record whatever the number of groups:

- variables of at most `EXACT_MAX_SIZE` elements keep an exact copy (at most 16 KiB each), so their
  change is exact;
- larger ones keep a count sketch with P = 1021 buckets (1019 when 1021 divides the last dimension).
  The flattened variable is cut into R = size // P chunks X_r of P elements (the last size mod P
  elements are copied exactly). Chunk r has a fixed random sign rho_r, as many +1 as -1 (one more +1
  when R is odd), and bucket b keeps two sums over the chunks: u_b = sum_r X_r[b] / sqrt(R) and
  s_b = sqrt(c) sum_r (rho_r - mean(rho)) X_r[b], with c = 1 / (1 + (R - sum(rho)^2) / (R (R - 1))).
  The sketch is linear, so sketch(W_t) - sketch(W_t-1) = sketch(dW), and ||u||^2 + ||s||^2 is an
  unbiased estimate of ||dW||^2: ||u||^2 is exactly R times the squared norm of the mean chunk, the
  part all chunks share (all of a constant update), and ||s||^2 estimates the rest, the centred chunks
  E_r, with c correcting for signs that sum to zero. Its error comes from chunks that are alike: the
  variance is about 2 sum_{r != s} <E_r, E_s>^2. When they are alike only by chance (dense random,
  rank-one with zero-mean factors, sparse rows of an embedding), the relative standard deviation of
  the squared norm is about sqrt(2 / P) = 4.4% (2.2% on the norm; up to sqrt(2) times that for a
  rank-one update of a kernel whose last dimension is below P); a constant update is exact.
  An update that repeats with a short period m along the flattened variable is harder, since chunks
  m apart see the same part of it. The case that matters is the gradient of a kernel whose last
  dimension m is below P, from a few examples with non-negative inputs (ReLU activations): with f
  the fraction of the update's squared norm in its mean row (2 / pi for one half-normal input), the
  relative standard deviation on the norm is about sqrt(2 / P + 2 f^2 / m) / 2, 6% at m = 64 and 15%
  at m = 10. Per-element signs would remove it, at the price of a second pass over the variable.
  tests/test_sketch.py checks these bounds on dense, rank-one, sparse-rows and constant updates.

A variable is "unchanged" when its sketch and exact part are identical, so a variable that did not
change is reported with a change of exactly zero. The converse holds to float32 precision: on a
sketched variable a change smaller than about 1e-7 of a bucket's sum (an update below ~1e-8 of the
weights' size, which the diagnosis calls frozen anyway) can read as zero, and so can an update that
cancels in both sums of every bucket (equal and opposite changes P elements apart, on chunks of the
same sign). A checksum of the raw bits would close that gap at the price of a second pass over every
large variable (measured: +0.5 ms a step on the reference model), more than the whole budget of the
ops.

State kept for a sketched variable: 2 P + (size mod P) + 2 (size // P) values (the chunks' two
coefficients included), 12 KiB plus 0.2% of the variable at most. The norm of the weights comes from
the same sketch (same error), which saves a pass.
"""

from __future__ import annotations

import zlib
from collections.abc import Sequence

import numpy as np
import tensorflow as tf

BUCKETS = 1021
BUCKETS_ALT = 1019
EXACT_MAX_SIZE = 4096
GROUP_MAX_SIZE = 65536
# float32 elements in 64 bytes: TensorFlow slices a 1-D tensor without a copy at multiples of it.
ALIGN = 16

# Reported as the change of a variable whose sketch changed by less than float32 squares resolve.
SMALLEST_CHANGE = float(np.finfo(np.float32).tiny)


class ShapeGroups:
    """A static plan that stacks small same-shaped tensors, so per-tensor work is a few ops per shape."""

    def __init__(self, shapes: Sequence[tf.TensorShape]):
        by_shape: dict[tuple, list[int]] = {}
        self.groups: list[list[int]] = []
        for i, shape in enumerate(shapes):
            if shape.num_elements() > GROUP_MAX_SIZE:
                self.groups.append([i])
            else:
                by_shape.setdefault(tuple(shape.as_list()), []).append(i)
        self.groups.extend(by_shape.values())
        order = [i for group in self.groups for i in group]
        # numpy: a graph constant where used, not an input of every call of the tf.function.
        self._inverse = np.argsort(order).astype(np.int32)

    def stacked(self, tensors: Sequence[tf.Tensor]) -> list[tf.Tensor]:
        """Each group's tensors as one float32 [members, elements] tensor."""
        out = []
        for group in self.groups:
            members = [tf.cast(tensors[i], tf.float32) for i in group]
            stack = members[0] if len(members) == 1 else tf.stack(members)
            out.append(tf.reshape(stack, [len(group), -1]))
        return out

    def per_item(self, per_group: Sequence[tf.Tensor]) -> tf.Tensor:
        """Concatenate per-group results ([members] each) back into the original order."""
        if not per_group:
            return tf.zeros([0])
        return tf.gather(tf.concat(per_group, axis=0), self._inverse)


class WeightSketch:
    """How one group of same-shaped variables is kept between recorded steps (module docstring)."""

    def __init__(self, members: int, size: int, last_dim: int, names: Sequence[str]):
        self.members = members
        self.exact = size <= EXACT_MAX_SIZE
        self.buckets = BUCKETS if last_dim % BUCKETS else BUCKETS_ALT
        rows = 0 if self.exact else size // self.buckets
        self.main_size = rows * self.buckets
        coefficients = np.stack([_chunk_coefficients(rows, name) for name in names])
        with tf.init_scope():
            self.coefficients = tf.constant(coefficients.astype(np.float32))
        # Values kept per member: the sketch (2 P) and the tail, or the whole variable.
        self.kept_size = size if self.exact else 2 * self.buckets + size - self.main_size

    def kept(self, flat: tf.Tensor) -> tf.Tensor:
        """What is kept of the group as float32 [members, size]: [members, kept_size]."""
        if self.exact:
            return flat
        sketch, tail = self._sketch_and_tail(flat)
        return tf.concat([sketch, tail], axis=1) if tail.shape[1] else sketch

    def _sketch_and_tail(self, flat: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """The sketch [members, 2 P] of the chunks and the exactly kept tail [members, size mod P].

        Slicing a large variable would copy it (a pass), except a 1-D slice whose ends are
        multiples of `ALIGN` elements, which shares its buffer. So a lone variable's chunks are
        taken in two parts: up to the last chunk boundary that is a multiple of `ALIGN` (most of
        it, not copied), and the at most `ALIGN - 1` chunks after it (copied).
        """
        members = flat.shape[0]
        if members > 1:  # stacked small variables: a copy of little
            main = tf.reshape(flat[:, : self.main_size], [members, -1, self.buckets])
            sketch = tf.reshape(tf.matmul(self.coefficients, main), [members, 2 * self.buckets])
            return sketch, flat[:, self.main_size :]
        flat = tf.reshape(flat, [-1])
        rows = self.main_size // self.buckets
        split = rows - rows % ALIGN  # the buckets are odd: split * buckets is a multiple of ALIGN
        parts = [
            tf.matmul(
                self.coefficients[0, :, start:end],
                tf.reshape(flat[start * self.buckets : end * self.buckets], [-1, self.buckets]),
            )
            for start, end in [(0, split), (split, rows)]
            if end > start
        ]
        return tf.reshape(tf.add_n(parts), [1, -1]), flat[None, self.main_size :]


class WeightMemory:
    """What a list of variables kept at the previous recorded call, and how far they moved since.

    Every group's sketch and exact values live in one state vector, read and written once per
    record: each TensorFlow op costs microseconds to run, and state kept per group cost a read, a
    write and concatenations for every group.
    """

    def __init__(self, shapes: Sequence[tf.TensorShape], names: Sequence[str]):
        self.groups = ShapeGroups(shapes)
        self.sketches = []
        for group in self.groups.groups:
            shape = tf.TensorShape(shapes[group[0]])
            last_dim = int(shape[-1]) if shape.rank else 1
            members = [names[i] for i in group]
            self.sketches.append(
                WeightSketch(len(group), int(shape.num_elements()), last_dim, members)
            )
        sizes = [sketch.members * sketch.kept_size for sketch in self.sketches]
        with tf.init_scope():
            self.previous = tf.Variable(tf.zeros([sum(sizes)]), trainable=False)
        self._sizes = sizes
        coefficients = sum(s.coefficients.shape.num_elements() for s in self.sketches)
        self.state_bytes = 4 * (coefficients + sum(sizes))

    def measure(self, tensors: Sequence[tf.Tensor]) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Per variable, in the order of `tensors`: (norm^2, change^2, changed).

        The squares are exact for small variables and estimated otherwise (see the module docstring
        for what `changed` guarantees). The state is updated to `tensors`.
        """
        stacked = self.groups.stacked(tensors)
        kept = [sketch.kept(x) for sketch, x in zip(self.sketches, stacked)]
        if not kept:
            return tf.zeros([0]), tf.zeros([0]), tf.zeros([0], tf.bool)
        before = tf.split(tf.convert_to_tensor(self.previous), self._sizes)
        norm, change, changed = [], [], []
        for now, was in zip(kept, before):
            was = tf.reshape(was, now.shape)
            # Each norm is one fused pass (no squares written out).
            norm.append(tf.math.reduce_euclidean_norm(now, axis=1))
            change.append(tf.math.reduce_euclidean_norm(now - was, axis=1))
            changed.append(_differs(now, was, change[-1]))
        # The read above comes before this write: eagerly by order, in tf.function by the automatic
        # control dependencies between ops on the same variable.
        self.previous.assign(tf.concat([tf.reshape(now, [-1]) for now in kept], axis=0))
        norm, change, changed = (self.groups.per_item(x) for x in (norm, change, changed))
        return tf.square(norm), tf.square(change), changed


def _differs(kept: tf.Tensor, before: tf.Tensor, change: tf.Tensor) -> tf.Tensor:
    """Per row of [members, values], whether any value differs from `before`.

    A change norm above zero means one does. Zero or NaN can hide one (squares that underflow,
    inf - inf), and then the values are compared; on many values only then, to save that pass
    while everything moves.
    """
    if kept.shape.num_elements() <= GROUP_MAX_SIZE:
        return tf.reduce_any(kept != before, axis=1)
    return tf.cond(
        tf.reduce_all(change > 0),
        lambda: tf.ones_like(change, tf.bool),
        lambda: tf.reduce_any(kept != before, axis=1),
    )


def _chunk_coefficients(rows: int, name: str) -> np.ndarray:
    """[2, rows]: the weights of the chunks in the signed sum s and the mean sum u (module docstring).

    The signs are balanced, and fixed per variable name so that a run's numbers are reproducible.
    """
    if not rows:
        return np.zeros([2, 0])
    rng = np.random.default_rng(zlib.crc32(name.encode("utf-8")))
    signs = rng.permutation(np.resize([1.0, -1.0], rows))
    total = signs.sum()
    c = 1.0 / (1.0 + (rows - total**2) / (rows * max(rows - 1, 1)))
    return np.stack([np.sqrt(c) * (signs - total / rows), np.full(rows, 1.0 / np.sqrt(rows))])
