"""Memory that `weight_deltas` adds on a model of over 50M parameters: what it keeps, and its peak.

    .venv/bin/python bench/bench_weight_memory.py [--layers 12] [--width 2048] [--calls 5]

Model: `--layers` x Dense(`--width`) on `--width` inputs (default 12 x 2048: 50.4M float32
parameters, 201 MB). Reported, against the parameter bytes:

- what the op keeps between calls: `_WeightState.state_bytes()` (the sketches: coefficients,
  previous sketch, exact tails), and every `tf.Variable` its first call created (found by
  comparing the live variables before and after), which adds the streaks and counters;
- the process's peak resident memory during a recorded call above the resident memory just before
  it (Linux: the peak is reset through /proc/self/clear_refs), in a `tf.function` and eagerly, with
  the weights moved between calls as an optimizer would; beside the same figure for a function that
  reads every weight once (`tf.nn.l2_loss`, the least a pass costs) and for one that copies the
  largest variable (which shows what a copy would look like);
- the growth of resident memory over the first call (tracing and state creation), for scale.
"""

from __future__ import annotations

import os

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
os.environ["OMP_NUM_THREADS"] = "1"

import argparse  # noqa: E402
import ctypes  # noqa: E402
import gc  # noqa: E402
import statistics  # noqa: E402
import tempfile  # noqa: E402
from collections.abc import Callable  # noqa: E402

import tensorflow as tf  # noqa: E402

tf.config.threading.set_intra_op_parallelism_threads(1)
tf.config.threading.set_inter_op_parallelism_threads(1)

import keras  # noqa: E402

from tb_stuckplugin import summary  # noqa: E402

MB = 1e6
M_MMAP_THRESHOLD = -3  # glibc mallopt parameter


def release_large_blocks() -> None:
    """Make glibc serve blocks of 64 KiB and more by mmap and unmap them when freed.

    Otherwise it raises its threshold after the first large free and serves later tensors from its
    heap, whose freed pages stay resident: a later temporary tensor would reuse them and not show.
    """
    ctypes.CDLL("libc.so.6").mallopt(M_MMAP_THRESHOLD, 64 * 1024)


def resident() -> tuple[int, int]:
    """(current, peak) resident set size of this process, in bytes."""
    fields = {}
    with open("/proc/self/status") as status:
        for line in status:
            if line.startswith(("VmRSS:", "VmHWM:")):
                key, value = line.split(":")
                fields[key] = int(value.split()[0]) * 1024
    return fields["VmRSS"], fields["VmHWM"]


def peak_above_start(call: Callable[[], object]) -> int:
    """Bytes by which the resident set peaked during `call()` above where it was just before."""
    gc.collect()
    with open("/proc/self/clear_refs", "w") as clear:
        clear.write("5")  # resets the peak (VmHWM) to the current resident set
    start, _ = resident()
    call()
    _, peak = resident()
    return peak - start


def allocator_peak_above_start(call: Callable[[], object]) -> int | None:
    """Bytes by which TensorFlow's CPU allocator peaked during `call()` above its start, if it tells.

    oneDNN builds (the default) allocate tensors from a pool that keeps its memory: after the first
    call the resident set no longer moves, but the pool counts what tensors take.
    """
    try:
        tf.config.experimental.reset_memory_stats("CPU:0")
        start = tf.config.experimental.get_memory_info("CPU:0")["current"]
    except ValueError:  # an allocator without statistics (e.g. TF_ENABLE_ONEDNN_OPTS=0)
        return None
    call()
    return tf.config.experimental.get_memory_info("CPU:0")["peak"] - start


def live_variables() -> dict[int, tf.Variable]:
    """The tf.Variables alive in this process, by id."""
    gc.collect()
    return {id(v): v for v in gc.get_objects() if isinstance(v, tf.Variable)}


