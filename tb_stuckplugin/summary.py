"""Summary ops that log the signals which tell whether training is stuck, like `tf.summary.*`.

    import tb_stuckplugin as stuckplugin

    with tape: loss = ...
    grads = tape.gradient(loss, model.trainable_variables)
    optimizer.apply_gradients(zip(grads, model.trainable_variables))
    stuckplugin.summary.gradient_norms(grads, model.trainable_variables, step=step)
    stuckplugin.summary.weight_deltas(model.trainable_variables, step=step)
    stuckplugin.summary.output_spread(predictions, step=step, inputs=x)

Each op writes to the default writer at the default step, returns a bool tensor (False when nothing
was written), follows `tf.summary.record_if`, works eagerly and inside `tf.function`, and does no work
on steps that are not recorded. Bad values (None gradients, NaN, Inf, float16, empty variables) are
recorded as findings; misuse (mismatched lists, non-tensors) raises an error naming the argument.

The ops keep a little state between recorded calls (the step each condition began, and a sketch of
each variable for `weight_deltas`), keyed by op, tag and variables. What is written is described in
`tb_stuckplugin.metadata`.
"""

from __future__ import annotations

import math
import weakref
from collections.abc import Sequence
from typing import Any

import numpy as np
import tensorflow as tf
from tensorflow.python.ops import cond_v2, resource_variable_ops, summary_ops_v2

from tb_stuckplugin import metadata, record_format
from tb_stuckplugin.diagnosis import thresholds
from tb_stuckplugin.sketch import EXACT_MAX_SIZE, SMALLEST_CHANGE, ShapeGroups, WeightMemory

__all__ = ["gradient_norms", "weight_deltas", "output_spread"]

_NAN = float("nan")

# AutoGraph would convert these ops (and all they call) in every user's `tf.function`, which made
# tracing a train step several times slower; they hold no data-dependent Python control flow.
_not_converted = tf.autograph.experimental.do_not_convert


@_not_converted
def gradient_norms(
    gradients: Sequence[Any],
    variables: Sequence[Any],
    step: Any = None,
    name: str = "gradients",
) -> tf.Tensor:
    """Write each variable's gradient L2 norm, the global norm, None and non-finite gradients.

    Args:
      gradients: the gradients as returned by `tape.gradient`, in the order of `variables`; None
        entries (the variable is not connected to the loss) and `tf.IndexedSlices` are accepted.
      variables: the variables the gradients belong to (`tf.Variable` or `keras.Variable`).
      step: the step to record at; defaults to `tf.summary.experimental.get_step()`.
      name: the summary name; the tag is prefixed by enclosing name scopes.

    Returns:
      A bool scalar tensor, True if the summary was written.
    """
    variables = _check_variables("variables", variables)
    gradients = _check_gradients("gradients", gradients, len(variables))
    _check_gradient_shapes("gradients", gradients, variables)
    gradients = _combine_replicas(gradients, "sum")
    shapes = [tf.TensorShape(v.shape) for v in variables]
    # The gradients are read apart from the op's state and writes: see `_when_recording`.
    stats = _when_recording(
        lambda: _gradient_stats(gradients, shapes), lambda: tf.zeros([3, len(gradients)])
    )
    none = [g is None for g in gradients]
    return _write(
        record_format.GRADIENTS,
        name,
        step,
        variables,
        _GradientState,
        lambda st, *a: st.record(stats, none, *a),
    )


@_not_converted
def weight_deltas(variables: Sequence[Any], step: Any = None, name: str = "weights") -> tf.Tensor:
    """Write how far each variable moved since the previous recorded call, and its norm.

    Call it after the optimizer step. An unchanged variable is reported with a change of exactly
    zero. The change of large variables is estimated from a sketch (see `tb_stuckplugin.sketch`), so
    memory stays under 1% of the model's; the first recorded call has no previous point (NaN).

    Args:
      variables: the variables to watch (`tf.Variable` or `keras.Variable`).
      step: the step to record at; defaults to `tf.summary.experimental.get_step()`.
      name: the summary name.

    Returns:
      A bool scalar tensor, True if the summary was written.
    """
    variables = _check_variables("variables", variables)
    return _write(
        record_format.WEIGHTS, name, step, variables, _WeightState, lambda st, *a: st.record(*a)
    )


