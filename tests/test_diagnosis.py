"""Unit tests of the diagnosis rules on hand-built series: the cases the scenarios do not isolate.

The scenario suite (tests/test_scenarios.py) checks the rules on real training runs; here each rule
gets the one record that decides it, so that a change of logic shows up with the case it breaks.
"""

from __future__ import annotations

import math

import numpy as np
import pytest

from tb_stuckplugin.diagnosis import Row, RunData, Series, diagnose, thresholds
from tb_stuckplugin.diagnosis.causes import CAUSES
from tb_stuckplugin.diagnosis.rules import streak_since
from tb_stuckplugin.record_format import (
    GRADIENTS,
    MODEL_ROW,
    OUTPUT_ROWS,
    OUTPUTS,
    SINCE_FIELDS,
    VALUE_FIELDS,
    WEIGHTS,
)

NAN = math.nan
INTERVAL = 10
LAST = 100
STEPS = np.arange(0, LAST + 1, INTERVAL)
VARIABLES = ("model/dense/kernel", "model/dense/bias", "model/head/kernel", "model/head/bias")
SHAPES = ("8x16", "16", "16x1", "1")
SIZES = (128.0, 16.0, 16.0, 1.0)
# Streak starts that have lasted exactly MIN_STREAK_RECORDS records at LAST, and one record less.
LONG_ENOUGH = LAST - (thresholds.MIN_STREAK_RECORDS - 1) * INTERVAL
TOO_SHORT = LONG_ENOUGH + INTERVAL


def make_series(
    op: str,
    latest: dict[str, list[float]],
    since: dict[str, list[float]] | None = None,
    rows: tuple[Row, ...] | None = None,
    sizes: tuple[float, ...] = SIZES,
) -> Series:
    """A series recorded every INTERVAL steps up to LAST, every point equal to `latest`.

    `latest` maps value fields to one number per row (model row first); fields not given are 0,
    except "records", which counts the points. `since` maps conditions to streak starts per row.
    """
    if rows is None:
        rows = (Row(MODEL_ROW),) + tuple(Row(n, s, "float32") for n, s in zip(VARIABLES, SHAPES))
    count = len(rows)
    values = np.zeros((len(STEPS), count, len(VALUE_FIELDS[op])))
    for field, row_values in latest.items():
        values[:, :, VALUE_FIELDS[op].index(field)] = row_values
    values[:, :, VALUE_FIELDS[op].index("records")] = np.arange(1, len(STEPS) + 1)[:, None]
    since_record = np.full((count, len(SINCE_FIELDS[op])), NAN)
    for condition, starts in (since or {}).items():
        since_record[:, SINCE_FIELDS[op].index(condition)] = starts
    if op != OUTPUTS:
        since_record[:, SINCE_FIELDS[op].index("size")] = (sum(sizes),) + tuple(sizes)
    since_record[:, SINCE_FIELDS[op].index("first_step")] = 0
    return Series(
        tag={GRADIENTS: "gradients", WEIGHTS: "weights", OUTPUTS: "outputs"}[op],
        op=op,
        rows=rows,
        steps=STEPS.copy(),
        wall_times=STEPS.astype(float),
        values=values,
        since=since_record,
        since_step=LAST,
    )


def gradients(norm: list[float], since: dict[str, list[float]] | None = None) -> Series:
    return make_series(GRADIENTS, {"norm": norm}, since)


def weights(
    delta: list[float],
    norm: list[float] | None = None,
    since: dict[str, list[float]] | None = None,
    trainable: tuple[bool, ...] = (True,) * 4,
) -> Series:
    rows = (Row(MODEL_ROW),) + tuple(
        Row(n, s, "float32", t) for n, s, t in zip(VARIABLES, SHAPES, trainable)
    )
    norm = norm or [4.0, 3.0, 1.0, 2.0, 0.5]
    return make_series(WEIGHTS, {"delta": delta, "norm": norm}, since, rows)


def outputs(
    spread: float, scale: float, since: dict[str, list[float]] | None = None, input_scale=1.0
) -> Series:
    rows = tuple(Row(name) for name in OUTPUT_ROWS)
    latest = {
        "spread": [spread, 0.9 * input_scale, NAN],
        "scale": [scale, input_scale, NAN],
        "batch": [32, 32, 32],
    }
    return make_series(OUTPUTS, latest, since, rows)


def healthy_gradients() -> Series:
    return gradients([0.5, 0.3, 0.05, 0.2, 0.1])


def healthy_weights() -> Series:
    return weights([0.02, 0.01, 0.002, 0.01, 0.001])


def verdict(*series: Series):
    return diagnose(RunData("run", list(series)))


def finding(report, kind: str):
    (found,) = [f for f in report.findings if f.kind == kind]
    return found


def first_cause(found) -> str:
    """The key (causes.CAUSES) of a finding's most likely cause."""
    (key,) = [k for k, (text, _) in CAUSES.items() if text == found.causes[0]["cause"]]
    return key