def variable_bytes(v: tf.Variable) -> int:
    return v.shape.num_elements() * tf.as_dtype(v.dtype).size


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--layers", type=int, default=12)
    parser.add_argument("--width", type=int, default=2048)
    parser.add_argument("--calls", type=int, default=5, help="recorded calls measured per way")
    args = parser.parse_args()
    release_large_blocks()

    keras.utils.set_random_seed(0)
    model = keras.Sequential(
        [keras.Input((args.width,))] + [keras.layers.Dense(args.width) for _ in range(args.layers)]
    )
    variables = model.trainable_variables
    parameters = sum(v.shape.num_elements() for v in variables)
    parameter_bytes = sum(variable_bytes(v) for v in variables)
    largest = max(variables, key=lambda v: v.shape.num_elements())
    step = tf.Variable(0, dtype=tf.int64)
    writer = tf.summary.create_file_writer(tempfile.mkdtemp(prefix="bench_weight_memory_"))

    # Moves every weight in place, as an optimizer does: no temporary tensors.
    update = {tuple(v.shape): tf.fill(v.shape, 1e-4) for v in variables}

    @tf.function
    def move_weights():
        for v in variables:
            v.assign_add(update[tuple(v.shape)])
        step.assign_add(1)

    record_in_function = tf.function(lambda: summary.weight_deltas(variables, step=step))
    one_pass = tf.function(lambda: tf.add_n([tf.nn.l2_loss(v) for v in variables]))
    copy_largest = tf.function(lambda: tf.reduce_sum(tf.identity(largest) + 1.0))

    with writer.as_default():
        before = live_variables()
        rss_before, _ = resident()
        record_in_function()  # traces, creates the state, writes the first record
        rss_growth = resident()[0] - rss_before
        created = [v for key, v in live_variables().items() if key not in before]
        state = next(s for s in summary._STATES.values() if isinstance(s, summary._WeightState))
        for f in (one_pass, copy_largest):
            f()

        peaks: dict[str, list[int]] = {}
        allocated: dict[str, list[int | None]] = {}
        ways = {
            "weight_deltas in tf.function": record_in_function,
            "weight_deltas eagerly": lambda: summary.weight_deltas(variables, step=step),
            "reference: one read of every weight (l2_loss)": one_pass,
            "reference: a copy of the largest variable": copy_largest,
        }
        summary.weight_deltas(variables, step=step)  # the eager path's first call
        for _ in range(args.calls):
            for name, call in ways.items():
                move_weights()
                peaks.setdefault(name, []).append(peak_above_start(call))
                move_weights()
                allocated.setdefault(name, []).append(allocator_peak_above_start(call))

    def share(n: float) -> str:
        return f"{n / MB:.3f} MB ({100 * n / parameter_bytes:.3f}% of parameters)"

    print(
        f"# {args.layers} x Dense({args.width}): {parameters / 1e6:.1f}M parameters, "
        f"{parameter_bytes / MB:.1f} MB; largest variable {variable_bytes(largest) / MB:.1f} MB; "
        f"TensorFlow {tf.__version__}, Keras {keras.__version__}"
    )
    print("| kept between calls | bytes |")
    print("|---|---|")
    print(f"| `_WeightState.state_bytes()` (sketches) | {share(state.state_bytes())} |")
    coefficients = sum(4 * s.coefficients.shape.num_elements() for s in state.memory.sketches)
    print(f"| of which the chunks' coefficients (tf constants) | {share(coefficients)} |")
    print(
        f"| tf.Variables the first call created ({len(created)}) | "
        f"{share(sum(variable_bytes(v) for v in created))} |"
    )
    print(f"| resident memory growth over the first call (tracing too) | {share(rss_growth)} |")
    print(
        f"\n| during a recorded call ({args.calls} calls: median; max) | process peak RSS above "
        "its start | TensorFlow allocator peak above its start |"
    )
    print("|---|---|---|")
    for name, values in peaks.items():
        rss = f"{share(statistics.median(values))}; {share(max(values))}"
        tensors = allocated[name]
        pool = "not available"
        if None not in tensors:
            pool = f"{share(statistics.median(tensors))}; {share(max(tensors))}"
        print(f"| {name} | {rss} | {pool} |")


if __name__ == "__main__":
    main()