@_not_converted
def output_spread(
    outputs: Any, step: Any = None, inputs: Any = None, name: str = "outputs", labels: Any = None
) -> tf.Tensor:
    """Write how much the model's outputs (and, if given, its inputs and labels) vary across the batch.

    The spread of each output unit is its standard deviation over the batch (units: all axes but the
    first); the record holds the mean and largest spread, the mean RMS (for scale), and the fraction
    of units that are exactly constant. With `inputs`, the same for the inputs, so that "inputs vary,
    outputs do not" is told apart from "the batch is one repeated example". With `labels` (targets
    with as many units as the outputs: regression targets, one-hot or 0/1 labels), the same for
    them, so that outputs that collapsed to about one value (the mean, the majority class) are
    told apart from outputs that vary as little as the labels do.

    Args:
      outputs: the model's outputs for a batch, a tensor whose first axis is the batch.
      step: the step to record at; defaults to `tf.summary.experimental.get_step()`.
      inputs: optional; the inputs of the same batch, a tensor or a nest (dict, list) of tensors.
      name: the summary name.
      labels: optional; the labels (targets) of the same batch, a tensor or a nest of tensors.

    Returns:
      A bool scalar tensor, True if the summary was written.
    """
    outputs = _check_batch("outputs", outputs)
    inputs = _check_nest("inputs", inputs)
    labels = _check_nest("labels", labels)
    given = [outputs, *inputs, *labels]
    outputs, *rest = _combine_replicas(given, "gather")
    inputs, labels = rest[: len(inputs)] or None, rest[len(inputs) :] or None
    return _write(
        record_format.OUTPUTS,
        name,
        step,
        (),
        _OutputState,
        lambda st, *a: st.record(outputs, inputs, labels, *a),
    )


# --- Argument checks (at set-up: they raise, naming the argument) ------------------------------


def _check_variables(arg: str, variables: Any) -> list:
    if isinstance(variables, (str, bytes)) or not isinstance(variables, Sequence):
        if isinstance(variables, (tf.Variable, tf.Tensor)) or hasattr(variables, "assign"):
            raise TypeError(
                f"{arg} must be a list of variables, got a single {type(variables).__name__}"
            )
        raise TypeError(f"{arg} must be a list of variables, got {type(variables).__name__}")
    for i, v in enumerate(variables):
        if not (isinstance(v, tf.Variable) or _is_keras_variable(v)):
            raise TypeError(
                f"{arg}[{i}] must be a tf.Variable or keras.Variable, got {type(v).__name__}"
            )
        if v.shape.num_elements() is None:
            raise ValueError(f"{arg}[{i}] ({_variable_name(v)}) has an unknown shape {v.shape}")
    return list(variables)


def _check_gradients(arg: str, gradients: Any, expected: int) -> list:
    if isinstance(gradients, (str, bytes)) or not isinstance(gradients, Sequence):
        raise TypeError(f"{arg} must be a list of gradients, got {type(gradients).__name__}")
    if len(gradients) != expected:
        raise ValueError(
            f"{arg} has {len(gradients)} entries but variables has {expected}: pass them in the same order"
        )
    checked = []
    for i, g in enumerate(gradients):
        if g is None or isinstance(g, tf.IndexedSlices):
            checked.append(g)
        elif tf.is_tensor(g) and not isinstance(g, tf.RaggedTensor):
            checked.append(tf.convert_to_tensor(g))
        else:
            raise TypeError(
                f"{arg}[{i}] must be a tensor, tf.IndexedSlices or None, got {type(g).__name__}"
            )
    return checked


def _check_gradient_shapes(arg: str, gradients: list, variables: list) -> None:
    """Raise if a gradient cannot belong to its variable (static shapes), e.g. lists out of order."""
    for i, (g, v) in enumerate(zip(gradients, variables)):
        if g is None:
            continue
        wanted = tf.TensorShape(v.shape)
        if isinstance(g, tf.IndexedSlices):
            shape, wanted = g.values.shape[1:], wanted[1:]
        else:
            shape = g.shape
        if not shape.is_compatible_with(wanted):
            raise ValueError(
                f"{arg}[{i}] has shape {g.shape} but variables[{i}] ({_variable_name(v)}) has shape "
                f"{v.shape}: pass them in the same order"
            )


def _check_batch(arg: str, x: Any) -> tf.Tensor:
    if isinstance(x, (tf.RaggedTensor, tf.SparseTensor)):
        raise TypeError(f"{arg} must be a dense tensor, got {type(x).__name__}")
    if not tf.is_tensor(x):
        try:
            x = tf.convert_to_tensor(x)
        except (TypeError, ValueError):
            raise TypeError(f"{arg} must be a tensor, got {type(x).__name__}") from None
    x = tf.convert_to_tensor(x)
    if not (x.dtype.is_floating or x.dtype.is_integer or x.dtype == tf.bool):
        raise TypeError(f"{arg} must be numeric, got {x.dtype.name}")
    if x.shape.rank == 0:
        raise ValueError(f"{arg} must have a batch axis first, got a scalar")
    return x


def _check_nest(arg: str, nest: Any) -> list[tf.Tensor]:
    """The tensors of an optional nest of batches (empty for None), checked like `_check_batch`."""
    if nest is None:
        return []
    tensors = [_check_batch(arg, x) for x in tf.nest.flatten(nest)]
    if not tensors:
        raise ValueError(f"{arg} is an empty nest: pass None or at least one tensor")
    _check_same_batch(arg, tensors)
    return tensors


