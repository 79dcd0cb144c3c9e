"""`StuckMonitor`: the Keras 3 callback that logs what tb-stuckplugin needs during `model.fit`.

    import tb_stuckplugin as stuckplugin

    model.fit(x, y, callbacks=[
        keras.callbacks.TensorBoard(log_dir),
        stuckplugin.keras.StuckMonitor(log_dir),
    ])

It needs the TensorFlow backend (the summary ops are TensorFlow ops).
"""

from __future__ import annotations

import contextlib
import logging
import os
import uuid
from collections.abc import Iterator, Sequence
from typing import Any

import keras
import tensorflow as tf
from tensorboard import context
from tensorboard.backend.event_processing import plugin_event_multiplexer
from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider

from tb_stuckplugin import reader, summary
from tb_stuckplugin.diagnosis import RunData, diagnose
from tb_stuckplugin.diagnosis.report import STUCK
from tb_stuckplugin.record_format import PLUGIN_NAME

__all__ = ["DEFAULT_INTERVAL", "StuckMonitor"]

# Record every 100 steps. On the reference model (8 x Dense(512), batch 128, one CPU thread) a record
# costs a third of a training step (mostly the forward pass for the output spread) and the steps in
# between nothing measurable: `fit` takes 0.99x to 1.01x the CPU time of a bare `fit` (median of
# rounds), where every 10 steps takes 1.04x to 1.07x (bench/bench_keras_callback.py,
# docs/benchmarks.md). A stuck run is then reported after 3 records, 300 steps.
DEFAULT_INTERVAL = 100

# Key under which a jit-compiled train step hands its gradients out of XLA (removed from the logs).
_CAPTURED = "_stuckplugin_captured"

_log = logging.getLogger(__name__)


