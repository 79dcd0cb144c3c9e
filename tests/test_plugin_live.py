"""A run that turns stuck while TensorBoard runs shows as stuck, without restarting it (issue 4).

A writer subprocess trains healthily and flushes every step; once TensorBoard lists the run as ok,
the test tells the writer to set the learning rate to 0, and waits for `/runs` to say stuck. Both
loaders are covered: they reload growing event files differently.
"""

from __future__ import annotations

import time
from pathlib import Path

import pytest
from runs_for_tests import start_live_writer
from tensorboard_process import TensorBoardProcess

pytestmark = pytest.mark.slow

ROUTE = "/data/plugin/stuck"
RUN = "live"
WAIT_S = 120


def wait_for_status(board: TensorBoardProcess, status: str, min_step: int = 0) -> dict | None:
    """The run's /runs entry once it has `status` at a step >= min_step; None after WAIT_S."""
    deadline = time.monotonic() + WAIT_S
    while time.monotonic() < deadline:
        runs = {r["run"]: r for r in board.get_json(f"{ROUTE}/runs")["runs"]}
        entry = runs.get(RUN)
        if entry and entry["status"] == status and entry["last_step"] >= min_step:
            return entry
        time.sleep(0.5)
    return None


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_run_turning_stuck_shows_as_stuck_without_restart(tmp_path: Path, load_fast):
    logdir = tmp_path / "logs"
    logdir.mkdir()
    stuck_file = tmp_path / "go_stuck"
    with (
        start_live_writer(logdir, RUN, stuck_file) as writer,
        TensorBoardProcess(logdir, load_fast=load_fast, reload_interval=1) as board,
    ):
        healthy = wait_for_status(board, "ok", min_step=5)
        assert healthy is not None, (board.log(), writer.log.read_text())
        assert healthy["headline"] == "Training looks healthy"

        stuck_file.touch()
        stuck = wait_for_status(board, "stuck")
        assert stuck is not None, (board.log(), writer.log.read_text())
        assert stuck["kinds"] == ["frozen_weights"]
        assert stuck["last_step"] > healthy["last_step"]

        report = board.get_json(f"{ROUTE}/report?run={RUN}")
        [finding] = report["findings"]
        assert finding["kind"] == "frozen_weights" and finding["severity"] == "error"
        # Frozen from the step the learning rate dropped: not before the healthy steps seen.
        assert healthy["last_step"] <= finding["since_step"] <= stuck["last_step"]
        assert writer.process.poll() is None, writer.log.read_text()
