"""Small real training runs, written by tb-stuckplugin's summary ops, for tests that read them back.

    write_run(logdir, "lr_zero", kind="lr_zero")      # a run TensorBoard and tb-stuck read as stuck

Each kind trains a tiny Keras model (8 inputs, 16 tanh units, 1 output) for a few steps inside a
`tf.function`, on a fresh random batch per step, and logs what a user of the plugin logs:

- "healthy": all three ops, Adam; nothing is wrong (status ok).
- "lr_zero": learning rate 0; every variable is frozen although its gradient is not (stuck).
- "lr_tiny": learning rate 1e-10 (a typo); the model as a whole barely moves from step 1 (stuck).
- "frozen_layer": the optimizer is given only the head's variables; the hidden layer never moves
  (warning: part of the model is frozen while the rest learns).
- "scalars_only": only `tf.summary.scalar("loss")`, no data of ours (no_data).
- "only_gradients" / "only_outputs": healthy training logging `gradient_norms` / `output_spread` only.
- "hostile": healthy, with an extra variable named HOSTILE_NAME (markup and quotes), for escaping tests.

A live writer (`stuck_file=`) trains healthily and flushes every step until that file exists, then sets
the learning rate to 0 (the run turns stuck mid-way). `start_live_writer` runs one as a subprocess:

    python tests/runs_for_tests.py LOGDIR RUN --steps 3000 --stuck-file F --step-delay 0.05

TensorFlow is imported on first use, so that tests can import the names here without it.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import time
from pathlib import Path

KINDS = (
    "healthy",
    "lr_zero",
    "lr_tiny",
    "frozen_layer",
    "scalars_only",
    "only_gradients",
    "only_outputs",
    "hostile",
)
# Markup and both quote kinds: a name that must come back as data, never as HTML or broken JSON.
HOSTILE_NAME = "\"q'<script>alert(1)</script>"
# The status each kind must get from the diagnosis (docs/api.md).
EXPECTED_STATUS = {
    "healthy": "ok",
    "lr_zero": "stuck",
    "lr_tiny": "stuck",
    "frozen_layer": "warning",
    "scalars_only": "no_data",
    "only_gradients": "ok",
    "only_outputs": "ok",
    "hostile": "ok",
}
DEFAULT_STEPS = 30
# A live writer's bound: it stops by itself after these steps (about 3 minutes), if nobody stops it.
LIVE_STEPS = 3000
LEARNING_RATES = {"lr_zero": 0.0, "lr_tiny": 1e-10}


def write_run(
    logdir: str | os.PathLike,
    name: str,
    kind: str = "healthy",
    *,
    steps: int = DEFAULT_STEPS,
    first_step: int = 0,
    seed: int = 0,
    stuck_file: str | os.PathLike | None = None,
    step_delay: float = 0.0,
) -> Path:
    """Train a tiny model of `kind` for `steps` steps from `first_step`, logging into logdir/name.

    A second call on the same run writes a second event file, like a job resumed from a checkpoint.
    With `stuck_file`, every step is flushed and the learning rate drops to 0 once the file exists.
    Returns the run's directory.
    """
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    import keras
    import tensorflow as tf

    import tb_stuckplugin as stuckplugin

    run_dir = Path(logdir) / name
    keras.utils.set_random_seed(seed)
    model = keras.Sequential(
        [
            keras.Input((8,)),
            keras.layers.Dense(16, activation="tanh", name="hidden"),
            keras.layers.Dense(1, name="head"),
        ],
        name="model",
    )
    extra = [tf.Variable(tf.ones([1]), name=HOSTILE_NAME)] if kind == "hostile" else []
    watched = model.trainable_variables + extra
    optimizer = keras.optimizers.Adam(learning_rate=LEARNING_RATES.get(kind, 0.01))
    optimizer.build(watched)
    updated = model.layers[-1].trainable_variables if kind == "frozen_layer" else watched
    target = tf.random.stateless_normal([8, 1], seed=[seed, 1])
    step = tf.Variable(first_step, dtype=tf.int64)

    @tf.function
    def train_step(x):
        with tf.GradientTape() as tape:
            predictions = model(x, training=True)
            if extra:
                predictions = predictions * extra[0]
            loss = tf.reduce_mean(tf.square(predictions - x @ target))
        gradients = tape.gradient(loss, watched)
        optimizer.apply_gradients(
            [(g, v) for g, v in zip(gradients, watched) if any(v is u for u in updated)]
        )
        if kind == "scalars_only":
            tf.summary.scalar("loss", loss, step=step)
        if kind not in ("scalars_only", "only_outputs"):
            stuckplugin.summary.gradient_norms(gradients, watched, step=step)
        if kind not in ("scalars_only", "only_gradients", "only_outputs"):
            stuckplugin.summary.weight_deltas(watched, step=step)
        if kind not in ("scalars_only", "only_gradients"):
            stuckplugin.summary.output_spread(predictions, step=step, inputs=x)

    writer = tf.summary.create_file_writer(str(run_dir))
    with writer.as_default():
        for i in range(steps):
            if stuck_file is not None and os.path.exists(stuck_file):
                optimizer.learning_rate.assign(0.0)
            train_step(tf.random.stateless_normal([32, 8], seed=[seed, first_step + i]))
            step.assign_add(1)
            if stuck_file is not None:
                writer.flush()
                time.sleep(step_delay)
    writer.close()
    return run_dir


class LiveWriter:
    """A writer subprocess of `start_live_writer`; `stop()` ends it (also on leaving a `with`)."""

    def __init__(self, process: subprocess.Popen, log: Path):
        self.process = process
        self.log = log

    def stop(self) -> str:
        """Stop the writer if it still runs; return what it printed (its errors, if any)."""
        if self.process.poll() is None:
            self.process.terminate()
            try:
                self.process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()
        return self.log.read_text(errors="replace")

    def __enter__(self) -> LiveWriter:
        return self

    def __exit__(self, *exc) -> None:
        self.stop()


def start_live_writer(
    logdir: str | os.PathLike,
    name: str,
    stuck_file: str | os.PathLike,
    *,
    steps: int = LIVE_STEPS,
    step_delay: float = 0.05,
) -> LiveWriter:
    """A healthy run written by a subprocess, flushed every step, that turns stuck (learning rate 0)
    once `stuck_file` exists. It ends by itself after `steps` steps. Its output goes to
    `stuck_file` + ".log"."""
    command = [sys.executable, __file__, str(logdir), name, "--steps", str(steps)]
    command += ["--stuck-file", str(stuck_file), "--step-delay", str(step_delay)]
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    log = Path(f"{stuck_file}.log")
    with open(log, "wb") as out:
        process = subprocess.Popen(command, stdout=out, stderr=subprocess.STDOUT, env=env)
    return LiveWriter(process, log)


def truncate_last_event_file(run_dir: str | os.PathLike, cut: int = 7) -> Path:
    """Cut the last `cut` bytes off the run's newest event file, as a job killed mid-write leaves it."""
    path = _newest_event_file(run_dir)
    data = path.read_bytes()
    path.write_bytes(data[:-cut])
    return path


