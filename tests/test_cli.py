"""`tb-stuck check` and `tb-stuck watch` on good and bad logdirs (issue 3, the command).

The installed console script is run as a user runs it, over runs written by the summary ops: the
readable table, the JSON of docs/api.md (the same verdicts as the plugin's report), `--run`, exit
codes 0/1/2, both loaders, a watch that follows a live run until it turns stuck, and logdirs a real
job leaves behind: empty, truncated by a kill, corrupted, partly logged, resumed from a checkpoint,
still being written. A bad input gets a message or a sensible verdict, never a traceback.
"""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest
from eventdata import python_loader
from runs_for_tests import (
    corrupt_event_file,
    start_live_writer,
    truncate_last_event_file,
    write_run,
)
from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

from tb_stuckplugin import plugin

TB_STUCK = str(Path(sys.executable).parent / "tb-stuck")
RUNS = {"healthy": "ok", "lr_zero": "stuck", "frozen_layer": "warning", "scalars_only": "no_data"}
RUN_KEYS = {"run", "status", "last_step", "findings"}
FINDING_KEYS = {"kind", "severity", "targets", "since_step", "evidence", "message", "causes"}
COMMAND_TIMEOUT_S = 120
WATCH_WAIT_S = 120
NOT_POSITIVE = "argument --interval: must be a positive number"
LIVE = "live"


def tb_stuck(*args: str) -> subprocess.CompletedProcess:
    """Run the installed `tb-stuck` console script and return its result."""
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.run(
        [TB_STUCK, *args], capture_output=True, text=True, timeout=COMMAND_TIMEOUT_S, env=env
    )


def assert_no_traceback(result: subprocess.CompletedProcess) -> None:
    assert "Traceback" not in result.stderr and "Traceback" not in result.stdout, result.stderr


def check_json(*args: str) -> tuple[int, dict]:
    result = tb_stuck("check", *args, "--json")
    assert_no_traceback(result)
    return result.returncode, json.loads(result.stdout)


@pytest.fixture(scope="module")
def event_logdir(tmp_path_factory) -> Path:
    logdir = tmp_path_factory.mktemp("cli")
    for name in RUNS:
        write_run(logdir, name, name)
    return logdir


def test_check_prints_a_readable_table(event_logdir):
    result = tb_stuck("check", str(event_logdir))
    assert_no_traceback(result)
    assert result.returncode == 1
    lines = result.stdout.splitlines()
    assert lines[0].split() == ["RUN", "STATUS", "STEP", "HEADLINE"]
    rows = [line.split()[:3] for line in lines[1:5]]
    assert rows == [
        ["lr_zero", "STUCK", "29"],
        ["frozen_layer", "WARNING", "29"],
        ["healthy", "OK", "29"],
        ["scalars_only", "NO_DATA", "-"],
    ]
    assert "All 4 trainable variables frozen since step 0" in lines[1]
    assert "Training looks healthy" in lines[3]
    assert "No tb-stuckplugin data in this run" in lines[4]
    details = result.stdout.split("\n\n")
    lr_zero = next(part for part in details if part.startswith("lr_zero (stuck):"))
    assert "[error] frozen_weights:" in lr_zero
    assert "where: model/hidden/kernel, model/hidden/bias" in lr_zero
    assert "1. The learning rate is zero" in lr_zero
    assert lines[-1] == "1 stuck, 1 warning, 1 ok, 1 no data"


def test_check_json_has_the_documented_shape(event_logdir):
    code, body = check_json(str(event_logdir))
    assert code == 1
    assert set(body) == {"logdir", "runs"} and body["logdir"] == str(event_logdir)
    assert [r["run"] for r in body["runs"]] == [
        "lr_zero",
        "frozen_layer",
        "healthy",
        "scalars_only",
    ]
    for run in body["runs"]:
        assert set(run) == RUN_KEYS
        assert run["status"] == RUNS[run["run"]]
        assert run["last_step"] == (None if run["status"] == "no_data" else 29)
        for finding in run["findings"]:
            assert set(finding) == FINDING_KEYS
            assert all(set(cause) == {"cause", "check"} for cause in finding["causes"])
    [finding] = body["runs"][0]["findings"]
    assert (finding["kind"], finding["severity"], finding["since_step"]) == (
        "frozen_weights",
        "error",
        0,
    )


