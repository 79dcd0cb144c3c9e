"""The figures each threshold is chosen from, measured on the scenarios' event files.

Every threshold separates healthy scenarios from the stuck ones it decides. For a condition that
must hold for MIN_STREAK_RECORDS records in a row, the healthy figure is the extreme level a healthy
run *held* for that many records (a single noisy record cannot raise an alarm), and the stuck
figure is the level over the scenario's last records, where its verdict is made.

    python -m scenarios.figures LOGDIR    # from tests/, on a logdir of trained scenarios
"""

from __future__ import annotations

import dataclasses
import math
import sys
from collections.abc import Callable, Sequence

import numpy as np

from scenarios import suite
from tb_stuckplugin.diagnosis import RunData, Series, thresholds
from tb_stuckplugin.record_format import GRADIENTS, OUTPUTS, WEIGHTS


def held_low(x: np.ndarray, records: int) -> np.ndarray:
    """[rows]: the lowest level each column stayed at or below for `records` records in a row."""
    windows = np.lib.stride_tricks.sliding_window_view(x, records, axis=0)
    return np.nanmin(np.nanmax(windows, axis=-1), axis=0)


def held_high(x: np.ndarray, records: int) -> np.ndarray:
    """[rows]: the highest level each column stayed at or above for `records` records in a row."""
    windows = np.lib.stride_tricks.sliding_window_view(x, records, axis=0)
    return np.nanmax(np.nanmin(windows, axis=-1), axis=0)


def last_high(x: np.ndarray, records: int) -> np.ndarray:
    """[rows]: the highest value over the last `records` records (the verdict's window)."""
    return np.nanmax(x[-records:], axis=0)


def last_low(x: np.ndarray, records: int) -> np.ndarray:
    """[rows]: the lowest value over the last `records` records."""
    return np.nanmin(x[-records:], axis=0)


def _one(run: RunData, op: str) -> Series:
    (series,) = run.of_op(op)
    return series


def _sizes(series: Series) -> np.ndarray:
    return series.since_of("size")


def update_ratio(run: RunData) -> np.ndarray:
    """[records after the first, rows]: ||dW|| / max(||W||, floor * sqrt(size)), as the writer."""
    series = _one(run, WEIGHTS)
    floor = thresholds.WEIGHT_RMS_FLOOR * np.sqrt(_sizes(series))
    return (series.value("delta") / np.maximum(series.value("norm"), floor))[1:]


def trainable_rows(run: RunData) -> np.ndarray:
    """[rows] mask of the weight series: the model row and the trainable variables."""
    series = _one(run, WEIGHTS)
    return np.array([True] + [row.trainable for row in series.rows[1:]])


def gradient_rms(run: RunData) -> np.ndarray:
    """[records, rows]: each variable's gradient L2 norm / sqrt(size) (row 0: all variables)."""
    series = _one(run, GRADIENTS)
    return series.value("norm") / np.sqrt(_sizes(series))


def zero_fraction(run: RunData) -> np.ndarray:
    """[records, variables]: fraction of a gradient's entries that are exactly zero, for the
    variables the writer scans (small ones: biases and small kernels)."""
    fraction = _one(run, GRADIENTS).value("zero_fraction")[:, 1:]
    return fraction[:, np.isfinite(fraction).any(axis=0)]


def relative_spread(run: RunData) -> np.ndarray:
    """[records]: the outputs' spread across the batch over their RMS."""
    series = _one(run, OUTPUTS)
    with np.errstate(invalid="ignore", divide="ignore"):
        return (series.value("spread") / series.value("scale"))[:, 0]


def label_spread_ratio(run: RunData) -> np.ndarray:
    """[records]: the outputs' spread across the batch over the labels' (NaN without labels)."""
    spread = _one(run, OUTPUTS).value("spread")
    with np.errstate(invalid="ignore", divide="ignore"):
        return spread[:, 0] / spread[:, 2]


def input_scale(run: RunData) -> np.ndarray:
    """[records]: the inputs' RMS."""
    return _one(run, OUTPUTS).value("scale")[:, 1]


def kernels(run: RunData) -> list[int]:
    """Rows of the gradient series that are kernels (2-D or more), first layer first."""
    return [i for i, row in enumerate(_one(run, GRADIENTS).rows) if i and "x" in row.shape]


def depth_ratio(run: RunData) -> np.ndarray:
    """[records]: the first kernel's gradient RMS over the last kernel's."""
    rows = kernels(run)
    rms = gradient_rms(run)
    return rms[:, rows[0]] / rms[:, rows[-1]]


@dataclasses.dataclass(frozen=True)
class Separation:
    """A threshold, the healthy figure on one side and the stuck figure on the other."""

    name: str
    value: float
    healthy: float
    healthy_from: str
    stuck: float
    stuck_from: str
    # True when stuck figures lie above the threshold (exploding, dead units, unscaled inputs).
    stuck_above: bool

    @property
    def separates(self) -> bool:
        if self.stuck_above:
            return self.healthy < self.value <= self.stuck
        return self.stuck < self.value <= self.healthy


def _extreme(
    runs: dict[str, RunData],
    names: Sequence[str],
    figure: Callable[[RunData], float],
    lowest: bool,
) -> tuple[float, str]:
    """The lowest (or highest) figure over `names`, and the scenario it comes from."""
    values = {name: figure(runs[name]) for name in names}
    pick, unknown = (min, math.inf) if lowest else (max, -math.inf)
    name = pick(values, key=lambda n: values[n] if math.isfinite(values[n]) else unknown)
    return float(values[name]), name


