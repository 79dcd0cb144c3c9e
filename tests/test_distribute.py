"""Under tf.distribute the summary ops and StuckMonitor write one set of values per step, as one device.

The jobs run in fresh processes (tests/distributed_jobs.py): MirroredStrategy over two logical CPUs
beside the same jobs on one device, and a real two-worker MultiWorkerMirroredStrategy job on
127.0.0.1. Event files are read back with TensorBoard's EventAccumulator and `tb-stuck check`.
"""

import json
import os
import socket
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
import tensorflow as tf
from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

from tb_stuckplugin import cli
from tb_stuckplugin.record_format import GRADIENTS, SINCE_FIELDS, WEIGHTS

JOBS = Path(__file__).with_name("distributed_jobs.py")
JOB_TIMEOUT_S = 300
# Steps of the custom loop: 128 examples in global batches of 16, recorded every 2 steps.
LOOP_RECORDS = [0, 2, 4, 6]
# StuckMonitor's fit: 2 epochs of 4 steps, recorded every 2 steps.
FIT_RECORDS = [0, 2, 4, 6]


def read_run(path: Path) -> dict[str, list[tuple[int, np.ndarray]]]:
    """{tag: [(step, array)]} of every tensor in the run at `path`."""
    accumulator = EventAccumulator(str(path), size_guidance={"tensors": 0})
    accumulator.Reload()
    return {
        tag: [(e.step, tf.make_ndarray(e.tensor_proto)) for e in accumulator.Tensors(tag)]
        for tag in accumulator.Tags()["tensors"]
    }


def job_environment() -> dict[str, str]:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    env.pop("TF_CONFIG", None)
    return env


@pytest.fixture(scope="module")
def mirrored_jobs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("mirrored")
    job = subprocess.run(
        [sys.executable, str(JOBS), "mirrored", str(out)],
        env=job_environment(),
        capture_output=True,
        text=True,
        timeout=JOB_TIMEOUT_S,
    )
    assert job.returncode == 0, job.stdout + job.stderr
    return out


def assert_same_records(distributed: dict, single: dict, steps: list[int], rtol: float) -> None:
    """The same tags, each written once per recorded step, with the same values."""
    assert sorted(distributed) == sorted(single)
    for tag in ("gradients", "weights", "outputs"):
        assert [step for step, _ in distributed[tag]] == steps, tag
        for (_, got), (_, want) in zip(distributed[tag], single[tag]):
            np.testing.assert_allclose(got, want, rtol=rtol, atol=1e-6, equal_nan=True)
        for role in ("since", "layout"):
            got, want = distributed[f"{tag}/{role}"], single[f"{tag}/{role}"]
            assert [step for step, _ in got] == [step for step, _ in want], f"{tag}/{role}"
            for (_, got_value), (_, want_value) in zip(got, want):
                np.testing.assert_array_equal(got_value, want_value)


def test_summary_ops_in_strategy_run_write_what_one_device_writes(mirrored_jobs):
    distributed = read_run(mirrored_jobs / "ops_mirrored")
    single = read_run(mirrored_jobs / "ops_single")
    assert_same_records(distributed, single, LOOP_RECORDS, rtol=1e-5)
    # The outputs, inputs and labels are those of the global batch, gathered from both replicas.
    _, outputs = distributed["outputs"][0]
    assert outputs[:, -2].tolist() == [16, 16, 16]


@pytest.mark.parametrize("job", ["float32", "mixed_float16", "sparse"])
def test_keras_callback_under_mirrored_strategy_writes_what_one_device_writes(mirrored_jobs, job):
    distributed = read_run(mirrored_jobs / f"keras_{job}_mirrored" / "train")
    single = read_run(mirrored_jobs / f"keras_{job}_single" / "train")
    # Half precision: the two replicas and the single device round differently.
    rtol = 1e-2 if job == "mixed_float16" else 1e-5
    assert_same_records(distributed, single, FIT_RECORDS, rtol=rtol)


def test_keras_callback_refuses_jit_compile_under_a_strategy(mirrored_jobs):
    assert "jit_compile=True under tf.distribute" in (mirrored_jobs / "jit_refused.txt").read_text()
    assert not (mirrored_jobs / "train").exists()


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.fixture(scope="module")
def two_worker_job(tmp_path_factory) -> tuple[Path, list[subprocess.Popen], list[tuple[str, str]]]:
    """A two-worker job of tests/distributed_jobs.py; workers are killed if it fails or hangs."""
    out = tmp_path_factory.mktemp("multiworker")
    cluster = {"worker": [f"127.0.0.1:{free_port()}", f"127.0.0.1:{free_port()}"]}
    workers = []
    try:
        for index in range(2):
            env = job_environment()
            env["TF_CONFIG"] = json.dumps(
                {"cluster": cluster, "task": {"type": "worker", "index": index}}
            )
            workers.append(
                subprocess.Popen(
                    [sys.executable, str(JOBS), "worker", str(out)],
                    env=env,
                    stdout=subprocess.PIPE,
                    stderr=subprocess.PIPE,
                    text=True,
                )
            )
        outputs = [w.communicate(timeout=JOB_TIMEOUT_S) for w in workers]
    finally:
        for w in workers:
            if w.poll() is None:
                w.kill()
                w.communicate()
    for w, (stdout, stderr) in zip(workers, outputs):
        assert w.returncode == 0, stdout + stderr
    return out, workers, outputs


def test_multiworker_only_the_chief_writes(two_worker_job):
    out, (chief, other), _ = two_worker_job
    written = [p for p in out.rglob("*") if p.is_file()]
    assert {p.parent.relative_to(out).as_posix() for p in written} == {"ops", "keras/train"}
    # Event file names carry the writing process' id.
    assert all(f".{chief.pid}." in p.name for p in written)
    assert not any(f".{other.pid}." in p.name for p in written)
    for run in ("ops", "keras/train"):
        assert {"gradients", "weights", "outputs"} <= set(read_run(out / run))


def test_multiworker_stuck_job_is_diagnosed_and_stops_on_every_worker(two_worker_job, capsys):
    out, _, outputs = two_worker_job
    ops = read_run(out / "ops")
    assert [step for step, _ in ops["gradients"]] == LOOP_RECORDS
    # Learning rate 0: every variable unchanged since the first record, with non-zero gradients.
    _, weights_since = ops["weights/since"][-1]
    assert (weights_since[:, SINCE_FIELDS[WEIGHTS].index("unchanged")] == 0).all()
    _, gradients = ops["gradients"][-1]
    assert gradients[0, 0] > 0
    _, gradients_since = ops["gradients/since"][-1]
    assert np.isnan(gradients_since[:, SINCE_FIELDS[GRADIENTS].index("zero")]).all()

    assert cli.main(["check", str(out), "--json", "--load-fast", "false"]) == cli.EXIT_STUCK
    reports = {r["run"]: r for r in json.loads(capsys.readouterr().out)["runs"]}
    assert set(reports) == {"ops", "keras/train"}
    for report in reports.values():
        assert report["status"] == "stuck"
        assert report["findings"][0]["kind"] == "frozen_weights"

    # stop_on_stuck: the chief decides, and both workers stop at the same step, well before the end.
    results = [json.loads(stdout.strip().splitlines()[-1]) for stdout, _ in outputs]
    assert results[0]["steps"] == results[1]["steps"] < 10 * 4
    assert results[0]["epochs"] == results[1]["epochs"] < 10
    (_, chief_log), (_, other_log) = outputs
    assert "training is stuck at step" in chief_log
    assert "training is stuck" not in other_log