class StuckMonitor(keras.callbacks.Callback):
    """Logs gradient norms, weight deltas and output spread during `fit`, for tb-stuckplugin.

    Add it beside `keras.callbacks.TensorBoard(log_dir)`: it writes into `log_dir/train`, the run of
    that callback, so TensorBoard shows both as one run; the "Stuck" tab and `tb-stuck check` read it.

    Every `interval` training steps (step 0 first) it records:

    - the gradient norm of each trainable variable, taken from the real training batch at the moment
      the optimizer applies it: the callback wraps `model.optimizer.apply` (which `apply_gradients`
      calls), so a custom `train_step` is covered as long as it updates through `self.optimizer`.
      Under a `LossScaleOptimizer` (mixed precision) the gradients are unscaled first, and steps
      whose gradients overflow are recorded too (they show as non-finite);
    - how far each of `model.weights` moved since the previous record, non-trainable ones included,
      so that a layer frozen by mistake shows up (the layout tag marks trainable "1"/"0");
    - with `record_outputs=True`, the spread of the model's outputs (and of its inputs and labels)
      across the batch being trained on: the callback takes the batch from the training data itself
      rather than asking for a fixed probe batch, because a batch seen again and again would read as
      "the same batch repeats" and could not reveal a data pipeline that repeats one. This costs one
      extra forward pass in inference mode (dropout off, after the update) on recorded steps only.
      Turn it off for a custom `train_step` whose data is not `(x, y, sample_weight)`.

    The step is the number of batches trained, counted from `model.optimizer.iterations` at the
    start of the first `fit`, so a resumed job continues its steps.

    With `jit_compile=True` the train step is compiled by XLA, which cannot write summaries: the step
    hands its gradients and inputs out as extra outputs, and the callback records them outside XLA
    after the step (a separate, uncompiled `tf.function`). With `steps_per_execution > 1` it then
    records the last step of each execution that reaches a multiple of `interval`.

    Under `tf.distribute` (create the model and compile under `strategy.scope()`), one set of values
    is written per step, equal to what one device computes on the global batch: gradients are summed
    and outputs gathered across replicas on recorded steps only, and only the chief worker writes.
    `jit_compile=True` is not supported together with a strategy (Keras turns XLA off there by
    default).

    With `stop_on_stuck=True` it reads back what it wrote after each record, runs the diagnosis that
    TensorBoard's panel and `tb-stuck check` use, and stops training (`model.stop_training = True`)
    with a log line once the verdict is "stuck" (e.g. all trainable variables frozen, or non-finite
    values, for 3 records in a row). Under a multi-worker strategy the chief decides and all workers
    stop together.

    Args:
      log_dir: the directory given to `keras.callbacks.TensorBoard`.
      interval: record every `interval` training steps.
      record_outputs: whether to record the output spread (an extra forward pass per record).
      stop_on_stuck: whether to stop training when the run turns stuck.
    """

    def __init__(
        self,
        log_dir: str | os.PathLike,
        interval: int = DEFAULT_INTERVAL,
        record_outputs: bool = True,
        stop_on_stuck: bool = False,
    ):
        super().__init__()
        if isinstance(interval, bool) or not isinstance(interval, int) or interval < 1:
            raise ValueError(f"interval must be a positive int, got {interval!r}")
        self.log_dir = os.fspath(log_dir)
        self.interval = interval
        self.record_outputs = record_outputs
        self.stop_on_stuck = stop_on_stuck
        self._writer = None
        self._event_file = None
        self._multiplexer = None
        self._step = None
        self._recorded_through = None
        self._checked_through = None
        self._captured = None
        # Keras' own train function of the last fit, and the one with our hooks built from it.
        self._keras_train_function = None
        self._hooked_train_function = None

    # --- Keras hooks ---------------------------------------------------------------------------

    def on_train_begin(self, logs=None):
        if keras.backend.backend() != "tensorflow":
            raise RuntimeError("StuckMonitor needs the TensorFlow backend of Keras")
        model = self.model
        strategy = model.distribute_strategy
        self._jit = bool(model.jit_compile)
        if self._jit and strategy.num_replicas_in_sync > 1:
            raise ValueError(
                "StuckMonitor does not support jit_compile=True under tf.distribute: "
                "compile with jit_compile=False (Keras' default under a strategy)"
            )
        if self._writer is None:
            self._open_writer(strategy)
        if self._step is None:
            start = int(model.optimizer.iterations.numpy()) if model.optimizer is not None else 0
            with strategy.scope():
                self._step = tf.Variable(
                    start,
                    dtype=tf.int64,
                    trainable=False,
                    synchronization=tf.VariableSynchronization.ON_READ,
                    aggregation=tf.VariableAggregation.ONLY_FIRST_REPLICA,
                )
        self._recorded_through = self._checked_through = int(self._step.numpy()) - 1
        self._install()

    def on_train_batch_end(self, batch, logs=None):
        if not self.stop_on_stuck:
            return
        last = int(self._step.numpy()) - 1
        recorded = last // self.interval > self._checked_through // self.interval
        self._checked_through = last
        if recorded and self._all_workers_agree(self._is_stuck(last)):
            self.model.stop_training = True

    def on_train_end(self, logs=None):
        self._uninstall()
        self._writer.flush()

    # --- Hooks into the model and its optimizer ---------------------------------------------------

    def _install(self) -> None:
        """Wrap `model.train_step` and `model.optimizer.apply`, and use a train function with them.

        The hooked train function is kept, and reused by the next `fit` with this callback as long
        as Keras' own is unchanged (no new `compile`), so that only the first `fit` traces it.
        """
        model = self.model
        if vars(model).get("train_step") == self._train_step:
            self._uninstall()  # A `fit` with this callback was interrupted (no on_train_end).
        self._original_train_step = model.train_step
        model.train_step = self._train_step
        optimizer = model.optimizer
        if optimizer is not None:
            self._original_apply = optimizer.apply
            optimizer.apply = self._apply
        if model.train_function is not self._keras_train_function:
            self._keras_train_function = model.train_function
            self._weights = list(model.weights)
            model.make_train_function(force=True)
            self._hooked_train_function = model.train_function
            if self._jit:
                self._hooked_train_function = self._recording_outside(model.train_function)
        model.train_function = self._hooked_train_function

    def _uninstall(self) -> None:
        """Undo `_install`: a `fit` without this callback records nothing."""
        model = self.model
        del model.train_step
        if model.optimizer is not None:
            del model.optimizer.apply
        model.train_function = self._keras_train_function

    def _apply(self, grads, trainable_variables=None):
        """`optimizer.apply` that records (or, under XLA, captures) the gradients it is given."""
        grads = list(grads)
        variables = (
            list(trainable_variables)
            if trainable_variables is not None
            else self.model.trainable_variables
        )
        scale = _loss_scale(self.model.optimizer)
        if self._jit:
            self._captured = (grads, variables, scale)
        elif len(grads) == len(variables):
            with self._recording() as recording:
                unscaled = grads if scale is None else _unscale_when(recording, grads, scale)
                summary.gradient_norms(unscaled, variables)
        return self._original_apply(grads, trainable_variables)

    def _train_step(self, data):
        """`model.train_step` followed by the weight and output records (or the XLA capture)."""
        self._captured = None
        logs = self._original_train_step(data)
        x, y, _ = keras.utils.unpack_x_y_sample_weight(data)
        if self._jit:
            logs = self._with_captured(logs, x, y)
        else:
            with self._recording() as recording:
                summary.weight_deltas(self._weights)
                if self.record_outputs:
                    outputs = tf.cond(
                        recording,
                        lambda: _batch_matrix(self.model(x, training=False)),
                        lambda: tf.zeros([0, 0]),
                    )
                    summary.output_spread(outputs, inputs=_numeric(x), labels=_numeric(y))
        self._step.assign_add(1)
        return logs

    @contextlib.contextmanager
    def _recording(self) -> Iterator[tf.Tensor]:
        """Our writer and step as defaults, recording every `interval` steps; yields the condition."""
        recording = tf.equal(self._step % self.interval, 0)
        with self._writer.as_default(step=self._step), tf.summary.record_if(recording):
            yield recording

    # --- jit_compile: capture inside XLA, record outside -------------------------------------------

    def _recording_outside(self, train_function):
        """The compiled train function, followed by the record of what it captured."""
        record = tf.function(self._record_captured, reduce_retracing=True)

        def train_function_recording_outside(iterator):
            logs = train_function(iterator)
            captured = logs.pop(_CAPTURED)
            last = int(self._step.numpy()) - 1
            if last // self.interval > self._recorded_through // self.interval:
                record(captured, tf.constant(last, tf.int64))
            self._recorded_through = last
            return logs

        return train_function_recording_outside

    def _with_captured(self, logs: Any, x: Any, y: Any) -> dict:
        """The step's logs plus the gradients (still loss-scaled), inputs and labels, as extra
        outputs."""
        if not isinstance(logs, dict):
            raise TypeError(
                f"under jit_compile, StuckMonitor needs train_step to return a dict, got {type(logs)}"
            )
        captured = {"inputs": x}
        labels = _numeric(y)
        if labels is not None:
            captured["labels"] = tuple(labels)  # numeric only: they leave XLA as outputs
        if self._captured is not None:
            grads, variables, scale = self._captured
            present = [i for i, g in enumerate(grads) if g is not None]
            self._captured_layout = (variables, present)
            # A tuple: tf.data's Optional, which carries the outputs of `steps_per_execution > 1`,
            # would read a list as one tensor.
            captured["gradients"] = tuple(grads[i] for i in present)
            captured["scale"] = tf.constant(1.0) if scale is None else tf.cast(scale, tf.float32)
        return {**logs, _CAPTURED: captured}

    def _record_captured(self, captured: dict, step: tf.Tensor) -> None:
        with self._writer.as_default(step=step):
            if "gradients" in captured:
                variables, present = self._captured_layout
                grads = [None] * len(variables)
                for i, g in zip(present, captured["gradients"]):
                    grads[i] = _divide(g, captured["scale"])
                summary.gradient_norms(grads, variables)
            summary.weight_deltas(self._weights)
            if self.record_outputs:
                x = captured["inputs"]
                outputs = _batch_matrix(self.model(x, training=False))
                labels = captured.get("labels")
                summary.output_spread(outputs, inputs=_numeric(x), labels=labels)

    # --- Writing and stopping ------------------------------------------------------------------

    def _open_writer(self, strategy: tf.distribute.Strategy) -> None:
        """A writer into `log_dir/train` on the chief; elsewhere one that writes nothing."""
        if not strategy.extended.should_save_summary:
            self._writer = tf.summary.create_noop_writer()
            return
        train_dir = os.path.join(self.log_dir, "train")
        suffix = f".stuckplugin-{uuid.uuid4().hex[:12]}.v2"
        self._writer = tf.summary.create_file_writer(train_dir, filename_suffix=suffix)
        (name,) = [n for n in tf.io.gfile.listdir(train_dir) if n.endswith(suffix)]
        self._event_file = os.path.join(train_dir, name)

    def _is_stuck(self, step: int) -> bool:
        """Whether the diagnosis of what this callback wrote says "stuck" (False off the chief)."""
        if self._event_file is None:
            return False
        self._writer.flush()
        if self._multiplexer is None:
            self._multiplexer = plugin_event_multiplexer.EventMultiplexer(
                tensor_size_guidance={PLUGIN_NAME: 1}
            )
            self._multiplexer.AddRun(self._event_file, name="train")
        self._multiplexer.Reload()
        provider = MultiplexerDataProvider(self._multiplexer, self.log_dir)
        runs = reader.read_runs(provider, context.RequestContext(), "", downsample=1)
        report = diagnose(runs.get("train") or RunData("train"))
        if report.status != STUCK:
            return False
        _log.warning(
            "StuckMonitor: training is stuck at step %d: %s Stopping training (stop_on_stuck=True).",
            step,
            report.findings[0].message,
        )
        return True

    def _all_workers_agree(self, stuck: bool) -> bool:
        """Under a multi-worker strategy the chief's verdict, shared so all workers stop together."""
        strategy = self.model.distribute_strategy
        if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy):
            return stuck
        flag = tf.constant(1.0 if stuck else 0.0)
        per_replica = strategy.run(lambda: tf.identity(flag))
        return bool(strategy.reduce(tf.distribute.ReduceOp.SUM, per_replica, axis=None) > 0)


