"""Overhead of `StuckMonitor` on `model.fit`, on the reference model, one CPU thread.

    .venv/bin/python bench/bench_keras_callback.py [--rounds 9] [--steps 200] [--intervals 100]

Reference model: 8 x Dense(512, relu) + Dense(10) on 784 inputs, Adam, batch 128, CPU, one thread
(TensorFlow's thread pools and the process pinned to one core). Each round runs `fit` for `--steps`
steps once bare and once per interval with the callback, in an order that rotates every round, so
that drifts of the machine hit every variant alike; the figure is the median over rounds of the
per-round ratio (callback / bare), with its spread. Every variant runs one untimed `fit` first (the
trace); the callback is reused across rounds, as in a job that calls `fit` repeatedly.

Both the CPU time of the process and the wall time are reported. On a machine shared with other
work the wall time of a one-thread job swings by 2x whenever the scheduler halves its core, so the
CPU time (all threads of the process: the work the callback adds) is the figure the budget is
checked on; on a quiet machine the two agree.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402

import numpy as np  # noqa: E402
import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

import keras  # noqa: E402

from tb_stuckplugin.keras import DEFAULT_INTERVAL, StuckMonitor  # noqa: E402

BATCH = 128
INPUTS = 784
CLASSES = 10


def reference_model() -> keras.Model:
    """8 x Dense(512, relu), then Dense(10): the model the overhead budget is set on."""
    keras.utils.set_random_seed(0)
    layers = [keras.Input((INPUTS,))]
    layers += [keras.layers.Dense(512, activation="relu") for _ in range(8)]
    layers += [keras.layers.Dense(CLASSES)]
    model = keras.Sequential(layers)
    model.compile(
        optimizer=keras.optimizers.Adam(1e-3),
        loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True),
    )
    return model


def dataset(steps: int) -> tf.data.Dataset:
    rng = np.random.default_rng(0)
    x = rng.normal(size=(BATCH * steps, INPUTS)).astype("float32")
    y = rng.integers(0, CLASSES, size=(BATCH * steps,))
    return tf.data.Dataset.from_tensor_slices((x, y)).batch(BATCH).cache().repeat().prefetch(2)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rounds", type=int, default=9)
    parser.add_argument("--steps", type=int, default=200, help="training steps per timed fit")
    parser.add_argument(
        "--intervals",
        default=str(DEFAULT_INTERVAL),
        help="comma-separated recording intervals to measure (default: the callback's default)",
    )
    args = parser.parse_args()
    intervals = [int(i) for i in args.intervals.split(",")]
    os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})

    data = dataset(args.steps)
    logdir = tempfile.mkdtemp(prefix="bench_keras_callback_")
    variants = {"bare": (reference_model(), [])}
    for interval in intervals:
        monitor = StuckMonitor(os.path.join(logdir, f"interval_{interval}"), interval=interval)
        variants[f"interval {interval}"] = (reference_model(), [monitor])

    def timed_fit(name: str) -> tuple[float, float]:
        """(CPU seconds, wall seconds) of one `fit` of the variant."""
        model, callbacks = variants[name]
        cpu, wall = time.process_time(), time.perf_counter()
        model.fit(data, steps_per_epoch=args.steps, epochs=1, verbose=0, callbacks=callbacks)
        return time.process_time() - cpu, time.perf_counter() - wall

    for name in variants:
        timed_fit(name)
    names = list(variants)
    times = {name: [] for name in names}
    for r in range(args.rounds):
        order = names[r % len(names) :] + names[: r % len(names)]
        for name in order:
            times[name].append(timed_fit(name))

    print(
        f"{args.rounds} rounds x {args.steps} steps, batch {BATCH}, one thread, "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}\n"
    )
    print("| variant | clock | ms/step (median) | ratio to bare (median of rounds) | min | max |")
    print("|---|---|---|---|---|---|")
    for name in names:
        for clock, which in (("CPU", 0), ("wall", 1)):
            seconds = [t[which] for t in times[name]]
            ratios = [t[which] / b[which] for t, b in zip(times[name], times["bare"])]
            step_ms = 1000 * statistics.median(seconds) / args.steps
            ratio = "1" if name == "bare" else f"{statistics.median(ratios):.4f}"
            spread = ("", "") if name == "bare" else (f"{min(ratios):.4f}", f"{max(ratios):.4f}")
            print(f"| {name} | {clock} | {step_ms:.2f} | {ratio} | {spread[0]} | {spread[1]} |")


if __name__ == "__main__":
    main()