def corrupt_event_file(run_dir: str | os.PathLike) -> Path:
    """Flip bytes in the middle of the run's newest event file (a disk or copy error)."""
    path = _newest_event_file(run_dir)
    data = bytearray(path.read_bytes())
    middle = len(data) // 2
    for i in range(middle, middle + 16):
        data[i] ^= 0xFF
    path.write_bytes(bytes(data))
    return path


def _newest_event_file(run_dir: str | os.PathLike) -> Path:
    files = sorted(Path(run_dir).glob("events.out.tfevents.*"), key=lambda p: p.stat().st_mtime)
    if not files:
        raise FileNotFoundError(f"no event file in {run_dir}")
    return files[-1]


def _main() -> None:
    parser = argparse.ArgumentParser(description="Write one small training run (see module doc).")
    parser.add_argument("logdir")
    parser.add_argument("run")
    parser.add_argument("--kind", choices=KINDS, default="healthy")
    parser.add_argument("--steps", type=int, default=DEFAULT_STEPS)
    parser.add_argument("--first-step", type=int, default=0)
    parser.add_argument("--stuck-file", help="turn the learning rate to 0 once this file exists")
    parser.add_argument("--step-delay", type=float, default=0.0, help="seconds between live steps")
    args = parser.parse_args()
    write_run(
        args.logdir,
        args.run,
        args.kind,
        steps=args.steps,
        first_step=args.first_step,
        stuck_file=args.stuck_file,
        step_delay=args.step_delay,
    )


if __name__ == "__main__":
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    _main()