def test_check_json_equals_the_plugin_report(event_logdir):
    """The command and the panel diagnose with the same code: same findings, to the letter."""
    _, body = check_json(str(event_logdir))
    provider = python_loader(event_logdir, {"stuck": 0})
    context = base_plugin.TBContext(logdir=str(event_logdir), data_provider=provider)
    app = application.TensorBoardWSGI([plugin.StuckPlugin(context)], data_provider=provider)
    client = werkzeug_test.Client(app, wrappers.Response)
    for run in body["runs"]:
        report = client.get("/data/plugin/stuck/report", query_string={"run": run["run"]}).json
        assert run == {key: report[key] for key in RUN_KEYS}


def test_both_loaders_give_the_same_verdicts(event_logdir):
    fast = check_json(str(event_logdir), "--load-fast=true")
    slow = check_json(str(event_logdir), "--load-fast=false")
    assert fast == slow
    assert fast[0] == 1


def test_run_filter_selects_runs_and_sets_the_exit_code(event_logdir):
    code, body = check_json(str(event_logdir), "--run", "^(healthy|frozen)")
    assert code == 0
    assert [r["run"] for r in body["runs"]] == ["frozen_layer", "healthy"]
    code, body = check_json(str(event_logdir), "--run", "zero")
    assert code == 1 and [r["run"] for r in body["runs"]] == ["lr_zero"]
    result = tb_stuck("check", str(event_logdir), "--run", "no-such-run")
    assert result.returncode == 0
    assert result.stdout.strip() == f"No runs in {event_logdir} match --run 'no-such-run'."


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["check", "/no/such/logdir"], "/no/such/logdir: no such directory"),
        (["watch", "/no/such/logdir", "--interval", "1"], "/no/such/logdir: no such directory"),
        (["check", "LOGDIR", "--run", "("], "--run: bad regular expression"),
        (["check", "LOGDIR", "--load-fast", "maybe"], "invalid choice: 'maybe'"),
        (["watch", "LOGDIR", "--interval", "0"], NOT_POSITIVE),
        (["watch", "LOGDIR", "--interval", "-1"], NOT_POSITIVE),
        (["watch", "LOGDIR", "--interval", "inf"], NOT_POSITIVE),
        (["watch", "LOGDIR", "--interval", "soon"], "argument --interval: not a number: 'soon'"),
        (["check"], "the following arguments are required: logdir"),
        ([], "the following arguments are required: command"),
    ],
)
def test_usage_and_read_errors_exit_2_with_a_message(args, message, tmp_path):
    args = [str(tmp_path) if a == "LOGDIR" else a for a in args]
    result = tb_stuck(*args)
    assert_no_traceback(result)
    assert result.returncode == 2
    assert message in result.stderr
    assert result.stdout == ""


@pytest.fixture(scope="module")
def bad_logdir(tmp_path_factory) -> Path:
    """Runs as real jobs leave them: killed mid-write, corrupted, partly logged, resumed."""
    logdir = tmp_path_factory.mktemp("bad")
    truncate_last_event_file(write_run(logdir, "truncated", "healthy"))
    corrupt_event_file(write_run(logdir, "corrupt", "lr_zero"))
    write_run(logdir, "only_gradients", "only_gradients")
    write_run(logdir, "only_outputs", "only_outputs")
    # A job resumed from a checkpoint: steps 0..50, then a new process writes 30..80.
    write_run(logdir, "resumed", "healthy", steps=51)
    write_run(logdir, "resumed", "healthy", steps=51, first_step=30, seed=1)
    # The same, but the resumed job has a learning rate of 0.
    write_run(logdir, "resumed_stuck", "healthy", steps=51)
    write_run(logdir, "resumed_stuck", "lr_zero", steps=51, first_step=30, seed=1)
    return logdir


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_bad_logdirs_give_sensible_verdicts(bad_logdir, load_fast):
    code, body = check_json(str(bad_logdir), f"--load-fast={load_fast}")
    runs = {r["run"]: r for r in body["runs"]}
    assert code == 1
    assert set(runs) == {
        "truncated",
        "corrupt",
        "only_gradients",
        "only_outputs",
        "resumed",
        "resumed_stuck",
    }
    # Killed mid-write: the last record is lost, what was written before is diagnosed.
    assert runs["truncated"]["status"] == "ok" and 28 <= runs["truncated"]["last_step"] <= 29
    # A corrupt record: the records before it are diagnosed (the run is indeed frozen).
    assert runs["corrupt"]["status"] == "stuck"
    assert 3 <= runs["corrupt"]["last_step"] <= 29
    for name in ("only_gradients", "only_outputs"):
        assert runs[name]["status"] == "ok" and runs[name]["findings"] == [], runs[name]
        assert runs[name]["last_step"] == 29
    assert runs["resumed"]["status"] == "ok" and runs["resumed"]["last_step"] == 80
    [finding] = runs["resumed_stuck"]["findings"]
    assert runs["resumed_stuck"]["last_step"] == 80
    assert (finding["kind"], finding["severity"], finding["since_step"]) == (
        "frozen_weights",
        "error",
        30,
    )