def _check_same_batch(arg: str, tensors: list[tf.Tensor]) -> None:
    """Raise if the entries of a nest have batch sizes (first axis, where known) that differ."""
    known = sorted({int(x.shape[0]) for x in tensors if x.shape[0] is not None})
    if len(known) > 1:
        raise ValueError(f"{arg} must all have the same batch size, got batch sizes {known}")


def _is_keras_variable(v: Any) -> bool:
    return hasattr(v, "path") and hasattr(v, "assign") and tf.is_tensor(v)


def _variable_name(v: Any) -> str:
    name = getattr(v, "path", None) or v.name
    return name[:-2] if name.endswith(":0") else name


# --- Writing ------------------------------------------------------------------------------------


def _write(
    op: str, name: str, step: Any, variables: Sequence[Any], make_state, record
) -> tf.Tensor:
    """Write the op's tags; `record(state, step)` runs only when recording.

    `record` returns (values [rows, fields], holds [rows, conditions]); the streaks are folded in
    here, and the since and layout tags written when they change and on the first record.
    """
    if not isinstance(name, str) or not name:
        raise TypeError(f"name must be a non-empty str, got {name!r}")
    with tf.summary.experimental.summary_scope(name, op) as (tag, _):
        state = _state_for(op, tag, variables, make_state)

        def values():
            record_step = step if step is not None else tf.summary.experimental.get_step()
            if record_step is None:
                raise ValueError(
                    "step is None and no default step is set: pass step= or call "
                    "tf.summary.experimental.set_step()"
                )
            step64 = tf.cast(record_step, tf.int64)
            step_f = tf.cast(step64, tf.float64)
            records, first, previous = state.count(step_f)
            result, holds = record(state, step_f, records, first)
            since, changed = state.streaks.update(holds, state.streak_starts(step_f, previous))
            with tf.summary.record_if(first | changed):
                tf.summary.write(  # callables: computed only when written
                    tag + record_format.ROLE_SUFFIX[record_format.SINCE],
                    lambda: state.since_record(since),
                    step=step64,
                    metadata=metadata.create_summary_metadata(op, record_format.SINCE),
                )
            with tf.summary.record_if(first):
                tf.summary.write(
                    tag + record_format.ROLE_SUFFIX[record_format.LAYOUT],
                    lambda: tf.constant(state.layout),
                    step=step64,
                    metadata=metadata.create_summary_metadata(op, record_format.LAYOUT),
                )
            return result

        return _when_recording(
            lambda: tf.summary.write(
                tag,
                values,
                step=step,
                metadata=metadata.create_summary_metadata(op, record_format.VALUES),
            ),
            lambda: tf.constant(False),
        )


def _when_recording(record, otherwise) -> Any:
    """`record()` on recorded steps, `otherwise()` (the same structure of tensors) on the others.

    Two things make this cheaper than the `tf.cond` of `tf.summary.write` inside a `tf.function`:

    - That `tf.cond` is lowered into switches: on a step not recorded, every tensor its branch
      captures (each gradient and variable) and every op in it still cost the executor about a
      microsecond. This is a Case op that is not lowered (TensorFlow has no public way to ask for
      one): it calls one of two functions, about 20 microseconds however large the branch.
    - An op with side effects (writes, state updates) is ordered after the optimizer's updates by
      the automatic control dependencies; one that takes the gradients holds them until then. So
      `gradient_norms` reads them in a `record` without side effects, a Case of its own that runs
      once the gradients are ready, and passes only its small results on to the part that writes.
      (That measured 1.2 to 1.6 ms faster a step when it was made; a later test found that holding
      every gradient to the end of the step costs nothing measurable, so the difference was
      probably the effect of any graph change that docs/benchmarks.md describes.)
    """
    recording = tf.summary.should_record_summaries()
    static = tf.get_static_value(recording)
    if static is not None:
        return record() if static else otherwise()

    def recorded():
        with tf.summary.record_if(True):
            return record()

    return cond_v2.indexed_case(
        tf.cast(recording, tf.int32), [otherwise, recorded], lower_using_switch_merge=False
    )


# --- State kept between calls ------------------------------------------------------------------

_STATES: dict[tuple, _OpState] = {}


def _state_for(op: str, tag: str, variables: Sequence[Any], make) -> _OpState:
    """The state of one call site (op, tag, variables, default writer), created outside any graph.

    Each writer has its own state, so that two runs (or train and eval writers) never share a
    "previous record". A state is dropped when its writer or one of its variables is garbage
    collected, so models built in a loop do not accumulate state.
    """
    writer = _default_writer()
    key = (op, tag, id(writer), tuple(id(v) for v in variables))
    state = _STATES.get(key)
    if state is None or not state.owns(writer, variables):
        with tf.init_scope(), tf.variable_creator_scope(_replica_local_variable):
            state = make(variables)
        state.writer = weakref.ref(writer) if writer is not None else None
        _STATES[key] = state
        for owner in [writer, *variables]:
            if owner is not None:
                weakref.finalize(owner, _STATES.pop, key, None)
    return state


