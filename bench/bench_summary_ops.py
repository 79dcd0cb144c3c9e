"""Step-time overhead of the summary ops in a custom training loop, beside hand-written summaries.

    .venv/bin/python bench/bench_summary_ops.py [--models reference,many] [--rounds 30]
        [--instances 3] [--kinds bare,no-op,ops,floor,scalars,histograms] [--intervals 1,10]

Models: "reference", 8 x Dense(512, relu) + Dense(10) on 784 inputs (18 variables, 2.2M parameters);
"many", 100 x Dense(64, relu) on 64 inputs (200 variables), where a Python op per variable would
show. Adam, batch 128, CPU, one thread (TensorFlow's thread pools and the process pinned to one core).

Variants, each its own `tf.function` train step (and writer and step counter) on one shared model
and optimizer, so that they all work on the same buffers:

- bare: the training step alone; no-op: the same code again, which shows the noise floor;
- ops: the three stuckplugin summary ops; gradient_norms, weight_deltas, output_spread: one alone;
- floor: the least a per-variable monitor computes: one pass over each gradient (`l2_loss`) and
  over each weight (`reduce_sum`), written as one tensor by one `tf.summary.write`;
- scalars: `tf.summary.scalar` of each variable's gradient norm and weight norm (by hand);
- histograms: `tf.summary.histogram` of each variable's gradient and weights (by hand);

each recording every step (no condition) and every 10th step (`tf.summary.record_if` with a tensor
condition on the step counter, inside the `tf.function`). Identical functions traced apart differ
by up to a few percent in speed (where their tensors land in memory, presumably), so each variant
is `--instances` such functions, and its step time their mean. The functions are interleaved step by
step, in an order that rotates every round, so that the machine's drifts hit them alike. A round is
one recording cycle (10 steps) of every function; a variant's figure is the median over rounds of
its per-round ratio to bare (mean step time over the cycle and its instances), with the spread of
those ratios (quartiles, extremes). Wall-clock and process CPU time are both measured: on a shared
machine CPU time is less affected by other processes taking the core.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import contextlib  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

import keras  # noqa: E402

import tb_stuckplugin as stuckplugin  # noqa: E402

BATCH = 128
BATCHES = 8  # distinct batches, fed in turn
CYCLE = 10  # steps per round; the sparse variants record at the first of them
KINDS = ("bare", "no-op", "ops", "floor", "scalars", "histograms")


def reference_model() -> tuple[keras.Model, keras.losses.Loss]:
    """8 x Dense(512, relu) + Dense(10) on 784 inputs, sparse cross-entropy."""
    layers = [keras.Input((784,))]
    layers += [keras.layers.Dense(512, activation="relu") for _ in range(8)]
    layers += [keras.layers.Dense(10)]
    return keras.Sequential(layers), keras.losses.SparseCategoricalCrossentropy(from_logits=True)


def many_variables_model() -> tuple[keras.Model, keras.losses.Loss]:
    """100 x Dense(64, relu) on 64 inputs (200 variables), squared error; He init keeps the scale."""
    layers = [keras.Input((64,))]
    layers += [
        keras.layers.Dense(64, activation="relu", kernel_initializer="he_normal")
        for _ in range(100)
    ]
    return keras.Sequential(layers), keras.losses.MeanSquaredError()


# name: (model builder, inputs, classes; 0 means targets shaped like the inputs)
MODELS = {"reference": (reference_model, 784, 10), "many": (many_variables_model, 64, 0)}


def batches(inputs: int, classes: int) -> list[tuple[tf.Tensor, tf.Tensor]]:
    """Fixed batches of normal inputs, with class labels or normal targets."""
    rng = np.random.default_rng(0)
    out = []
    for _ in range(BATCHES):
        x = rng.normal(size=(BATCH, inputs)).astype("float32")
        if classes:
            y = rng.integers(0, classes, size=BATCH)
        else:
            y = rng.normal(size=(BATCH, inputs)).astype("float32")
        out.append((tf.constant(x), tf.constant(y)))
    return out


def record_summaries(kind: str, grads, variables, outputs, x, step) -> None:
    """The summaries of one variant for one step (under the caller's `record_if`)."""
    if kind in ("ops", "gradient_norms"):
        stuckplugin.summary.gradient_norms(grads, variables, step=step)
    if kind in ("ops", "weight_deltas"):
        stuckplugin.summary.weight_deltas(variables, step=step)
    if kind in ("ops", "output_spread"):
        stuckplugin.summary.output_spread(outputs, step=step, inputs=x)
    if kind == "floor":
        tf.summary.write(
            "floor",
            lambda: tf.stack(
                [tf.nn.l2_loss(g) for g in grads] + [tf.reduce_sum(v) for v in variables]
            ),
            step=step,
        )
    elif kind == "scalars":
        for g, v in zip(grads, variables):
            tf.summary.scalar(f"grad_norm/{v.path}", tf.norm(g), step=step)
            tf.summary.scalar(f"weight_norm/{v.path}", tf.norm(v), step=step)
    elif kind == "histograms":
        for g, v in zip(grads, variables):
            tf.summary.histogram(f"grad/{v.path}", g, step=step)
            tf.summary.histogram(f"weight/{v.path}", v, step=step)


class Variant:
    """A `tf.function` train step of the shared model, with `kind` summaries every `interval`."""

    def __init__(self, model, optimizer, loss_fn, kind: str, interval: int, logdir: str):
        self.writer = None
        if kind not in ("bare", "no-op"):
            self.writer = tf.summary.create_file_writer(os.path.join(logdir, f"{kind}_{interval}"))
        writer = self.writer
        step = tf.Variable(0, dtype=tf.int64)

        @tf.function
        def train_step(x, y):
            with tf.GradientTape() as tape:
                outputs = model(x, training=True)
                loss = loss_fn(y, outputs)
            variables = model.trainable_variables
            grads = tape.gradient(loss, variables)
            optimizer.apply_gradients(zip(grads, variables))
            if writer is not None:
                condition = True if interval == 1 else lambda: tf.equal(step % interval, 0)
                with tf.summary.record_if(condition):
                    record_summaries(kind, grads, variables, outputs, x, step)
            step.assign_add(1)
            return loss

        self.train_step = train_step

    def timed_step(self, x, y) -> tuple[float, float]:
        """Run one step; return its (wall, process CPU) seconds."""
        context = self.writer.as_default() if self.writer else contextlib.nullcontext()
        with context:
            wall, cpu = time.perf_counter(), time.process_time()
            self.train_step(x, y)
            return time.perf_counter() - wall, time.process_time() - cpu


def spread(ratios: list[float]) -> str:
    """Quartiles and extremes of per-round ratios, as two table cells."""
    q1, _, q3 = statistics.quantiles(ratios, n=4)
    return f"{q1:.3f}-{q3:.3f} | {min(ratios):.3f}-{max(ratios):.3f}"


def measure(
    model_name: str,
    kinds: list[str],
    intervals: list[int],
    rounds: int,
    instances: int,
    logdir: str,
) -> None:
    """Time every variant of one model, interleaved step by step; print ratios to bare."""
    build, inputs, classes = MODELS[model_name]
    keras.utils.set_random_seed(0)
    model, loss_fn = build()
    optimizer = keras.optimizers.Adam(1e-3)
    # Slots made now, not in the first variant's trace (which made that one read a few % slower).
    optimizer.build(model.trainable_variables)
    data = batches(inputs, classes)
    path = os.path.join(logdir, model_name)
    variants: dict[str, list[Variant]] = {}
    for kind in kinds:
        for interval in (1,) if kind in ("bare", "no-op") else intervals:
            name = kind if kind in ("bare", "no-op") else f"{kind}, every {interval}"
            variants[name] = [
                Variant(model, optimizer, loss_fn, kind, interval, os.path.join(path, str(i)))
                for i in range(instances)
            ]
    names = list(variants)
    functions = [(name, variant) for name in names for variant in variants[name]]
    for step in range(CYCLE):  # traces, creates the ops' state, writes the first records
        for _, variant in functions:
            variant.timed_step(*data[step % len(data)])
    wall: dict[str, list[float]] = {name: [] for name in names}
    cpu: dict[str, list[float]] = {name: [] for name in names}
    for r in range(rounds):
        order = functions[r % len(functions) :] + functions[: r % len(functions)]
        times: dict[str, list[tuple[float, float]]] = {name: [] for name in names}
        gc.collect()
        gc.disable()
        try:
            for step in range(CYCLE):
                for name, variant in order:
                    times[name].append(variant.timed_step(*data[step % len(data)]))
        finally:
            gc.enable()
        for name, pairs in times.items():
            wall[name].append(statistics.fmean(w for w, _ in pairs))
            cpu[name].append(statistics.fmean(c for _, c in pairs))

    bare_ms = 1000 * statistics.median(cpu["bare"])
    print(
        f"\n## {model_name}: {len(model.trainable_variables)} variables, "
        f"bare step {bare_ms:.2f} ms (median CPU time), {instances} functions per variant"
    )
    print(
        "| variant | ms/step (CPU) | CPU ratio (median) | CPU IQR | CPU min-max "
        "| wall ratio (median) | wall IQR | wall min-max |"
    )
    print("|---|---|---|---|---|---|---|---|")
    for name in names[1:]:
        cpu_ratios = [t / b for t, b in zip(cpu[name], cpu["bare"])]
        wall_ratios = [t / b for t, b in zip(wall[name], wall["bare"])]
        print(
            f"| {name} | {1000 * statistics.median(cpu[name]):.2f} | "
            f"{statistics.median(cpu_ratios):.3f} | {spread(cpu_ratios)} | "
            f"{statistics.median(wall_ratios):.3f} | {spread(wall_ratios)} |"
        )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument(
        "--models", default="reference,many", help="comma-separated: reference,many"
    )
    parser.add_argument("--kinds", default=",".join(KINDS), help="comma-separated variants")
    parser.add_argument(
        "--intervals",
        default=f"1,{CYCLE}",
        help="comma-separated recording intervals (a huge one: a variant that never records)",
    )
    parser.add_argument("--rounds", type=int, default=30, help=f"rounds of {CYCLE} steps each")
    parser.add_argument("--instances", type=int, default=3, help="functions per variant")
    parser.add_argument(
        "--cpu", type=int, help="the core to pin the process to (default: the last)"
    )
    args = parser.parse_args()
    kinds = ["bare"] + [kind for kind in args.kinds.split(",") if kind != "bare"]
    os.sched_setaffinity(0, {args.cpu if args.cpu is not None else max(os.sched_getaffinity(0))})
    print(
        f"# {args.rounds} rounds x {CYCLE} steps per function, batch {BATCH}, one thread, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}; "
        f"load average {os.getloadavg()[0]:.2f} at start"
    )
    logdir = tempfile.mkdtemp(prefix="bench_summary_ops_")
    for model_name in args.models.split(","):
        intervals = [int(i) for i in args.intervals.split(",")]
        measure(model_name, kinds, intervals, args.rounds, args.instances, logdir)
    print(f"\n# load average {os.getloadavg()[0]:.2f} at end")


if __name__ == "__main__":
    main()
