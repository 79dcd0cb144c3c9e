"""The labelled scenario suite: real training runs, read back by TensorBoard, judged by the diagnosis.

Every scenario of tests/scenarios/ is trained once per session (two processes at a time), into real
event files, then read through TensorBoard's Python loader and the plugin's reader, as the panel
reads them. Each must get its expected status and at least its expected kinds, with the most likely
cause first; no healthy one may be `stuck` or `warning`; the verdict must not depend on how many
points TensorBoard kept; a fault that starts mid-run must be dated within two recorded intervals of
its start, and not be reported before it. Run with `-s` to see the tables (docs/benchmarks.md).
"""

from __future__ import annotations

import json
import subprocess
import sys

import pytest
from scenarios import harness, suite

from tb_stuckplugin.diagnosis.causes import CAUSES
from tb_stuckplugin.diagnosis.report import OK, STUCK, WARNING

SCENARIOS = suite.scenario_modules()
# The since_step of a fault that starts mid-run must be within this many steps of its start.
ONSET_TOLERANCE = 2 * harness.LOG_EVERY


@pytest.fixture(scope="module")
def logdir() -> str:
    return suite.trained()


@pytest.fixture(scope="module")
def reports(logdir):
    """Verdicts with every point kept."""
    return suite.diagnose_all(logdir, 0)


@pytest.fixture(scope="module")
def results(logdir, reports):
    return suite.outcomes(reports, SCENARIOS, suite.first_detection(logdir, SCENARIOS))


def test_the_suite_covers_the_issue():
    statuses = [m.EXPECTED_STATUS for m in SCENARIOS.values()]
    assert len(SCENARIOS) >= 20
    assert statuses.count(OK) >= 4
    assert {STUCK, WARNING} <= set(statuses)
    assert any((m.CAUSE_STEP or 0) > 0 for m in SCENARIOS.values())


def test_every_scenario_gets_its_verdict(results):
    print("\n" + suite.confusion_table(results) + "\n\n" + suite.scenario_table(results))
    tables = suite.scenario_table(results)
    for r in results:
        if r.known_miss:
            # Strict: once the signals show it, the marker must go and the verdict be checked.
            assert not r.ok, f"{r.name} is detected now: remove its KNOWN_MISS\n{tables}"
            continue
        assert r.ok, f"{r.name}: expected {r.expected_status} {sorted(r.expected_kinds)}\n{tables}"


def test_no_healthy_scenario_raises_an_alarm(results):
    healthy = [r for r in results if r.expected_status == OK]
    assert healthy
    assert [(r.name, r.status) for r in healthy if r.status != OK] == []


def test_no_healthy_scenario_raises_an_alarm_at_any_recorded_step(logdir):
    """Replayed record by record, as the panel saw the run while it trained."""
    replay = suite.Replay(logdir)
    for name, scenario in SCENARIOS.items():
        if scenario.EXPECTED_STATUS == OK:
            alarms = {step: r.status for step, r in replay.verdicts(name) if r.status != OK}
            assert alarms == {}, name


def test_the_most_likely_cause_comes_first(reports):
    text = {key: cause for key, (cause, _) in CAUSES.items()}
    for name, scenario in SCENARIOS.items():
        if getattr(scenario, "KNOWN_MISS", None):
            continue
        for kind, key in scenario.EXPECTED_CAUSES.items():
            firsts = [f.causes[0]["cause"] for f in reports[name].findings if f.kind == kind]
            assert text[key] in firsts, f"{name}: {kind} should point at {key} first, got {firsts}"


@pytest.mark.parametrize("samples", [r for r in suite.RESERVOIRS if r != 0])
def test_verdicts_do_not_depend_on_how_many_points_tensorboard_kept(logdir, reports, samples):
    thinned = suite.diagnose_all(logdir, samples)
    assert set(thinned) == set(reports)
    for name, full in reports.items():
        got = thinned[name]
        assert got.status == full.status, name
        for a, b in zip(got.findings, full.findings, strict=True):
            assert a.to_json() == b.to_json(), name


def test_the_command_line_gives_the_same_verdicts_from_one_point_per_tag(logdir, reports):
    """`tb-stuck check --json` reads through the data server (or the Python loader) keeping 1 point."""
    process = subprocess.run(
        [sys.executable, "-m", "tb_stuckplugin.cli", "check", logdir, "--json"],
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert process.returncode == 1, process.stderr  # 1: some run is stuck
    checked = {
        suite.scenario_of(run["run"]): run
        for run in json.loads(process.stdout)["runs"]
        if run["status"] != "no_data"
    }
    assert set(checked) == set(reports)
    for name, report in reports.items():
        assert checked[name]["status"] == report.status, name
        kinds = sorted(f["kind"] for f in checked[name]["findings"])
        assert kinds == sorted(f.kind for f in report.findings), name


def test_a_fault_that_starts_mid_run_is_dated_from_its_start(results):
    onsets = [r for r in results if (r.cause_step or 0) > 0]
    assert onsets
    for r in onsets:
        for kind, since in r.since.items():
            assert since is not None, f"{r.name}: {kind} has no since_step"
            assert abs(since - r.cause_step) <= ONSET_TOLERANCE, (r.name, kind, since)


def test_a_fault_that_starts_mid_run_is_not_reported_before_it(logdir):
    for name, scenario in SCENARIOS.items():
        if (scenario.CAUSE_STEP or 0) <= 0:
            continue
        statuses = suite.statuses_before(logdir, name, scenario.CAUSE_STEP)
        assert statuses, name
        assert set(statuses.values()) == {OK}, f"{name}: {statuses}"


def test_every_fault_is_detected_with_a_latency(results):
    for r in results:
        if r.expected_status == OK or r.known_miss:
            continue
        assert r.latency is not None and r.latency >= 0, r.name
