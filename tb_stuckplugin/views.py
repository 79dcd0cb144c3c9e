"""JSON views of diagnosed runs for the panel (docs/api.md): the overview line and the full report.

Pure Python and numpy, like the diagnosis: the plugin serves what these functions return.
"""

from __future__ import annotations

import math
from typing import Any

import numpy as np

from tb_stuckplugin.diagnosis import Report, RunData, Series, thresholds
from tb_stuckplugin.diagnosis.report import STATUS_ORDER
from tb_stuckplugin.diagnosis.run_data import GRADIENTS, OUTPUTS, WEIGHTS

# Points per drawn series: enough for a sparkline, few enough for hundreds of variables.
SPARKLINE_POINTS = 100

# Finding kind -> the flag it puts on the variables it targets.
FLAGS = {
    "frozen_weights": "frozen",
    "missing_gradients": "missing",
    "vanishing_gradients": "vanishing",
    "exploding_gradients": "exploding",
    "dead_units": "dead_units",
    "non_finite": "non_finite",
}


def overview_entry(report: Report) -> dict[str, Any]:
    """One run's line in the runs overview."""
    return {
        "run": report.run,
        "status": report.status,
        "headline": report.headline,
        "last_step": report.last_step,
        "last_wall_time": report.last_wall_time,
        "kinds": sorted({f.kind for f in report.findings}),
    }


def overview(reports: list[Report]) -> dict[str, Any]:
    """The runs overview: most urgent first, then by name."""
    ordered = sorted(reports, key=lambda r: (STATUS_ORDER.index(r.status), r.run))
    return {"runs": [overview_entry(r) for r in ordered]}


def full_report(run: RunData, report: Report) -> dict[str, Any]:
    """One run's report: the verdict plus per-variable and output series to draw."""
    return {
        **report.to_json(),
        "headline": report.headline,
        "last_wall_time": report.last_wall_time,
        "problems": list(report.problems),
        "variables": _variables(run, report),
        "outputs": [_outputs(series) for series in run.of_op(OUTPUTS)],
    }


def _variables(run: RunData, report: Report) -> list[dict[str, Any]]:
    flags: dict[str, set[str]] = {}
    for finding in report.findings:
        flag = FLAGS.get(finding.kind)
        for target in finding.targets if flag else ():
            flags.setdefault(target, set()).add(flag)
    entries: dict[str, dict[str, Any]] = {}
    for series in run.of_op(GRADIENTS) + run.of_op(WEIGHTS):
        for index, row in enumerate(series.rows[1:], start=1):
            entry = entries.setdefault(row.name, _variable_entry(row, flags.get(row.name, set())))
            if series.op == GRADIENTS:
                _add_series(entry, series, "grad_norm", series.value("norm")[:, index])
            else:
                _add_series(entry, series, "update_ratio", _update_ratio(series, index))
    return list(entries.values())


def _variable_entry(row, flags: set[str]) -> dict[str, Any]:
    if not row.trainable:
        flags = flags | {"not_trainable"}
    return {
        "name": row.name,
        "shape": row.shape,
        "dtype": row.dtype,
        "trainable": row.trainable,
        "flags": sorted(flags),
        "grad_norm": None,
        "update_ratio": None,
        "series": {},
    }


def _add_series(entry: dict[str, Any], series: Series, field: str, values: np.ndarray) -> None:
    """Set the latest value and a downsampled series of `field` on a variable entry."""
    entry[field] = _number(values[-1])
    steps, picked = _downsample(series.steps, values)
    drawn = entry["series"]
    if "steps" in drawn and drawn["steps"] != steps:
        # Gradients and weights recorded at other steps: keep each on its own step axis.
        drawn[f"{field}_steps"] = steps
    else:
        drawn["steps"] = steps
    drawn[field] = picked


def _update_ratio(series: Series, index: int) -> np.ndarray:
    """||dW|| / max(||W||, floor * sqrt(size)) for one variable over the kept points."""
    size = series.since_of("size")[index] if series.since is not None else np.nan
    floor = thresholds.WEIGHT_RMS_FLOOR * math.sqrt(size) if np.isfinite(size) else 0.0
    with np.errstate(invalid="ignore", divide="ignore"):
        return series.value("delta")[:, index] / np.maximum(series.value("norm")[:, index], floor)


def _outputs(series: Series) -> dict[str, Any]:
    spread, scale = series.value("spread"), series.value("scale")
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = spread / scale
    steps, outputs = _downsample(series.steps, relative[:, 0])
    _, inputs = _downsample(series.steps, relative[:, 1])
    return {
        "tag": series.tag,
        "series": {"steps": steps, "output_spread": outputs, "input_spread": inputs},
    }


def _downsample(steps: np.ndarray, values: np.ndarray) -> tuple[list[int], list[float | None]]:
    """At most SPARKLINE_POINTS evenly spaced points, the last one always included."""
    if len(steps) > SPARKLINE_POINTS:
        picked = np.unique(np.linspace(0, len(steps) - 1, SPARKLINE_POINTS).round().astype(int))
        steps, values = steps[picked], values[picked]
    return [int(s) for s in steps], [_number(v) for v in values]


def _number(value: float) -> float | None:
    value = float(value)
    return value if math.isfinite(value) else None
