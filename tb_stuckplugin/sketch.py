"""Per-variable statistics in a few TensorFlow ops per model, and the bounded memory of weight changes.

Two things make monitoring cheap enough to run at every step:

`ShapeGroups`: a model has many small variables of a few shapes (100 Dense(64) layers have 200
variables of 2 shapes). Each TensorFlow op costs microseconds of dispatch whatever its size, so small
variables of one shape are stacked and processed together; large ones (over `GROUP_MAX_SIZE`) alone,
where stacking would cost a copy for nothing.

`WeightSketch`: how far a group of variables moved since the previous recorded step, without keeping
the previous weights (which would double the model's memory):

- variables of at most `EXACT_MAX_SIZE` elements keep an exact copy (at most 16 KiB each), so their
  change is exact;
- larger ones keep a count sketch with P = 1021 buckets (1019 when 1021 divides the last dimension).
  Element i of the flattened variable goes to bucket (i mod P) with sign rho[i div P], where rho is a
  fixed random +-1 vector of length size // P; the last (size mod P) elements are copied exactly. The
  sketch is linear, so sketch(W_t) - sketch(W_t-1) = sketch(dW), and ||sketch(dW)||^2 is an unbiased
  estimate of ||dW||^2 (E[rho_r rho_s] = 0 for r != s). Within a bucket the signs are independent, so
  the relative standard deviation of the squared-norm estimate is about sqrt(2 / P) = 4.4% (2.2% on the
  norm) when the buckets are uncorrelated; P is prime and does not divide the last dimension, so a
  kernel's rows and columns spread over the buckets, rank-one updates included.
  tests/test_sketch.py checks the bound on dense, rank-one, sparse and constant updates.

A variable is "unchanged" when its sketch and exact part are identical, so a variable that did not
change is reported with a change of exactly zero. The converse holds to float32 precision: on a
sketched variable a change smaller than about 1e-7 of a bucket's sum (an update below ~1e-8 of the
weights' size, which the diagnosis calls frozen anyway) can read as zero. A checksum of the raw bits
would close that gap at the price of a second pass over every large variable (measured: +0.5 ms a
step on the reference model), more than the whole budget of the ops.

State kept for a sketched variable: P + (size mod P) + size // P values, under 0.1% of the variable
beyond 8 KiB. The norm of the weights comes from the same sketch (same error), which saves a pass.
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
        self._inverse = tf.constant(np.argsort(order), tf.int32) if order else None

    def stacked(self, tensors: Sequence[tf.Tensor]) -> list[tf.Tensor]:
        """Each group's tensors as one float32 [members, elements] tensor."""
        out = []
        for group in self.groups:
            members = [tf.cast(tensors[i], tf.float32) for i in group]
            stack = members[0][None] if len(members) == 1 else tf.stack(members)
            out.append(tf.reshape(stack, [len(group), -1]))
        return out

    def per_item(self, per_group: Sequence[tf.Tensor]) -> tf.Tensor:
        """Concatenate per-group results ([members] each) back into the original order."""
        if self._inverse is None:
            return tf.zeros([0])
        return tf.gather(tf.concat(per_group, axis=0), self._inverse)


class WeightSketch:
    """What one group of same-shaped variables keeps between recorded steps (see module docstring)."""

    def __init__(self, members: int, size: int, last_dim: int, names: Sequence[str]):
        self.exact = size <= EXACT_MAX_SIZE
        self.buckets = BUCKETS if last_dim % BUCKETS else BUCKETS_ALT
        rows = 0 if self.exact else size // self.buckets
        self.main_size = rows * self.buckets
        signs = np.stack(
            [
                np.random.default_rng(zlib.crc32(name.encode("utf-8"))).choice([-1.0, 1.0], rows)
                for name in names
            ]
        ).astype(np.float32)
        with tf.init_scope():
            self.signs = tf.constant(signs.reshape(members, rows))
            tail = size - self.main_size
            self.previous_tail = tf.Variable(tf.zeros([members, tail]), trainable=False)
            self.previous = tf.Variable(
                tf.zeros([members, self.buckets if rows else 0]), trainable=False
            )
        self.state_bytes = 4 * members * (rows + self.previous.shape[1] + tail)

    def measure(self, flat: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Given the group as float32 [members, size], return per member (norm^2, change^2, changed).

        The squares are exact for small variables and estimated otherwise (see the module
        docstring for what `changed` guarantees). The state is updated to `flat`.
        """
        tail = flat[:, self.main_size :]
        norm_sq = tf.reduce_sum(tf.square(tail), axis=1)
        change_sq = tf.reduce_sum(tf.square(tail - self.previous_tail), axis=1)
        changed = tf.reduce_any(tail != self.previous_tail, axis=1)
        if self.main_size:
            members = flat.shape[0]
            main = tf.reshape(flat[:, : self.main_size], [members, -1, self.buckets])
            sketch = tf.reshape(tf.matmul(self.signs[:, None, :], main), [members, self.buckets])
            norm_sq += tf.reduce_sum(tf.square(sketch), axis=1)
            change_sq += tf.reduce_sum(tf.square(sketch - self.previous), axis=1)
            changed |= tf.reduce_any(sketch != self.previous, axis=1)
            self.previous.assign(sketch)
        # The reads above come before this write: eagerly by order, in tf.function by the automatic
        # control dependencies between ops on the same variable.
        self.previous_tail.assign(tail)
        return norm_sq, change_sq, changed