def _default_writer() -> Any:
    """The default summary writer, or None. TensorFlow has no public accessor for it."""
    return summary_ops_v2._summary_state.writer


# --- Distribution strategies (strategy.run with several replicas) ------------------------------


def _combine_replicas(tensors: list, reduction: str) -> list:
    """Inside `strategy.run` with several replicas: the values one device would see on the global batch.

    tf.summary records on replica 0 only, but each replica holds its part of the batch: gradients are
    summed (`reduction="sum"`; with the loss scaled by the global batch size, as Keras and
    `tf.nn.compute_average_loss` do, the sum is the single-device gradient; the sum of
    `tf.IndexedSlices` is their concatenation) and batches concatenated (`"gather"`). Collectives
    must run on every replica or on none, and MirroredStrategy forbids them under a `tf.cond` inside
    a replica, so the replicas meet in a `merge_call` and exchange there only when the
    `tf.summary.record_if` condition holds: nothing is exchanged on the other steps. The condition
    must therefore be the same on every replica and worker; whether a worker has a writer does not
    matter (a worker without one still takes part). None entries pass through. Outside a
    multi-replica context `tensors` come back unchanged.
    """
    context = tf.distribute.get_replica_context()
    if context is None or context.num_replicas_in_sync == 1:
        return tensors
    condition = summary_ops_v2._summary_state.is_recording
    condition = condition() if callable(condition) else condition
    recording = tf.cast(True if condition is None else condition, tf.bool)
    # (tensor, how) for each part to exchange; a tf.IndexedSlices is two parts, values and indices.
    parts = []
    for t in tensors:
        if isinstance(t, tf.IndexedSlices):
            parts += [(t.values, "gather"), (t.indices, "gather")]
        elif t is not None:
            parts.append((tf.convert_to_tensor(t), reduction))

    def merge(strategy, recording, values):
        def combined():
            return [
                strategy.reduce(tf.distribute.ReduceOp.SUM, v, axis=None)
                if how == "sum"
                else strategy.gather(v, axis=0)
                for v, (_, how) in zip(values, parts)
            ]

        def local():
            return [strategy.experimental_local_results(v)[0] for v in values]

        return tf.cond(strategy.experimental_local_results(recording)[0], combined, local)

    values = [t for t, _ in parts]
    exchanged = iter(context.merge_call(merge, args=(recording, values)) if values else [])
    result = []
    for t in tensors:
        if isinstance(t, tf.IndexedSlices):
            result.append(tf.IndexedSlices(next(exchanged), next(exchanged), t.dense_shape))
        else:
            result.append(None if t is None else next(exchanged))
    return result


def _replica_local_variable(next_creator, **kwargs):
    """Variable creator for the ops' state: a plain variable, even under a distribution strategy.

    The state is the recording replica's own. A strategy's variable would synchronise: updating a
    MirroredVariable waits for every replica, and MultiWorkerMirroredStrategy broadcasts each new
    variable's initial value from the chief, a collective that fails as soon as workers create
    different states (a worker without a writer keeps other state than the chief). So the
    strategy's creator (and any other) is skipped; TensorFlow has no public way to do that.
    """
    del next_creator
    return resource_variable_ops.ResourceVariable(**kwargs)


