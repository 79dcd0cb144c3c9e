"""The real `tensorboard` command finds, enables and serves the plugin (issue 4), with either loader.

TensorBoard is started on a free port of 127.0.0.1 with `--load_fast=true` (the Rust data server)
and `--load_fast=false` (the Python loader), over runs written by the summary ops; the test reads
what the browser reads: the plugins listing, the iframe entry page, the ES module, the JSON routes.
"""

from __future__ import annotations

import json
import time
from pathlib import Path

import pytest
from runs_for_tests import write_run
from tensorboard_process import TensorBoardProcess

from tb_stuckplugin import plugin

pytestmark = pytest.mark.slow

ROUTE = "/data/plugin/stuck"
RUNS = {"healthy": "ok", "lr_zero": "stuck", "scalars_only": "no_data"}
LOAD_WAIT_S = 90


@pytest.fixture(scope="module")
def event_logdir(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("smoke")
    for name in RUNS:
        write_run(logdir, name, name)
    return logdir


def wait_for_runs(board: TensorBoardProcess, expected: dict[str, str]) -> dict[str, dict]:
    """/runs by run name once every expected run has its status (or the last answer on timeout)."""
    deadline = time.monotonic() + LOAD_WAIT_S
    while True:
        runs = {r["run"]: r for r in board.get_json(f"{ROUTE}/runs")["runs"]}
        statuses = {name: entry["status"] for name, entry in runs.items()}
        if statuses == expected or time.monotonic() > deadline:
            return runs
        time.sleep(0.5)


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_tensorboard_serves_the_plugin(event_logdir, load_fast):
    with TensorBoardProcess(event_logdir, load_fast=load_fast, reload_interval=1) as board:
        runs = wait_for_runs(board, RUNS)
        assert {name: r["status"] for name, r in runs.items()} == RUNS, board.log()
        assert list(runs) == ["lr_zero", "healthy", "scalars_only"]

        listing = board.get_json("/data/plugins_listing")
        assert listing["stuck"]["enabled"] is True
        assert listing["stuck"]["loading_mechanism"] == {
            "type": "IFRAME",
            "module_path": f"{ROUTE}/index.js",
        }

        status, content_type, body = board.get("/data/plugin_entry.html?name=stuck")
        assert status == 200 and content_type.startswith("text/html")
        assert b'<base href="plugin/stuck/" />' in body and b'import("./index.js")' in body

        status, content_type, body = board.get(f"{ROUTE}/index.js")
        static = Path(plugin.__file__).parent / "static"
        assert status == 200 and content_type.startswith("text/javascript")
        assert body == (static / "index.js").read_bytes()
        status, content_type, _ = board.get(f"{ROUTE}/static/app.js")
        assert status == 200 and content_type.startswith("text/javascript")

        report = board.get_json(f"{ROUTE}/report?run=lr_zero")
        assert report["status"] == "stuck" and report["last_step"] == 29
        assert [f["kind"] for f in report["findings"]] == ["frozen_weights"]
        assert len(report["variables"]) == 4 and len(report["outputs"]) == 1

        for path, expected in (
            (f"{ROUTE}/report", 400),
            (f"{ROUTE}/report?run=nope", 404),
            (f"{ROUTE}/static/../plugin.py", 404),
            (f"{ROUTE}/static/%2e%2e/plugin.py", 404),
            (f"{ROUTE}/static/..%5cplugin.py", 404),
        ):
            status, content_type, body = board.get(path)
            assert status == expected, (path, body)
            if "/report" in path:
                assert content_type == "application/json" and set(json.loads(body)) == {"error"}
