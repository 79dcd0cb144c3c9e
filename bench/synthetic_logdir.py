"""Synthetic tb-stuckplugin logdirs at benchmark scale, written as the summary ops write them.

    .venv/bin/python bench/synthetic_logdir.py OUT --runs 100 --variables 100 --steps 10000
    .venv/bin/python bench/synthetic_logdir.py OUT --scalar-points 92300   # add a scalar tag
    .venv/bin/python bench/synthetic_logdir.py --validate   # same verdicts as TF-written runs

Training 100 runs for 10,000 recorded steps with TensorFlow takes far too long, so the events are
written directly with TensorBoard's own `EventFileWriter`, in the format of `record_format.py`, as
`tf.summary.write` lays it out: one event per tag and step, the tag's `SummaryMetadata` (from
`metadata.create_summary_metadata`) on every event, and per op and step the since record (first
record and whenever a condition changes, with the writer's streak rule), the layout (first record)
and the values. The values are made up but plausible, and the conditions are derived from them with
the writer's thresholds, so the since records are what the summary ops would write for them.

Run kinds, cycled over the runs (`KIND_CYCLE`): healthy; lr_zero (learning rate 0 from the start);
turns_stuck (learning rate 0 from 60% of the steps, like a job whose schedule hits zero);
frozen_layer (the first half of the layers never move); exploding_bursts (the last kernel's gradient
explodes in bursts, the last one at the end, so its since record is rewritten at every flip).

Variables are Dense layers of 64 units: "model/dense_K/kernel" (64x64) and "model/dense_K/bias"
(64). Records are at steps 0, interval, 2 * interval, ... With `--scalar-points P` every run also gets
a scalar tag "bench/points_P" with P points at steps 0..P-1, in an event file of its own (for
comparisons with TensorBoard's Scalars routes). The CRC of each record is TensorBoard's pure-Python
one unless `google_crc32c` can be imported (the same values, about 100 times faster).
"""

from __future__ import annotations

import os

# TensorBoard's writer uses TensorFlow's file I/O where TensorFlow is installed: keep it quiet.
os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

import argparse  # noqa: E402
import glob  # noqa: E402
import json  # noqa: E402
import subprocess  # noqa: E402
import sys  # noqa: E402
import tempfile  # noqa: E402
import time  # noqa: E402
from collections.abc import Sequence  # noqa: E402
from concurrent.futures import ProcessPoolExecutor  # noqa: E402
from pathlib import Path  # noqa: E402

import numpy as np  # noqa: E402
from tensorboard.compat.proto import event_pb2, summary_pb2  # noqa: E402
from tensorboard.summary.writer import event_file_writer, record_writer  # noqa: E402
from tensorboard.util import tensor_util  # noqa: E402

from tb_stuckplugin import metadata  # noqa: E402
from tb_stuckplugin.diagnosis import thresholds  # noqa: E402
from tb_stuckplugin.record_format import (  # noqa: E402
    GRADIENTS,
    LAYOUT,
    MODEL_ROW,
    OUTPUT_ROWS,
    OUTPUTS,
    ROLE_SUFFIX,
    SINCE,
    VALUES,
    WEIGHTS,
)

KINDS = ("healthy", "lr_zero", "turns_stuck", "frozen_layer", "exploding_bursts")
# Kind of run i is KIND_CYCLE[i % 10]: 6 healthy, 2 stuck, 1 warning, 1 warning with churn.
KIND_CYCLE = (
    "healthy",
    "turns_stuck",
    "healthy",
    "frozen_layer",
    "healthy",
    "lr_zero",
    "healthy",
    "exploding_bursts",
    "healthy",
    "healthy",
)
# The tag names the summary ops use by default, as the README's training loop logs them.
TAGS = {GRADIENTS: "gradients", WEIGHTS: "weights", OUTPUTS: "outputs"}
UNITS = 64
BATCH = 32
SCALAR_TAG = "bench/points_{}"
SCALAR_SUFFIX = ".bench-scalars-{}"
# (name, shape) of the model of tests/runs_for_tests.py, for --validate.
TINY_MODEL = (
    ("model/hidden/kernel", (8, 16)),
    ("model/hidden/bias", (16,)),
    ("model/head/kernel", (16, 1)),
    ("model/head/bias", (1,)),
)


def _use_fast_crc() -> None:
    """Give TensorBoard's record writer a C CRC-32C if `google_crc32c` is importable."""
    try:
        import google_crc32c
    except ImportError:
        return
    slow = record_writer.masked_crc32c

    def masked_crc32c(data: bytes) -> int:
        x = google_crc32c.value(data)
        return (((x >> 15) | (x << 17)) + 0xA282EAD8) & 0xFFFFFFFF

    probe = bytes(range(256)) * 3
    if masked_crc32c(probe) == slow(probe):
        record_writer.masked_crc32c = masked_crc32c