def test_streak_counts_records_from_the_writer_not_from_the_kept_points():
    series = gradients([0.0] * 5, {"zero": [LONG_ENOUGH, TOO_SHORT, NAN, NAN, NAN]})
    thinned = Series(**{**series.__dict__, "steps": STEPS[-1:], "values": series.values[-1:]})
    for s in (series, thinned):
        started = streak_since(s, "zero", thresholds.MIN_STREAK_RECORDS)
        assert started[0] == LONG_ENOUGH
        assert np.isnan(started[1:]).all()


def test_no_series_is_no_data_and_healthy_series_are_ok():
    assert verdict().status == "no_data"
    report = verdict(healthy_gradients(), healthy_weights(), outputs(0.5, 0.8))
    assert (report.status, report.findings) == ("ok", [])


def test_a_condition_held_one_record_too_short_is_not_reported():
    short = [TOO_SHORT] * 5
    report = verdict(healthy_gradients(), weights([0.0] * 5, since={"unchanged": short}))
    assert report.status == "ok"
    report = verdict(
        healthy_gradients(), weights([0.0] * 5, since={"unchanged": [LONG_ENOUGH] * 5})
    )
    assert report.status == "stuck"
    assert finding(report, "frozen_weights").since_step == LONG_ENOUGH


def test_all_frozen_with_gradients_points_at_the_learning_rate():
    report = verdict(healthy_gradients(), weights([0.0] * 5, since={"unchanged": [0] * 5}))
    found = finding(report, "frozen_weights")
    assert (found.severity, found.since_step, found.targets) == ("error", 0, list(VARIABLES))
    assert first_cause(found) == "learning_rate_zero"
    assert found.evidence["with_nonzero_gradient"] == 4


def test_the_whole_model_row_decides_when_a_zero_bias_creeps():
    # Kernels unchanged; the zero-initialised biases move relative to their tiny norm; the model
    # row (all weights together, tracked by the writer) is slow since step 10.
    since = {"unchanged": [NAN, 0, NAN, 0, NAN], "slow": [10, 0, NAN, 0, NAN]}
    report = verdict(healthy_gradients(), weights([1e-9, 0.0, 1e-10, 0.0, 1e-10], since=since))
    found = finding(report, "frozen_weights")
    assert (found.severity, found.since_step) == ("error", 0)
    assert found.targets == list(VARIABLES)


def test_part_frozen_with_gradients_points_at_the_optimizer_variable_list():
    since = {"unchanged": [NAN, 0, 0, NAN, NAN]}
    report = verdict(healthy_gradients(), weights([0.01, 0.0, 0.0, 0.01, 0.001], since=since))
    found = finding(report, "frozen_weights")
    assert (report.status, found.severity) == ("warning", "warning")
    assert found.targets == list(VARIABLES[:2])
    assert first_cause(found) == "optimizer_other_variables"


def test_frozen_without_logged_gradients_points_at_the_gradient_list():
    grads = make_series(
        GRADIENTS,
        {"norm": [0.3, 0.2, 0.1]},
        rows=(Row(MODEL_ROW), Row(VARIABLES[2], "16x1"), Row(VARIABLES[3], "1")),
        sizes=SIZES[2:],
    )
    since = {"unchanged": [NAN, 0, 0, NAN, NAN]}
    found = finding(
        verdict(grads, weights([0.01, 0.0, 0.0, 0.01, 0.001], since=since)), "frozen_weights"
    )
    assert first_cause(found) == "gradients_not_taken"


def test_a_variable_without_gradient_is_not_also_reported_frozen():
    grads = gradients([0.2, NAN, NAN, 0.2, 0.1], {"missing": [NAN, 0, 0, NAN, NAN]})
    since = {"unchanged": [NAN, 0, 0, NAN, NAN]}
    report = verdict(grads, weights([0.01, 0.0, 0.0, 0.01, 0.001], since=since))
    assert {f.kind for f in report.findings} == {"missing_gradients"}
    found = finding(report, "missing_gradients")
    assert (found.severity, found.targets) == ("warning", list(VARIABLES[:2]))
    assert first_cause(found) == "cut_branch"


def test_all_gradients_none_for_other_variables_points_at_the_wrong_variables():
    missing = {"missing": [0] * 5}
    foreign = tuple(Row(n.replace("model/", "target/"), s) for n, s in zip(VARIABLES, SHAPES))
    grads = make_series(GRADIENTS, {"norm": [NAN] * 5}, missing, rows=(Row(MODEL_ROW),) + foreign)
    frozen = weights([0.0] * 5, since={"unchanged": [0] * 5})
    report = verdict(grads, frozen)
    assert {f.kind for f in report.findings} == {"missing_gradients"}
    assert first_cause(finding(report, "missing_gradients")) == "wrong_variables"
    own = gradients([NAN] * 5, missing)
    assert first_cause(finding(verdict(own, frozen), "missing_gradients")) == "numpy_in_loss"