def test_bad_logdirs_readable_output_has_no_traceback(bad_logdir):
    result = tb_stuck("check", str(bad_logdir))
    assert_no_traceback(result)
    assert result.returncode == 1
    assert result.stdout.splitlines()[-1] == "2 stuck, 4 ok"


def test_empty_logdir_says_so(tmp_path):
    result = tb_stuck("check", str(tmp_path))
    assert_no_traceback(result)
    assert result.returncode == 0
    assert result.stdout.strip() == f"No runs in {tmp_path}."
    code, body = check_json(str(tmp_path))
    assert code == 0 and body == {"logdir": str(tmp_path), "runs": []}


def test_folder_name_that_is_not_utf8(event_logdir, tmp_path):
    """The data server reads it; TensorBoard's Python loader cannot, and the user is told so."""
    logdir = tmp_path / "logs"
    logdir.mkdir()
    os.symlink(event_logdir / "lr_zero", os.path.join(os.fsencode(logdir), b"bad\xff"))
    code, body = check_json(str(logdir), "--load-fast=true")
    assert code == 1 and [r["status"] for r in body["runs"]] == ["stuck"]
    result = tb_stuck("check", str(logdir), "--load-fast=false")
    assert_no_traceback(result)
    assert result.returncode == 2
    assert "not UTF-8" in result.stderr and "--load-fast=true" in result.stderr


def wait_for_event_bytes(run_dir: Path, size: int) -> None:
    """Wait until the run's event files hold `size` bytes (a few steps written and flushed)."""
    deadline = time.monotonic() + WATCH_WAIT_S
    while time.monotonic() < deadline:
        if sum(p.stat().st_size for p in run_dir.glob("events.out.tfevents.*")) >= size:
            return
        time.sleep(0.2)


@pytest.mark.parametrize("load_fast", ["true", "false"])
def test_check_reads_a_run_still_being_written(tmp_path, load_fast):
    logdir = tmp_path / "logs"
    with start_live_writer(logdir, LIVE, tmp_path / "never") as writer:
        wait_for_event_bytes(logdir / LIVE, 10_000)
        code, body = check_json(str(logdir), f"--load-fast={load_fast}")
        assert writer.process.poll() is None, writer.log.read_text()
    [run] = body["runs"]
    assert code == 0
    assert run["run"] == LIVE and run["status"] == "ok" and run["last_step"] >= 3


class Lines:
    """The lines a process prints on stdout, read in a thread, with a timed wait for the next."""

    def __init__(self, process: subprocess.Popen):
        self._queue: queue.Queue[str | None] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, args=(process.stdout,), daemon=True).start()

    def _read(self, stream) -> None:
        for line in stream:
            self._queue.put(line.rstrip("\n"))
        self._queue.put(None)

    def wait_for(self, condition, timeout: float = WATCH_WAIT_S) -> str | None:
        """The first new line for which `condition` holds; None at the end of output or timeout."""
        deadline = time.monotonic() + timeout
        while True:
            try:
                line = self._queue.get(timeout=max(0.0, deadline - time.monotonic()))
            except queue.Empty:
                return None
            if line is None:
                return None
            self.seen.append(line)
            if condition(line):
                return line