def dense_model(variables: int) -> tuple[tuple[str, tuple[int, ...]], ...]:
    """`variables` variables of Dense(64) layers: kernel, bias, kernel, bias, ..."""
    return tuple(
        (f"model/dense_{i // 2}/kernel", (UNITS, UNITS))
        if i % 2 == 0
        else (f"model/dense_{i // 2}/bias", (UNITS,))
        for i in range(variables)
    )


def kind_of(index: int) -> str:
    return KIND_CYCLE[index % len(KIND_CYCLE)]


def run_name(index: int) -> str:
    return f"run_{index:03d}_{kind_of(index)}"


# --- Values -------------------------------------------------------------------------------------


def _values(kind: str, model, records: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    """Values tensors [records, rows, fields] (float32) of the three ops for one run of `kind`."""
    sizes = np.array([float(np.prod(shape)) for _, shape in model])
    is_bias = np.array([len(shape) == 1 for _, shape in model])
    count, t = len(model), np.arange(records)
    counter = np.broadcast_to((t + 1.0)[:, None], (records, count + 1))

    # Gradients: a per-variable scale, decaying as training goes, with noise.
    scale = np.where(is_bias, 0.05, 0.5) * rng.uniform(0.5, 2.0, count)
    grad = scale * np.exp(-t / max(records, 1))[:, None] * rng.lognormal(0, 0.25, (records, count))
    if kind == "exploding_bursts":
        burst = max(3, records // 200)
        exploding = np.zeros(records, bool)
        for start in [*range(records // 10, records - burst, records // 10 or 1), records - burst]:
            exploding[start : start + burst] = True
        last_kernel = max(i for i in range(count) if not is_bias[i])
        grad[exploding, last_kernel] *= 1e6  # RMS above the exploding level at every burst record
    grad_rows = np.concatenate([np.sqrt((grad**2).sum(1))[:, None], grad], axis=1)
    zeros = np.zeros_like(grad_rows)
    gradients = np.stack([grad_rows, zeros, zeros, zeros, counter], axis=2)

    # Weights: move by about 1% of the gradient per record, except where frozen.
    moving = np.ones((records, count), bool)
    moving[0] = False
    if kind == "lr_zero":
        moving[:] = False
    elif kind == "turns_stuck":
        moving[int(records * 0.6) :] = False
    elif kind == "frozen_layer":
        moving[:, : max(1, 2 * ((count + 1) // 2 // 2))] = False  # the first half of the layers
    delta = np.where(moving, 0.01 * grad * rng.uniform(0.5, 1.5, (records, count)), 0.0)
    init = np.where(is_bias, 0.0, 0.05 * np.sqrt(sizes))
    norm = init + 0.3 * np.cumsum(delta, axis=0)
    delta_rows = np.concatenate([np.sqrt((delta**2).sum(1))[:, None], delta], axis=1)
    delta_rows[0] = np.nan  # the first record has no previous one
    norm_rows = np.concatenate([np.sqrt((norm**2).sum(1))[:, None], norm], axis=1)
    weights = np.stack([norm_rows, delta_rows, np.zeros_like(norm_rows), counter], axis=2)

    # Outputs, inputs and labels: spread across the batch well above the invariant and collapsed
    # levels.
    spread = np.stack(
        [rng.uniform(0.3, 1.0, records), *rng.uniform(0.9, 1.1, (2, records))], axis=1
    )
    out_scale = spread * rng.uniform(1.0, 1.2, (records, 3))
    ones = np.ones((records, 3))
    outputs = np.stack(
        [spread, spread * 1.3, out_scale, 0 * ones, 0 * ones, BATCH * ones, counter[:, :3]], axis=2
    )
    return {
        GRADIENTS: gradients.astype(np.float32),
        WEIGHTS: weights.astype(np.float32),
        OUTPUTS: outputs.astype(np.float32),
    }


def _holds(op: str, values: np.ndarray, sizes: np.ndarray, kernels: list[int]) -> np.ndarray:
    """[records, rows, conditions] bool: what the summary op's `record` computes from its values.

    `kernels` are the rows of the variables of rank 2 or more, first to last.
    """
    if op == GRADIENTS:
        norm, missing, nonfinite, zero_fraction = (values[..., i] for i in range(4))
        missing = missing > 0
        usable = ~missing & (sizes > 0)
        with np.errstate(invalid="ignore"):
            rms = norm / np.sqrt(np.maximum(sizes, 1.0)).astype(np.float32)
            depth = np.zeros_like(missing)
            if len(kernels) >= 3:
                first, last = rms[:, kernels[0]], rms[:, kernels[-1]]
                depth[:, 0] = (
                    (last > 0)
                    & np.isfinite(last)
                    & (first < thresholds.DEPTH_GRADIENT_RATIO * last)
                    & (first >= thresholds.LEVEL_VANISHING_GRAD_RMS)
                    & (first < thresholds.DEPTH_FIRST_LAYER_RMS)
                )
            return np.stack(
                [
                    missing,
                    (nonfinite > 0) | (usable & ~np.isfinite(norm)),
                    usable & (norm == 0),
                    usable & (rms < thresholds.LEVEL_VANISHING_GRAD_RMS),
                    usable & (rms > thresholds.LEVEL_EXPLODING_GRAD_RMS),
                    zero_fraction >= thresholds.LEVEL_DEAD_UNIT_FRACTION,
                    depth,
                ],
                axis=2,
            )
    if op == WEIGHTS:
        norm, change, nonfinite = values[..., 0], values[..., 1], values[..., 2]
        first = np.zeros(len(values), bool)
        first[0] = True
        usable = (sizes > 0) & ~first[:, None]
        floor = (thresholds.WEIGHT_RMS_FLOOR * np.sqrt(sizes)).astype(np.float32)
        with np.errstate(invalid="ignore", divide="ignore"):
            ratio = change / np.maximum(norm, floor)
            return np.stack(
                [
                    usable & (change == 0),
                    usable & (ratio < thresholds.LEVEL_SLOW_UPDATE_RATIO),
                    nonfinite > 0,
                ],
                axis=2,
            )
    spread, scale, zero_fraction, nonfinite, batch = (values[..., i] for i in (0, 2, 3, 4, 5))
    several = batch >= 2
    collapsed = np.zeros_like(several)
    collapsed[:, 0] = several[:, 0] & (
        spread[:, 0] <= thresholds.LEVEL_COLLAPSED_SPREAD_RATIO * spread[:, 2]
    )
    return np.stack(
        [
            several & (zero_fraction == 1.0),
            several & (spread <= thresholds.LEVEL_INVARIANT_RELATIVE_SPREAD * scale),
            np.zeros_like(several),
            nonfinite > 0,
            collapsed,
        ],
        axis=2,
    )


# Conditions dated from the previous record (summary.py's SINCE_PREVIOUS of each op's state).
SINCE_PREVIOUS = {
    GRADIENTS: (False,) * 7,
    WEIGHTS: (True, True, False),
    OUTPUTS: (False, False, True, False, False),
}


def _since_records(op: str, holds: np.ndarray, steps: np.ndarray, sizes: np.ndarray):
    """{record index: since tensor [rows, conditions + 2]} at the first record and each change.

    The writer's `_Streaks.update`: a condition that holds keeps the step its streak began (this
    record's step, or the previous record's for SINCE_PREVIOUS conditions), NaN where it does not.
    """
    rows, conditions = holds.shape[1:]
    since = np.full((rows, conditions), np.nan)
    flags = np.array(SINCE_PREVIOUS[op])
    tail = np.stack([sizes, np.full(rows, float(steps[0]))], axis=1)
    written = {}
    for t in range(len(holds)):
        previous = float(steps[t - 1]) if t else np.nan
        starts = np.where(flags, previous, float(steps[t]))
        was = ~np.isnan(since)
        since = np.where(holds[t], np.where(was, since, starts), np.nan)
        if t == 0 or (holds[t] != was).any():
            written[t] = np.concatenate([since, tail], axis=1)
    return written


# --- Writing ------------------------------------------------------------------------------------


def write_run(
    run_dir: str | os.PathLike,
    kind: str,
    model: Sequence[tuple[str, tuple[int, ...]]],
    records: int,
    *,
    interval: int = 10,
    seed: int = 0,
    wall_time: float = 1.7e9,
) -> int:
    """Write one run of `kind` with `records` records; return the bytes written."""
    if kind not in KINDS:
        raise ValueError(f"kind must be one of {KINDS}, got {kind!r}")
    _use_fast_crc()
    rng = np.random.default_rng(seed)
    steps = np.arange(records, dtype=np.int64) * interval
    variable_sizes = [float(np.prod(shape)) for _, shape in model]
    sizes = {
        GRADIENTS: np.array([sum(variable_sizes), *variable_sizes]),
        WEIGHTS: np.array([sum(variable_sizes), *variable_sizes]),
        OUTPUTS: np.full(len(OUTPUT_ROWS), np.nan),
    }
    layout_rows = [[MODEL_ROW, "", "", ""]] + [
        [name, "x".join(map(str, shape)), "float32", "1"] for name, shape in model
    ]
    layouts = {
        GRADIENTS: np.array(layout_rows, dtype=object),
        WEIGHTS: np.array(layout_rows, dtype=object),
        OUTPUTS: np.array([[row, "", "", ""] for row in OUTPUT_ROWS], dtype=object),
    }
    values = _values(kind, model, records, rng)
    kernels = [row for row, (_, shape) in enumerate(model, start=1) if len(shape) >= 2]
    holds = {op: _holds(op, values[op], sizes[op], kernels) for op in TAGS}
    since = {op: _since_records(op, holds[op], steps, sizes[op]) for op in TAGS}
    meta = {
        (op, role): metadata.create_summary_metadata(op, role)
        for op in TAGS
        for role in (VALUES, SINCE, LAYOUT)
    }
    os.makedirs(run_dir, exist_ok=True)
    writer = event_file_writer.EventFileWriter(str(run_dir), max_queue_size=1000, flush_secs=600)

    def add(op: str, role: str, step: int, wall: float, tensor: np.ndarray) -> None:
        value = summary_pb2.Summary.Value(
            tag=TAGS[op] + ROLE_SUFFIX[role],
            metadata=meta[op, role],
            tensor=tensor_util.make_tensor_proto(tensor),
        )
        writer.add_event(
            event_pb2.Event(wall_time=wall, step=step, summary=summary_pb2.Summary(value=[value]))
        )

    for t in range(records):
        step, wall = int(steps[t]), wall_time + 0.05 * float(steps[t])
        for op in TAGS:
            if t in since[op]:
                add(op, SINCE, step, wall, since[op][t])
            if t == 0:
                add(op, LAYOUT, step, wall, layouts[op])
            add(op, VALUES, step, wall, values[op][t])
    writer.close()
    return sum(os.path.getsize(path) for path in _event_files(run_dir) if ".bench-" not in path)


def add_scalar_tag(run_dir: str | os.PathLike, points: int, wall_time: float = 1.7e9) -> bool:
    """Add the scalar tag "bench/points_P" with P points (steps 0..P-1) to a run, unless it has it.

    One event per point holding a `simple_value`, as a TF1 or PyTorch writer logs a loss, in an
    event file of its own written by TensorBoard's `RecordWriter` (the framing under
    `EventFileWriter`, without its writer thread: millions of tiny events). Returns whether the tag
    was written.
    """
    suffix = SCALAR_SUFFIX.format(points)
    if any(path.endswith(suffix) for path in _event_files(run_dir)):
        return False
    _use_fast_crc()
    tag = SCALAR_TAG.format(points)
    curve = 2.0 * np.exp(-np.arange(points) / max(points, 1)) + 0.05 * np.sin(np.arange(points))
    path = os.path.join(run_dir, f"events.out.tfevents.{int(wall_time):010d}.synthetic{suffix}")
    with open(path + ".tmp", "wb", buffering=1 << 20) as f:
        writer = record_writer.RecordWriter(f)
        version = event_pb2.Event(wall_time=wall_time, file_version="brain.Event:2")
        writer.write(version.SerializeToString())
        for step, number in enumerate(curve.tolist()):
            value = summary_pb2.Summary.Value(tag=tag, simple_value=number)
            event = event_pb2.Event(
                wall_time=wall_time + 0.005 * step,
                step=step,
                summary=summary_pb2.Summary(value=[value]),
            )
            writer.write(event.SerializeToString())
    os.rename(path + ".tmp", path)  # a file that is there is complete
    return True


def _event_files(run_dir) -> list[str]:
    return glob.glob(os.path.join(run_dir, "events.out.tfevents.*"))


def _write_indexed_run(args: tuple) -> int:
    out, index, variables, records, interval, seed = args
    return write_run(
        os.path.join(out, run_name(index)),
        kind_of(index),
        dense_model(variables),
        records,
        interval=interval,
        seed=seed * 100_003 + index,
        wall_time=1.7e9 + index,
    )


def write_logdir(
    out: str | os.PathLike,
    runs: int,
    variables: int,
    records: int,
    *,
    interval: int = 10,
    seed: int = 0,
    jobs: int | None = None,
) -> int:
    """Write `runs` runs (kinds cycled by KIND_CYCLE) into `out`; return the bytes written."""
    work = [(str(out), i, variables, records, interval, seed) for i in range(runs)]
    with ProcessPoolExecutor(jobs or os.cpu_count()) as pool:
        return sum(pool.map(_write_indexed_run, work))


def add_scalar_tags(out: str | os.PathLike, points: int, jobs: int | None = None) -> int:
    """Add "bench/points_P" to every run directory of `out`; return how many runs got it."""
    runs = sorted(p for p in Path(out).iterdir() if p.is_dir())
    with ProcessPoolExecutor(jobs or os.cpu_count()) as pool:
        return sum(pool.map(add_scalar_tag, runs, [points] * len(runs)))


def estimate_bytes(runs: int, variables: int, records: int) -> int:
    """Bytes of a logdir: per record and run, the three values events (tensor + metadata + framing)."""
    rows = variables + 1
    per_record = 4 * (rows * 5 + rows * 4 + 3 * 7) + 3 * (120 + 16)
    return runs * records * per_record


# --- Validation against TensorFlow-written runs ----------------------------------------------


def validate(workdir: str | os.PathLike, steps: int = 30) -> bool:
    """Write real runs (tests/runs_for_tests.py, TensorFlow) and synthetic ones of the same kinds,
    model and steps; print both `tb-stuck check --json` verdicts and return whether they agree.

    Compared: status, last step, and per finding its kind, severity, targets, since step, message
    and evidence keys (evidence values depend on the numbers, which differ).
    """
    real, synthetic = Path(workdir) / "real", Path(workdir) / "synthetic"
    kinds = ("healthy", "lr_zero", "frozen_layer")
    tests = Path(__file__).resolve().parents[1] / "tests"
    script = (
        f"import sys; sys.path.insert(0, {str(tests)!r}); from runs_for_tests import write_run\n"
        f"for kind in {kinds!r}: write_run({str(real)!r}, kind, kind, steps={steps})"
    )
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3")
    subprocess.run([sys.executable, "-c", script], check=True, env=env)
    for i, kind in enumerate(kinds):
        write_run(synthetic / kind, kind, TINY_MODEL, steps, interval=1, seed=i)
    verdicts = {}
    for name, logdir in (("real", real), ("synthetic", synthetic)):
        for load_fast in ("true", "false"):
            result = subprocess.run(
                [sys.executable, "-m", "tb_stuckplugin.cli", "check", str(logdir), "--json"]
                + ["--load-fast", load_fast],
                capture_output=True,
                text=True,
            )
            verdicts[name, load_fast] = _comparable(json.loads(result.stdout))
    agree = len({json.dumps(v, sort_keys=True) for v in verdicts.values()}) == 1
    for (name, load_fast), runs in verdicts.items():
        print(f"{name:9s} load-fast={load_fast:5s}", json.dumps(runs, sort_keys=True))
    print("verdicts agree" if agree else "VERDICTS DIFFER")
    return agree


def _comparable(check: dict) -> dict:
    return {
        run["run"]: {
            "status": run["status"],
            "last_step": run["last_step"],
            "findings": [
                {
                    "kind": f["kind"],
                    "severity": f["severity"],
                    "targets": f["targets"],
                    "since_step": f["since_step"],
                    "message": f["message"],
                    "evidence": sorted(f["evidence"]),
                }
                for f in run["findings"]
            ],
        }
        for run in check["runs"]
    }


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("out", nargs="?", help="the logdir to write (created)")
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--variables", type=int, default=100)
    parser.add_argument("--steps", type=int, default=10_000, help="recorded steps per run")
    parser.add_argument("--interval", type=int, default=10, help="steps between records")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--jobs", type=int, default=None, help="writer processes (all cores)")
    parser.add_argument(
        "--scalar-points", type=int, metavar="P", help="only add the scalar tag bench/points_P"
    )
    parser.add_argument("--validate", action="store_true", help="compare with TF-written runs")
    args = parser.parse_args(argv)
    if args.validate:
        with tempfile.TemporaryDirectory(prefix="tb_stuck_validate_") as workdir:
            return 0 if validate(workdir) else 1
    if not args.out:
        parser.error("OUT is required unless --validate")
    started = time.perf_counter()
    if args.scalar_points:
        added = add_scalar_tags(args.out, args.scalar_points, args.jobs)
        print(f"added {SCALAR_TAG.format(args.scalar_points)} to {added} runs", end="")
    else:
        estimate = estimate_bytes(args.runs, args.variables, args.steps)
        print(f"writing about {estimate / 2**30:.2f} GiB into {args.out}", flush=True)
        written = write_logdir(
            args.out,
            args.runs,
            args.variables,
            args.steps,
            interval=args.interval,
            seed=args.seed,
            jobs=args.jobs,
        )
        print(f"wrote {written / 2**30:.2f} GiB", end="")
    print(f" in {time.perf_counter() - started:.0f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