class _Streaks:
    """For each row and condition, the step at which the condition's current streak began (or NaN)."""

    def __init__(self, rows: int, conditions: int):
        nan = tf.constant(_NAN, tf.float64)
        self.since = tf.Variable(tf.fill([rows, conditions], nan), trainable=False)

    def update(self, holds: tf.Tensor, starts: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        """Fold this record's conditions (bool [rows, conditions]) in; return (since, changed).

        A streak that begins now is dated `starts` ([conditions]): the current step, or the previous
        record's step for conditions about the change since then.
        """
        was = ~tf.math.is_nan(self.since)
        begun = tf.broadcast_to(starts, tf.shape(self.since))
        since = tf.where(holds, tf.where(was, self.since, begun), tf.constant(_NAN, tf.float64))
        self.since.assign(since)
        return since, tf.reduce_any(holds != was)


class _OpState:
    """What one summary call site keeps: streaks, a record counter, the first step, row names.

    `SINCE_PREVIOUS` marks the conditions that compare a record with the previous one (no change
    since then): their streak is dated from the previous record's step, when the state last differed.
    """

    SINCE_PREVIOUS: tuple[bool, ...] = ()

    def __init__(
        self, variables: Sequence[Any], layout: list[list[str]], sizes: list[float], conditions: int
    ):
        self._variables = [weakref.ref(v) for v in variables]
        self.writer: weakref.ref | None = None
        self.layout = layout
        # Constants are numpy, made graph constants where used: a tensor made here would be an input
        # of every call of the caller's tf.function, recorded or not (~1.5 us each).
        self.sizes = np.array(sizes, np.float64)
        self.streaks = _Streaks(len(layout), conditions)
        self.records = tf.Variable(tf.constant(0, tf.int64), trainable=False)
        self.first_step = tf.Variable(tf.constant(_NAN, tf.float64), trainable=False)
        self.previous_step = tf.Variable(tf.constant(_NAN, tf.float64), trainable=False)

    def owns(self, writer: Any, variables: Sequence[Any]) -> bool:
        """Whether this state belongs to `writer` and `variables` (ids can be reused after GC)."""
        own_writer = self.writer() if self.writer is not None else None
        return (
            own_writer is writer
            and len(variables) == len(self._variables)
            and all(ref() is v for ref, v in zip(self._variables, variables))
        )

    def count(self, step: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor, tf.Tensor]:
        """Count this record; return (records so far, whether it is the first, previous step)."""
        first = tf.equal(self.records, 0)
        previous = tf.identity(self.previous_step)
        self.records.assign_add(1)
        self.first_step.assign(tf.where(first, step, self.first_step))
        self.previous_step.assign(step)
        return tf.cast(self.records, tf.float32), first, previous

    def streak_starts(self, step: tf.Tensor, previous: tf.Tensor) -> tf.Tensor:
        """[conditions] float64: the step a streak that begins at this record is dated from."""
        flags = tf.constant(self.SINCE_PREVIOUS, tf.bool)
        return tf.where(flags, previous, step)

    def since_record(self, since: tf.Tensor) -> tf.Tensor:
        """The since tag's tensor: condition streaks, then each row's size and the first step."""
        rows = len(self.layout)
        sizes = tf.constant(self.sizes[:, None])
        return tf.concat([since, sizes, tf.fill([rows, 1], self.first_step)], axis=1)


def _variables_layout(variables: Sequence[Any]) -> list[list[str]]:
    """Layout rows [name, shape, dtype, trainable] for the model row and each variable."""
    rows = [[record_format.MODEL_ROW, "", "", ""]]
    for v in variables:
        shape = "x".join(str(d) for d in v.shape) or "scalar"
        trainable = "1" if getattr(v, "trainable", True) else "0"
        rows.append([_variable_name(v), shape, tf.as_dtype(v.dtype).name, trainable])
    return rows


def _rows(columns: list[tf.Tensor]) -> tf.Tensor:
    """Stack per-row columns (each [rows]) into a float32 [rows, columns] tensor."""
    return tf.stack([tf.cast(c, tf.float32) for c in columns], axis=1)


def _with_total(per_var: tf.Tensor) -> tf.Tensor:
    """Prepend the model row (the sum over variables) to a per-variable vector."""
    return tf.concat([[tf.reduce_sum(per_var)], per_var], axis=0)


def _scatter(count: int, parts: list, fill: float = 0.0) -> tf.Tensor:
    """A float32 [count] vector with `parts`, (indices, values) pairs, placed and `fill` elsewhere."""
    parts = [(indices, values) for indices, values in parts if indices]
    base = tf.fill([count], tf.constant(fill, tf.float32))
    if not parts:
        return base
    indices = tf.constant([[i] for idx, _ in parts for i in idx], tf.int32)
    values = tf.concat([tf.cast(vals, tf.float32) for _, vals in parts], axis=0)
    return tf.tensor_scatter_nd_update(base, indices, values)


class _GradientState(_OpState):
    """State and record of `gradient_norms`."""

    SINCE_PREVIOUS = (False,) * 7

    def __init__(self, variables: Sequence[Any]):
        self.var_sizes = [int(v.shape.num_elements()) for v in variables]
        # Rows of the kernels (rank 2 or more), first to last, for the condition "through depth".
        self.kernel_rows = [1 + i for i, v in enumerate(variables) if v.shape.rank >= 2]
        self.units = np.array([v.shape[-1] if v.shape.rank else 1 for v in variables], np.float32)
        sizes = [float(sum(self.var_sizes))] + [float(n) for n in self.var_sizes]
        super().__init__(variables, _variables_layout(variables), sizes, 7)

    def record(
        self,
        stats: tf.Tensor,
        none: list[bool],
        step: tf.Tensor,
        records: tf.Tensor,
        first: tf.Tensor,
    ):
        per_var_sq, zero_units, nonfinite = tf.unstack(stats)
        norms = tf.sqrt(_with_total(per_var_sq))
        nonfinite = _with_total(nonfinite)
        model_zero = _model_zero_fraction(zero_units, tf.constant(self.units))
        zero_units = tf.concat([[model_zero], zero_units], axis=0)

        given = [i for i, is_none in enumerate(none) if not is_none]
        missing = tf.constant([not given, *none])
        present_size = float(sum(self.var_sizes[i] for i in given))
        row_sizes = tf.constant([present_size] + [float(n) for n in self.var_sizes])
        rms = norms / tf.sqrt(tf.maximum(row_sizes, 1.0))
        usable = ~missing & (row_sizes > 0)
        holds = tf.stack(
            [
                missing,
                (nonfinite > 0) | (usable & ~tf.math.is_finite(norms)),
                usable & tf.equal(norms, 0.0),
                usable & (rms < thresholds.LEVEL_VANISHING_GRAD_RMS),
                usable & (rms > thresholds.LEVEL_EXPLODING_GRAD_RMS),
                zero_units >= thresholds.LEVEL_DEAD_UNIT_FRACTION,
                self._through_depth(rms),
            ],
            axis=1,
        )
        values = _rows(
            [
                tf.where(missing, _NAN, norms),
                missing,
                nonfinite,
                zero_units,
                tf.fill(tf.shape(norms), records),
            ]
        )
        return values, holds

    def _through_depth(self, rms: tf.Tensor) -> tf.Tensor:
        """[rows] bool: on the model row, whether gradients vanish through depth (else False).

        The first kernel's gradient RMS is under DEPTH_GRADIENT_RATIO times the last kernel's, and
        between the vanishing level and DEPTH_FIRST_LAYER_RMS; with at least three kernels.
        """
        rows = rms.shape[0]
        if len(self.kernel_rows) < 3:
            return tf.zeros([rows], tf.bool)
        first, last = rms[self.kernel_rows[0]], rms[self.kernel_rows[-1]]
        holds = (
            (last > 0)
            & tf.math.is_finite(last)
            & (first < thresholds.DEPTH_GRADIENT_RATIO * last)
            & (first >= thresholds.LEVEL_VANISHING_GRAD_RMS)
            & (first < thresholds.DEPTH_FIRST_LAYER_RMS)
        )
        return tf.concat([holds[None], tf.zeros([rows - 1], tf.bool)], axis=0)


def _gradient_stats(gradients: list, shapes: list[tf.TensorShape]) -> tf.Tensor:
    """[3, gradients] float32: each gradient's squared norm, zero fraction and NaN/Inf count.

    None gradients read 0, NaN, 0. Reads the gradients only (no state): see `_when_recording`.
    """
    count = len(gradients)
    # Plain gradients go through shape groups (a few ops per shape); sparse ones one by one.
    # (tf.is_tensor is True for tf.IndexedSlices too.)
    sparse = [i for i, g in enumerate(gradients) if isinstance(g, tf.IndexedSlices)]
    plain = [i for i, g in enumerate(gradients) if g is not None and i not in sparse]
    dense = {i: _dense_gradient(gradients[i]) for i in plain + sparse}
    # A gradient traced with an unknown shape has its variable's (checked compatible on entry).
    for i in plain:
        if not dense[i].shape.is_fully_defined():
            dense[i] = tf.ensure_shape(dense[i], shapes[i])
    groups = ShapeGroups([dense[i].shape for i in plain])
    stacked = groups.stacked([dense[i] for i in plain])
    per_var_sq = _scatter(
        count,
        [(plain, groups.per_item([_rows_norm_sq(x) for x in stacked]))]
        + [([i], 2.0 * tf.nn.l2_loss(dense[i])[None]) for i in sparse],
    )
    # Only small gradients are scanned for zeros; the others stay NaN.
    zero_units = _scatter(
        count,
        [
            ([plain[i] for i in group], _rows_zero_fraction(x))
            for group, x in zip(groups.groups, stacked)
            if x.shape[1] <= EXACT_MAX_SIZE
        ],
        fill=_NAN,
    )
    # Counting NaN/Inf costs a pass over every gradient: pay it only when the norm is not finite.
    nonfinite = tf.cond(
        tf.math.is_finite(tf.reduce_sum(per_var_sq)),
        lambda: tf.zeros([count]),
        lambda: _scatter(
            count,
            [(plain, groups.per_item([_rows_nonfinite(x) for x in stacked]))]
            + [([i], _rows_nonfinite(dense[i][None])) for i in sparse],
        ),
    )
    return tf.stack([per_var_sq, zero_units, nonfinite])


def _dense_gradient(g: Any) -> tf.Tensor:
    """The gradient as float32; sparse slices summed over repeated indices (as the dense one is)."""
    if isinstance(g, tf.IndexedSlices):
        unique, position = tf.unique(g.indices)
        return tf.math.unsorted_segment_sum(
            tf.cast(g.values, tf.float32), position, tf.shape(unique)[0]
        )
    return tf.cast(g, tf.float32)


def _rows_norm_sq(x: tf.Tensor) -> tf.Tensor:
    """Squared L2 norm of each row of [members, elements], each in one fused pass."""
    if x.shape[0] == 1:
        return 2.0 * tf.nn.l2_loss(x)[None]
    return tf.square(tf.math.reduce_euclidean_norm(x, axis=1))


def _rows_zero_fraction(x: tf.Tensor) -> tf.Tensor:
    """Per row of [members, elements], the fraction of exactly-zero entries, for small gradients.

    Small gradients are mostly a layer's biases, one entry per unit: a unit whose bias gradient is
    exactly zero got no gradient from the whole batch (a dead ReLU, a saturated unit). Gradients of
    over `EXACT_MAX_SIZE` entries are not scanned, which would cost a second pass over the largest
    tensors (NaN there).
    """
    return tf.reduce_mean(tf.cast(tf.equal(x, 0.0), tf.float32), axis=1)


def _model_zero_fraction(zero_units: tf.Tensor, units: tf.Tensor) -> tf.Tensor:
    """Fraction of zero-gradient entries over all scanned variables, weighted by their units."""
    scanned = ~tf.math.is_nan(zero_units)
    total = tf.reduce_sum(tf.where(scanned, units, 0.0))
    dead = tf.reduce_sum(tf.where(scanned, zero_units * units, 0.0))
    return tf.where(total > 0, dead / tf.maximum(total, 1.0), _NAN)


def _rows_nonfinite(x: tf.Tensor) -> tf.Tensor:
    """Per row of [members, ...], the number of NaN and Inf entries (float32)."""
    bad = tf.cast(~tf.math.is_finite(x), tf.float32)
    return tf.reduce_sum(tf.reshape(bad, [tf.shape(x)[0], -1]), axis=1)


class _WeightState(_OpState):
    """State and record of `weight_deltas`."""

    # unchanged, slow: about the change since the previous record; nonfinite: about this one.
    SINCE_PREVIOUS = (True, True, False)

    def __init__(self, variables: Sequence[Any]):
        names = [_variable_name(v) for v in variables]
        self.memory = WeightMemory([tf.TensorShape(v.shape) for v in variables], names)
        sizes = [float(v.shape.num_elements()) for v in variables]
        super().__init__(variables, _variables_layout(variables), [sum(sizes)] + sizes, 3)

    def record(self, step: tf.Tensor, records: tf.Tensor, first: tf.Tensor):
        variables = [ref() for ref in self._variables]
        norm_sq, change_sq, changed = self.memory.measure(
            [tf.convert_to_tensor(v) for v in variables]
        )
        norms = tf.sqrt(_with_total(norm_sq))
        change = tf.sqrt(_with_total(change_sq))
        changed = tf.concat([[tf.reduce_any(changed)], changed], axis=0)
        # A change below what the float32 sketch resolves still counts as a change.
        change = tf.where(changed & tf.equal(change, 0.0), SMALLEST_CHANGE, change)
        change = tf.where(changed, change, 0.0)
        change = tf.where(first, _NAN, change)
        nonfinite = tf.where(tf.math.is_finite(norms), 0.0, 1.0)

        row_sizes = tf.constant(self.sizes, tf.float32)
        ratio = change / tf.maximum(norms, thresholds.WEIGHT_RMS_FLOOR * tf.sqrt(row_sizes))
        usable = (row_sizes > 0) & ~first
        holds = tf.stack(
            [
                usable & ~changed,
                usable & (ratio < thresholds.LEVEL_SLOW_UPDATE_RATIO),
                nonfinite > 0,
            ],
            axis=1,
        )
        values = _rows([norms, change, nonfinite, tf.fill(tf.shape(norms), records)])
        return values, holds

    def state_bytes(self) -> int:
        """Bytes kept between calls to tell how far the weights moved."""
        return self.memory.state_bytes


class _OutputState(_OpState):
    """State and record of `output_spread`."""

    # constant, invariant, nonfinite, collapsed: about this batch; repeated: the same as the previous.
    SINCE_PREVIOUS = (False, False, True, False, False)

    def __init__(self, variables: Sequence[Any]):
        layout = [[row, "", "", ""] for row in record_format.OUTPUT_ROWS]
        super().__init__(variables, layout, [_NAN] * len(layout), 5)
        self.previous_fingerprint = tf.Variable(
            tf.fill([2], tf.constant(_NAN, tf.float64)), trainable=False
        )

    def record(
        self,
        outputs: tf.Tensor,
        inputs: list | None,
        labels: list | None,
        step: tf.Tensor,
        records: tf.Tensor,
        first: tf.Tensor,
    ):
        out = _as_units(outputs)
        inp, lab = _side_by_side(inputs), _side_by_side(labels)
        stats = [_batch_stats(out), _optional_stats(inp), _optional_stats(lab)]
        spread, spread_max, scale, zero_frac, nonfinite, batch, fingerprint = (
            tf.stack(row) for row in zip(*stats)
        )
        # Repeated batches: of outputs and inputs (labels repeat by design in small datasets).
        repeated = ~first & tf.equal(fingerprint[:2], self.previous_fingerprint)
        self.previous_fingerprint.assign(fingerprint[:2])
        repeated = tf.concat([repeated, [False]], axis=0)
        several = batch >= 2
        # Collapsed: the outputs vary far less than labels of as many units (outputs row only).
        comparable = lab is not None and (
            out.shape[1] is None or lab.shape[1] is None or out.shape[1] == lab.shape[1]
        )
        collapsed = tf.constant(False)
        if comparable:
            collapsed = (
                tf.equal(tf.shape(out)[1], tf.shape(lab)[1])
                & several[0]
                & (spread[2] > 0)
                & (spread[0] <= thresholds.LEVEL_COLLAPSED_SPREAD_RATIO * spread[2])
            )
        holds = tf.stack(
            [
                several & tf.equal(zero_frac, 1.0),
                several & (spread <= thresholds.LEVEL_INVARIANT_RELATIVE_SPREAD * scale),
                repeated,
                nonfinite > 0,
                tf.stack([collapsed, False, False]),
            ],
            axis=1,
        )
        values = _rows(
            [spread, spread_max, scale, zero_frac, nonfinite, batch, tf.fill([3], records)]
        )
        return values, holds


def _side_by_side(tensors: list | None) -> tf.Tensor | None:
    """Batches (a nest's tensors) as one [batch, units] float32 tensor; None stays None."""
    return None if tensors is None else tf.concat([_as_units(x) for x in tensors], axis=1)


def _optional_stats(x: tf.Tensor | None) -> list[tf.Tensor]:
    """`_batch_stats` of x, or NaN when it was not given."""
    if x is None:
        return [tf.constant(_NAN)] * 6 + [tf.constant(_NAN, tf.float64)]
    return _batch_stats(x)


def _as_units(x: tf.Tensor) -> tf.Tensor:
    """Reshape a batch to [batch, units] float32."""
    x = tf.cast(x, tf.float32)
    return tf.reshape(x, [tf.shape(x)[0], -1])


def _batch_stats(x: tf.Tensor) -> list[tf.Tensor]:
    """[spread, spread_max, scale, zero_spread_fraction, nonfinite, batch, fingerprint] of [B, U]."""
    batch = tf.shape(x)[0]
    finite = tf.reduce_all(tf.math.is_finite(x))
    # Exactly constant units are found by comparison: the mean of equal floats need not equal them.
    # (max and min propagate NaN, so a unit with a NaN is not constant.)
    constant = tf.equal(tf.reduce_max(x, axis=0), tf.reduce_min(x, axis=0))
    mean = tf.reduce_mean(x, axis=0)
    variance = tf.reduce_mean(tf.math.squared_difference(x, mean), axis=0)
    std = tf.where(constant, 0.0, tf.sqrt(variance))
    # Non-finite batches are rare: count their entries, and take the mean square the direct way
    # (variance + mean^2 saves that pass otherwise, but inf - inf is NaN).
    nonfinite, mean_square = tf.cond(
        finite,
        lambda: (tf.constant(0.0), variance + tf.square(mean)),
        lambda: (
            tf.reduce_sum(tf.cast(~tf.math.is_finite(x), tf.float32)),
            tf.reduce_mean(tf.square(x), axis=0),
        ),
    )
    several = batch >= 2
    undefined = tf.constant(_NAN)
    spread = tf.where(several, tf.reduce_mean(std), undefined)
    spread_max = tf.where(several, tf.reduce_max(std), undefined)
    zero_frac = tf.where(several, tf.reduce_mean(tf.cast(constant, tf.float32)), undefined)
    spread = tf.where(finite, spread, undefined)
    return [
        spread,
        spread_max,
        tf.reduce_mean(tf.sqrt(mean_square)),
        zero_frac,
        nonfinite,
        tf.cast(batch, tf.float32),
        _fingerprint(x),
    ]


def _fingerprint(x: tf.Tensor) -> tf.Tensor:
    """A float64 summary of a batch that differs between different batches (weights by position)."""
    shape = tf.shape(x, out_type=tf.int64)
    golden = (math.sqrt(5.0) - 1.0) / 2.0
    row_w = 1.0 + tf.math.floormod(tf.cast(tf.range(1, shape[0] + 1), tf.float64) * golden, 1.0)
    col_w = 1.0 + tf.math.floormod(
        tf.cast(tf.range(1, shape[1] + 1), tf.float64) * golden * golden, 1.0
    )
    return tf.reduce_sum(tf.linalg.matvec(tf.cast(x, tf.float64), col_w) * row_w)
