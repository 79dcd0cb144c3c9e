"""The demo's training part, on a short setting: every demo run gets the status it was made to show."""

import json
import os
import subprocess
import sys

import pytest

sys.path.insert(0, os.path.join(os.path.dirname(__file__), "..", "demo"))

from demo import EXPECTED_STATUS  # noqa: E402

ROOT = os.path.join(os.path.dirname(__file__), "..")
TB_STUCK = os.path.join(os.path.dirname(sys.executable), "tb-stuck")


@pytest.fixture(scope="module")
def demo_logdir(tmp_path_factory):
    logdir = tmp_path_factory.mktemp("demo") / "runs"
    # Half the demo's default 600 steps: every fault shows well within it.
    command = [sys.executable, "demo/demo.py", "--logdir", str(logdir), "--steps", "300"]
    completed = subprocess.run(
        [*command, "--no-tensorboard"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert completed.returncode == 0, completed.stderr[-3000:]
    return logdir, completed.stdout


def test_every_demo_run_gets_the_status_it_was_made_to_show(demo_logdir):
    logdir, _ = demo_logdir
    completed = subprocess.run(
        [TB_STUCK, "check", str(logdir), "--json"], capture_output=True, text=True, timeout=300
    )
    assert completed.returncode == 1, completed.stderr  # at least one run is stuck
    got = {run["run"]: run["status"] for run in json.loads(completed.stdout)["runs"]}
    assert got == EXPECTED_STATUS


def test_demo_prints_the_verdict_table(demo_logdir):
    _, stdout = demo_logdir
    table = stdout[stdout.index("RUN ") :]
    for run, status in EXPECTED_STATUS.items():
        line = next(line for line in table.splitlines() if line.startswith(run + " "))
        assert status.upper() in line