def separations(runs: dict[str, RunData], healthy: Sequence[str]) -> list[Separation]:
    """Each threshold with the figures that decide it (see docs/diagnosis.md)."""
    n = thresholds.MIN_STREAK_RECORDS

    def low_ratio(run: RunData) -> float:
        return float(np.nanmin(held_low(update_ratio(run), n)[trainable_rows(run)]))

    def grad_low(run: RunData) -> float:
        return float(np.nanmin(held_low(gradient_rms(run), n)))

    def grad_high(run: RunData) -> float:
        return float(np.nanmax(held_high(gradient_rms(run), n)))

    def dead_high(run: RunData) -> float:
        return float(np.nanmax(held_high(zero_fraction(run), n)))

    def spread_low(run: RunData) -> float:
        return float(held_low(relative_spread(run)[:, None], n)[0])

    def label_ratio_low(run: RunData) -> float:
        return float(held_low(label_spread_ratio(run)[:, None], n)[0])

    rows = [
        (
            "LEVEL_SLOW_UPDATE_RATIO",
            thresholds.LEVEL_SLOW_UPDATE_RATIO,
            _extreme(runs, healthy, low_ratio, lowest=True),
            (float(last_high(update_ratio(runs["lr_tiny"]), n)[0]), "lr_tiny"),
            False,
        ),
        (
            "LEVEL_VANISHING_GRAD_RMS",
            thresholds.LEVEL_VANISHING_GRAD_RMS,
            _extreme(runs, healthy, grad_low, lowest=True),
            (float(last_high(gradient_rms(runs["deep_sigmoid"]), n)[1]), "deep_sigmoid"),
            False,
        ),
        (
            "LEVEL_EXPLODING_GRAD_RMS",
            thresholds.LEVEL_EXPLODING_GRAD_RMS,
            _extreme(runs, healthy, grad_high, lowest=False),
            (float(last_low(gradient_rms(runs["exploding_init"]), n)[0]), "exploding_init"),
            True,
        ),
        (
            "LEVEL_DEAD_UNIT_FRACTION",
            thresholds.LEVEL_DEAD_UNIT_FRACTION,
            _extreme(runs, healthy, dead_high, lowest=False),
            (
                float(np.nanmax(last_low(zero_fraction(runs["sigmoid_unscaled_inputs"]), n))),
                "sigmoid_unscaled_inputs",
            ),
            True,
        ),
        (
            "LEVEL_INVARIANT_RELATIVE_SPREAD",
            thresholds.LEVEL_INVARIANT_RELATIVE_SPREAD,
            _extreme(runs, healthy, spread_low, lowest=True),
            (float(last_high(relative_spread(runs["deep_sigmoid"]), n)), "deep_sigmoid"),
            False,
        ),
        (
            "LEVEL_COLLAPSED_SPREAD_RATIO",
            thresholds.LEVEL_COLLAPSED_SPREAD_RATIO,
            _extreme(runs, healthy, label_ratio_low, lowest=True),
            (float(last_high(label_spread_ratio(runs["mse_broadcast"]), n)), "mse_broadcast"),
            False,
        ),
        (
            "DEPTH_GRADIENT_RATIO",
            thresholds.DEPTH_GRADIENT_RATIO,
            (float(held_low(depth_ratio(runs["deep_relu"])[:, None], n)[0]), "deep_relu"),
            (float(last_high(depth_ratio(runs["deep_sigmoid"]), n)), "deep_sigmoid"),
            False,
        ),
        (
            "UNSCALED_INPUT_RMS",
            thresholds.UNSCALED_INPUT_RMS,
            _extreme(runs, healthy, lambda run: float(np.nanmax(input_scale(run))), lowest=False),
            (
                float(np.nanmin(input_scale(runs["sigmoid_unscaled_inputs"]))),
                "sigmoid_unscaled_inputs",
            ),
            True,
        ),
    ]
    return [
        Separation(name, value, healthy_value, healthy_from, stuck_value, stuck_from, above)
        for name, value, (healthy_value, healthy_from), (stuck_value, stuck_from), above in rows
    ]


def table(found: Sequence[Separation]) -> str:
    """The separations as a Markdown table."""
    lines = [
        "| threshold | value | healthy side (scenario) | stuck side (scenario) | separates |",
        "|---|---:|---|---|---|",
    ]
    for s in found:
        lines.append(
            f"| {s.name} | {s.value:g} | {s.healthy:.3g} ({s.healthy_from}) | "
            f"{s.stuck:.3g} ({s.stuck_from}) | {'yes' if s.separates else 'NO'} |"
        )
    return "\n".join(lines)


def main(argv: Sequence[str]) -> int:
    """Print the figures of the scenarios trained in LOGDIR; exit 1 if a threshold fails."""
    (logdir,) = argv
    runs = suite.read_all(suite.load(logdir, 0), suite.ALL_POINTS)
    healthy = [n for n, m in suite.scenario_modules().items() if m.EXPECTED_STATUS == "ok"]
    found = separations(runs, healthy)
    print(table(found))
    return 0 if all(s.separates for s in found) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