def _loss_scale(optimizer: Any) -> Any:
    """The factor the optimizer's gradients are scaled by (None if they are not)."""
    if optimizer is None:
        return None
    if isinstance(optimizer, keras.optimizers.LossScaleOptimizer):
        return optimizer.dynamic_scale if optimizer.built else optimizer.initial_scale
    return optimizer.loss_scale_factor


def _unscale_when(recording: tf.Tensor, grads: list, scale: Any) -> list:
    """Gradients divided by `scale` on recorded steps; on the others unchanged (no work)."""
    present = [g for g in grads if g is not None]
    unscaled = iter(
        tf.cond(recording, lambda: [_divide(g, scale) for g in present], lambda: present)
    )
    return [None if g is None else next(unscaled) for g in grads]


def _divide(gradient: Any, scale: Any) -> Any:
    """A gradient (a tensor or `tf.IndexedSlices`) divided by the loss scale."""
    if isinstance(gradient, tf.IndexedSlices):
        values = gradient.values / tf.cast(scale, gradient.values.dtype)
        return tf.IndexedSlices(values, gradient.indices, gradient.dense_shape)
    return gradient / tf.cast(scale, gradient.dtype)


def _batch_matrix(outputs: Any) -> tf.Tensor:
    """The model's outputs (a tensor or a nest of them) as one float32 [batch, units] tensor."""
    flat = [tf.cast(o, tf.float32) for o in tf.nest.flatten(outputs)]
    flat = [tf.reshape(o, [tf.shape(o)[0], -1]) for o in flat]
    return flat[0] if len(flat) == 1 else tf.concat(flat, axis=1)


def _numeric(x: Any) -> Sequence[tf.Tensor] | None:
    """The numeric tensors of an input nest (strings and the like cannot have a spread)."""
    tensors = [
        t
        for t in tf.nest.flatten(x)
        if tf.is_tensor(t) and (t.dtype.is_floating or t.dtype.is_integer or t.dtype == tf.bool)
    ]
    return tensors or None
