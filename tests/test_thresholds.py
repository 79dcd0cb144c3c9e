"""Each threshold of thresholds.py separates the labelled scenarios it decides, measured afresh.

The figures come from the scenarios' event files (tests/scenarios/figures.py): on one side the most
extreme level a healthy run held for MIN_STREAK_RECORDS records, on the other the level of the stuck
scenario the threshold decides. If a change of writer, rule or scenario moves a figure across its
threshold, the test says which one and by how much. Run with `-s` to see the table.
"""

from __future__ import annotations

import pytest
from scenarios import figures, suite

from tb_stuckplugin.diagnosis import diagnose, thresholds
from tb_stuckplugin.diagnosis.report import OK

SCENARIOS = suite.scenario_modules()
HEALTHY = [name for name, m in SCENARIOS.items() if m.EXPECTED_STATUS == OK]


@pytest.fixture(scope="module")
def runs():
    return suite.read_all(suite.load(suite.trained(), 0), suite.ALL_POINTS)


@pytest.fixture(scope="module")
def separations(runs):
    found = figures.separations(runs, HEALTHY)
    print("\n" + figures.table(found))
    return {s.name: s for s in found}


@pytest.mark.parametrize(
    "name",
    [
        "LEVEL_SLOW_UPDATE_RATIO",
        "LEVEL_VANISHING_GRAD_RMS",
        "LEVEL_EXPLODING_GRAD_RMS",
        "LEVEL_DEAD_UNIT_FRACTION",
        "LEVEL_INVARIANT_RELATIVE_SPREAD",
        "LEVEL_COLLAPSED_SPREAD_RATIO",
        "DEPTH_GRADIENT_RATIO",
        "UNSCALED_INPUT_RMS",
    ],
)
def test_threshold_separates_healthy_from_stuck_scenarios(separations, name):
    s = separations[name]
    assert s.value == getattr(thresholds, name)
    side = "above" if s.stuck_above else "below"
    assert s.separates, (
        f"{name} = {s.value:g} no longer separates: healthy {s.healthy:.3g} ({s.healthy_from}), "
        f"stuck {s.stuck:.3g} ({s.stuck_from}) should lie {side} it"
    )


def test_slow_update_level_sits_between_converged_and_tiny_learning_rate(runs):
    """The issue's example: a converged model's updates stay above the level, lr=1e-10 below."""
    n = thresholds.MIN_STREAK_RECORDS
    converged = figures.held_low(figures.update_ratio(runs["converged"]), n)
    tiny = figures.last_high(figures.update_ratio(runs["lr_tiny"]), n)
    assert converged.min() > thresholds.LEVEL_SLOW_UPDATE_RATIO > tiny[0]


def test_first_layers_of_healthy_deep_networks_stay_above_the_depth_level(runs):
    first = figures.gradient_rms(runs["deep_relu"])[:, figures.kernels(runs["deep_relu"])[:1]]
    assert (
        figures.held_low(first, thresholds.MIN_STREAK_RECORDS)[0] > thresholds.DEPTH_FIRST_LAYER_RMS
    )


def test_three_records_is_the_shortest_streak_without_false_alarms(runs, monkeypatch):
    def alarms() -> dict[str, str]:
        verdicts = {name: diagnose(runs[name]).status for name in HEALTHY}
        return {name: status for name, status in verdicts.items() if status != OK}

    assert alarms() == {}
    monkeypatch.setattr(thresholds, "MIN_STREAK_RECORDS", thresholds.MIN_STREAK_RECORDS - 1)
    assert alarms() != {}