def start_watch(*args: str) -> subprocess.Popen:
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2")
    return subprocess.Popen(
        [TB_STUCK, "watch", *args],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
        env=env,
    )


def children_of(pid: int) -> list[int]:
    """Processes whose parent is `pid` (Linux /proc)."""
    found = []
    for stat in Path("/proc").glob("[0-9]*/stat"):
        try:
            fields = stat.read_text().rsplit(")", 1)[1].split()
        except (OSError, IndexError):
            continue
        if int(fields[1]) == pid:
            found.append(int(stat.parent.name))
    return found


def is_running(pid: int) -> bool:
    try:
        state = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    except OSError:
        return False
    return state != "Z"


def test_watch_follows_a_live_run_and_exits_once_it_is_stuck(tmp_path):
    logdir = tmp_path / "logs"
    logdir.mkdir()
    stuck_file = tmp_path / "go_stuck"
    with start_live_writer(logdir, LIVE, stuck_file) as writer:
        watch = start_watch(str(logdir), "--interval", "1", "--exit-on-stuck")
        try:
            lines = Lines(watch)
            header = lines.wait_for(lambda line: True)
            assert header == f"watching {logdir} every 1 s (Ctrl-C to stop)"
            healthy = lines.wait_for(lambda line: f"{LIVE}: " in line and "OK at step" in line)
            assert healthy is not None, (lines.seen, writer.log.read_text())
            stuck_file.touch()
            stuck = lines.wait_for(lambda line: "STUCK" in line)
            assert stuck is not None, lines.seen
            assert f"{LIVE}: OK -> STUCK at step" in stuck
            assert "frozen since step" in stuck
            assert watch.wait(timeout=30) == 1
            assert "Traceback" not in watch.stderr.read()
        finally:
            watch.kill()
            watch.wait()
    # One line per change of status: never the same status twice in a row.
    statuses = [
        line.split(": ")[1].split(" at step")[0].split(" -> ")[-1] for line in lines.seen[1:]
    ]
    assert all(a != b for a, b in zip(statuses, statuses[1:])), lines.seen


def test_watch_json_keeps_going_and_stops_cleanly_on_ctrl_c(tmp_path):
    logdir = tmp_path / "logs"
    logdir.mkdir()
    stuck_file = tmp_path / "go_stuck"
    with start_live_writer(logdir, LIVE, stuck_file) as writer:
        watch = start_watch(str(logdir), "--interval", "1", "--json", "--load-fast=false")
        try:
            lines = Lines(watch)
            healthy = lines.wait_for(lambda line: json.loads(line)["status"] == "ok")
            assert healthy is not None, (lines.seen, writer.log.read_text())
            stuck_file.touch()
            stuck = lines.wait_for(lambda line: json.loads(line)["status"] == "stuck")
            assert stuck is not None, lines.seen
            change = json.loads(stuck)
            assert set(change) == {
                "time",
                "run",
                "status",
                "previous",
                "last_step",
                "headline",
                "kinds",
            }
            assert change["run"] == LIVE and change["previous"] == "ok"
            assert change["kinds"] == ["frozen_weights"]
            # Without --exit-on-stuck it keeps watching, until interrupted.
            assert watch.poll() is None
            watch.send_signal(signal.SIGINT)
            assert watch.wait(timeout=30) == 0
            assert "Traceback" not in watch.stderr.read()
        finally:
            watch.kill()
            watch.wait()


def test_watch_stops_its_data_server_on_ctrl_c(tmp_path):
    watch = start_watch(str(tmp_path), "--interval", "1", "--load-fast=true")
    try:
        lines = Lines(watch)
        assert lines.wait_for(lambda line: line.startswith("watching ")) is not None
        deadline = time.monotonic() + WATCH_WAIT_S
        while not children_of(watch.pid) and time.monotonic() < deadline:
            time.sleep(0.1)
        [server] = children_of(watch.pid)
        watch.send_signal(signal.SIGINT)
        assert watch.wait(timeout=30) == 0
        assert "Traceback" not in watch.stderr.read()
        deadline = time.monotonic() + 30
        while is_running(server) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not is_running(server)
    finally:
        watch.kill()
        watch.wait()