@pytest.mark.parametrize(
    ("spread", "scale", "weights_norm", "input_scale", "expected"),
    [
        (0.0, 1.0, None, 1.0, "softmax_one_unit"),
        (0.0, 0.0, None, 1.0, "dead_output"),
        (1e-5, 0.3, [1.0, 0.0, 0.0, 0.0, 1.0], 1.0, "zero_init"),
        (1e-5, 0.3, None, 150.0, "saturated_inputs"),
        (1e-5, 0.3, None, 1.0, "collapse_to_constant"),
    ],
)
def test_invariant_outputs_causes_follow_the_evidence(
    spread, scale, weights_norm, input_scale, expected
):
    condition = "constant" if spread == 0 else "invariant"
    out = outputs(spread, scale, {condition: [0, NAN, NAN]}, input_scale=input_scale)
    moving = weights([0.02, 0.01, 0.002, 0.01, 0.001], norm=weights_norm)
    found = finding(verdict(healthy_gradients(), moving, out), "invariant_outputs")
    assert (found.severity, found.since_step) == ("error", 0)
    assert first_cause(found) == expected


def test_outputs_collapsed_against_the_labels_are_invariant_with_the_ratio_as_evidence():
    out = outputs(0.02, 1.0, {"collapsed": [30, NAN, NAN]})
    out.values[:, 2, VALUE_FIELDS[OUTPUTS].index("spread")] = 0.8  # the labels' spread
    found = finding(verdict(healthy_gradients(), healthy_weights(), out), "invariant_outputs")
    assert (found.severity, found.since_step) == ("error", 30)
    assert found.evidence["output_to_label_spread"] == pytest.approx(0.025)
    assert "0.025 times as much as the labels" in found.message
    assert first_cause(found) == "collapse_to_constant"


def test_one_repeated_example_is_a_degenerate_batch_not_invariant_outputs():
    out = outputs(0.0, 0.3, {"constant": [0, 0, NAN]})
    report = verdict(healthy_gradients(), healthy_weights(), out)
    assert {f.kind for f in report.findings} == {"degenerate_batch"}
    assert report.status == "warning"


def test_dead_units_are_not_reported_for_a_batch_of_one_repeated_example():
    dead = gradients([0.5, 0.3, 0.05, 0.2, 0.1], {"dead_units": [NAN, NAN, 0, NAN, NAN]})
    alone = verdict(dead, healthy_weights(), outputs(0.5, 0.8))
    assert finding(alone, "dead_units").targets == [VARIABLES[1]]
    one_example = verdict(dead, healthy_weights(), outputs(0.0, 0.3, {"constant": [0, 0, NAN]}))
    assert "dead_units" not in {f.kind for f in one_example.findings}


def test_vanishing_everywhere_is_an_error_and_in_part_a_warning():
    tiny = [1e-9] * 5
    everywhere = verdict(gradients(tiny, {"vanishing": [0] * 5}), healthy_weights())
    assert finding(everywhere, "vanishing_gradients").severity == "error"
    part = gradients([0.3, 1e-9, 1e-9, 0.2, 0.1], {"vanishing": [NAN, 0, 0, NAN, NAN]})
    found = finding(verdict(part, healthy_weights()), "vanishing_gradients")
    assert (found.severity, found.targets) == ("warning", list(VARIABLES[:2]))
    assert first_cause(found) == "deep_saturating"


def test_vanishing_through_depth_is_dated_by_the_writer_and_names_the_early_kernels():
    # Kernels "8x16" (RMS 1e-5) and "16x1" (RMS 0.025), plus a third kernel row so there are three.
    rows = (Row(MODEL_ROW),) + tuple(
        Row(n, s, "float32") for n, s in zip((*VARIABLES, "model/out/kernel"), (*SHAPES, "1x1"))
    )
    sizes = (*SIZES, 1.0)
    norms = [0.1, 1e-5 * math.sqrt(128), 0.01, 0.1, 0.01, 0.5]
    depth = make_series(GRADIENTS, {"norm": norms}, {"depth": [40, *[NAN] * 5]}, rows, sizes)
    found = finding(verdict(depth, healthy_weights()), "vanishing_gradients")
    assert (found.severity, found.since_step) == ("warning", 40)
    assert found.targets == [VARIABLES[0]]
    assert found.evidence["first_to_last_ratio"] == pytest.approx(2e-5)
    healthy = make_series(GRADIENTS, {"norm": norms}, None, rows, sizes)
    assert "vanishing_gradients" not in {
        f.kind for f in verdict(healthy, healthy_weights()).findings
    }


def test_non_finite_is_stuck_from_its_first_step():
    grads = gradients([NAN] * 5, {"nonfinite": [40, 40, 50, 40, 40]})
    found = finding(verdict(grads, healthy_weights()), "non_finite")
    assert (found.severity, found.since_step) == ("error", 40)


def test_findings_keep_the_json_shape_of_the_api():
    report = verdict(healthy_gradients(), weights([0.0] * 5, since={"unchanged": [0] * 5}))
    body = report.findings[0].to_json()
    assert list(body) == [
        "kind",
        "severity",
        "targets",
        "since_step",
        "evidence",
        "message",
        "causes",
    ]
    assert all(set(c) == {"cause", "check"} for c in body["causes"])
