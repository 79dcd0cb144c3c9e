"""The rules that turn one run's logged series into findings.

Every verdict is made from the latest point of each tag (the values and the since record), which
TensorBoard always keeps: conditions tracked by the writer carry the step their streak began, so a
finding's `since_step` is exact whatever TensorBoard downsampled. The two rules that compare values
across variables (vanishing through depth, the whole model's update size) use the latest values too,
and date their start from the points TensorBoard kept: there `since_step` is as precise as those points.
"""

from __future__ import annotations

import math

import numpy as np

from tb_stuckplugin.diagnosis import thresholds
from tb_stuckplugin.diagnosis.causes import causes
from tb_stuckplugin.diagnosis.report import ERROR, WARNING, Finding
from tb_stuckplugin.diagnosis.run_data import GRADIENTS, OUTPUTS, WEIGHTS, RunData, Series


def findings_of(run: RunData) -> list[Finding]:
    """All findings of a run, unordered (report.make_report orders them)."""
    gradients = run.of_op(GRADIENTS)
    weights = run.of_op(WEIGHTS)
    found = non_finite(run.series)
    for series in gradients:
        found += missing_gradients(series)
        found += zero_or_vanishing_gradients(series)
        found += vanishing_through_depth(series)
        found += exploding_gradients(series)
        found += dead_units(series)
    for series in weights:
        found += frozen_weights(
            series, _zero_gradient_names(gradients), _nonzero_gradient_names(gradients)
        )
        found += frozen_at_init(series)
    dead = any(f.kind == "dead_units" for f in found)
    for series in run.of_op(OUTPUTS):
        found += output_findings(series, dead_units_seen=dead)
    return found


# --- Streaks ----------------------------------------------------------------------------------


def streak_since(series: Series, condition: str, min_records: int) -> np.ndarray:
    """[rows]: the step each row's streak of `condition` began, where it lasted >= min_records."""
    since = series.since_of(condition)
    last = max(series.last_step, series.since_step or 0)
    records = np.floor((last - since) / series.interval() + 1e-9) + 1
    with np.errstate(invalid="ignore"):
        return np.where(records >= min_records, since, np.nan)


def _held(since: np.ndarray) -> np.ndarray:
    return np.isfinite(since)


def _first_step(since: np.ndarray, mask: np.ndarray) -> int | None:
    values = since[mask & np.isfinite(since)]
    return int(values.min()) if values.size else None


def _names(series: Series, mask: np.ndarray) -> list[str]:
    """Names of the variable rows (row 0, the model, excluded) selected by a [rows] mask."""
    return [row.name for row, selected in zip(series.rows[1:], mask[1:]) if selected]


def _layer(name: str) -> str:
    """The layer a variable belongs to: its path without the last part ("dense_1/kernel")."""
    return name.rsplit("/", 1)[0] if "/" in name else name


def _trailing_start(series: Series, holds: np.ndarray) -> int | None:
    """First step of the trailing run of kept points where `holds` ([points] bool) is true."""
    if not holds.size or not holds[-1]:
        return None
    start = len(holds) - 1
    while start > 0 and holds[start - 1]:
        start -= 1
    return int(series.steps[start])


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _round(x: float) -> float:
    """Round evidence to 3 significant digits: enough to read, few enough to scan."""
    if not math.isfinite(x) or x == 0:
        return float(x)
    return float(f"{x:.3g}")


# --- Rules ------------------------------------------------------------------------------------


def non_finite(all_series: list[Series]) -> list[Finding]:
    """NaN or Inf anywhere (gradients, weights, outputs, inputs): training is broken from there on."""
    targets, since, evidence = [], [], {}
    inputs_bad = False
    for series in all_series:
        started = series.since_of("nonfinite")
        held = _held(started)
        if not held.any():
            continue
        if series.op == OUTPUTS:
            rows = [f"{series.tag}:{row.name}" for row, h in zip(series.rows, held) if h]
            inputs_bad |= bool(held[1])
        else:
            rows = _names(series, held) or [series.rows[0].name]
        targets += rows
        since.append(_first_step(started, held))
        evidence[f"{series.tag}_nonfinite"] = float(np.nansum(series.latest("nonfinite")[1:]))
    if not targets:
        return []
    keys = ["bad_inputs"] if inputs_bad else []
    keys += ["learning_rate_too_high", "bad_loss", "float16_overflow"]
    first = min(s for s in since if s is not None)
    return [
        Finding(
            "non_finite",
            ERROR,
            targets,
            first,
            evidence,
            f"NaN or Inf values since step {first} in {_plural(len(targets), 'place')}: "
            "training cannot recover from them.",
            causes(*keys),
        )
    ]


def missing_gradients(series: Series) -> list[Finding]:
    """Variables whose gradient is None: the loss does not reach them, so they never learn."""
    started = series.since_of("missing")
    held = _held(started)
    names = _names(series, held)
    if not names:
        return []
    total = len(series.rows) - 1
    everything = len(names) == total
    first = _first_step(started, held)
    if everything:
        message = (
            f"No variable gets a gradient: all {total} gradients are None since step {first}, "
            "so nothing can learn."
        )
        keys = ("tape_not_watching", "numpy_in_loss", "wrong_variables")
    else:
        message = (
            f"{_plural(len(names), 'variable')} of {total} get no gradient (None) since step "
            f"{first}: {', '.join(sorted({_layer(n) for n in names}))} cannot learn."
        )
        keys = ("cut_branch", "wrong_variables")
    return [
        Finding(
            "missing_gradients",
            ERROR if everything else WARNING,
            names,
            first,
            {"missing": len(names), "of": total},
            message,
            causes(*keys),
        )
    ]


def zero_or_vanishing_gradients(series: Series) -> list[Finding]:
    """Gradients exactly zero or below the vanishing level, for MIN_STREAK_RECORDS records."""
    zero_started = streak_since(series, "zero", thresholds.MIN_STREAK_RECORDS)
    tiny_started = streak_since(series, "vanishing", thresholds.MIN_STREAK_RECORDS)
    present = ~_held(series.since_of("missing"))
    held = _held(tiny_started) & present
    names = _names(series, held)
    if not names:
        return []
    given = int(present[1:].sum())
    zero = _held(zero_started) & held
    zero_names = _names(series, zero)
    rms = _rms(series)
    everything = len(names) == given
    first = _first_step(tiny_started, held)
    if zero_names and len(zero_names) == len(names):
        what = "exactly zero"
        keys = ["dead_relu", "saturated_inputs", "softmax_one_unit", "zero_init", "cut_branch"]
    else:
        what = f"below {thresholds.LEVEL_VANISHING_GRAD_RMS:g} per weight"
        keys = ["deep_saturating", "saturated_inputs", "tiny_gradients"]
    if everything:
        message = f"All {given} gradients are {what} since step {first}: no weight can learn."
    else:
        layers = ", ".join(sorted({_layer(n) for n in names}))
        message = (
            f"{_plural(len(names), 'gradient')} of {given} are {what} since step {first} "
            f"({layers}): those layers cannot learn."
        )
    return [
        Finding(
            "vanishing_gradients",
            ERROR if everything else WARNING,
            names,
            first,
            {
                "vanishing": len(names),
                "exactly_zero": len(zero_names),
                "of": given,
                "largest_rms": _round(float(np.nanmax(rms[1:][held[1:]]))),
            },
            message,
            causes(*keys),
        )
    ]


def vanishing_through_depth(series: Series) -> list[Finding]:
    """Early kernels get far smaller gradients than the last one (AutoTrainer's depth rule)."""
    kernels = [i for i, row in enumerate(series.rows) if i and "x" in row.shape]
    if len(kernels) < 3:
        return []
    rms_all = series.value("norm") / np.sqrt(_sizes(series))
    rms = rms_all[-1]
    first, last = rms[kernels[0]], rms[kernels[-1]]
    if not (np.isfinite(first) and np.isfinite(last) and last > 0):
        return []
    ratio = first / last
    if (
        not (ratio < thresholds.DEPTH_GRADIENT_RATIO and first < thresholds.DEPTH_FIRST_LAYER_RMS)
        or first < thresholds.LEVEL_VANISHING_GRAD_RMS
    ):
        # Below the vanishing level the per-variable rule already reports it.
        return []
    weak = [i for i in kernels if rms[i] < thresholds.DEPTH_GRADIENT_RATIO * last]
    names = [series.rows[i].name for i in weak]
    ratios = rms_all[:, kernels[0]] / rms_all[:, kernels[-1]]
    with np.errstate(invalid="ignore"):
        start = _trailing_start(series, ratios < thresholds.DEPTH_GRADIENT_RATIO)
    return [
        Finding(
            "vanishing_gradients",
            WARNING,
            names,
            start,
            {
                "first_to_last_ratio": _round(ratio),
                "first_rms": _round(first),
                "last_rms": _round(last),
            },
            f"Gradients vanish through depth: the first layer's are {_round(ratio):g} times the "
            f"last layer's, so {_plural(len(names), 'early kernel')} barely learn.",
            causes("deep_saturating", "saturated_inputs"),
        )
    ]


def exploding_gradients(series: Series) -> list[Finding]:
    """Gradients above the exploding level for MIN_STREAK_RECORDS records."""
    started = streak_since(series, "exploding", thresholds.MIN_STREAK_RECORDS)
    held = _held(started)
    names = _names(series, held)
    if not names:
        return []
    rms = _rms(series)
    first = _first_step(started, held)
    return [
        Finding(
            "exploding_gradients",
            WARNING,
            names,
            first,
            {"exploding": len(names), "largest_rms": _round(float(np.nanmax(rms[1:][held[1:]])))},
            f"{_plural(len(names), 'gradient')} above {thresholds.LEVEL_EXPLODING_GRAD_RMS:g} per "
            f"weight since step {first}: updates overshoot.",
            causes("learning_rate_too_high", "saturated_inputs"),
        )
    ]


def dead_units(series: Series) -> list[Finding]:
    """Layers where most units get an exactly zero gradient, while the layer as a whole does not."""
    started = streak_since(series, "dead_units", thresholds.MIN_STREAK_RECORDS)
    whole = _held(streak_since(series, "zero", thresholds.MIN_STREAK_RECORDS))
    held = _held(started) & ~whole
    names = _names(series, held)
    if not names:
        return []
    fraction = series.latest("zero_fraction")
    first = _first_step(started, held)
    layers = sorted({_layer(n) for n in names})
    return [
        Finding(
            "dead_units",
            WARNING,
            names,
            first,
            {
                "layers": len(layers),
                "dead_fraction": [_round(float(f)) for f in fraction[1:][held[1:]]],
            },
            f"Most units of {', '.join(layers)} get exactly zero gradient since step {first}: "
            "they are dead and have stopped learning.",
            causes("dead_relu", "saturated_inputs"),
        )
    ]


def frozen_weights(
    series: Series, zero_gradient: set[str], nonzero_gradient: set[str]
) -> list[Finding]:
    """Trainable variables that do not move, for reasons other than a zero or missing gradient.

    Variables whose gradient is exactly zero or None are reported by those rules (the cause is
    upstream); here are those that have a gradient but are not updated, or barely.
    """
    unchanged = streak_since(series, "unchanged", thresholds.MIN_STREAK_RECORDS)
    slow = streak_since(series, "slow", thresholds.MIN_STREAK_RECORDS)
    trainable = np.array([True] + [row.trainable for row in series.rows[1:]])
    frozen = (_held(unchanged) | _held(slow)) & trainable
    explained = np.array([False] + [row.name in zero_gradient for row in series.rows[1:]])
    total = int(trainable[1:].sum())
    names = _names(series, frozen & ~explained)
    whole_model_slow = _whole_trainable_slow(series, trainable)
    everything = total > 0 and (int(frozen[1:].sum()) == total or whole_model_slow is not None)
    if not names and not everything:
        return []
    since = np.fmin(unchanged, slow)
    if everything:
        if not names:
            names = _names(series, trainable & ~explained)
        if not names:
            return []
        first = _first_step(since, frozen) if int(frozen[1:].sum()) == total else whole_model_slow
        message = f"All {total} trainable variables frozen since step {first}: nothing is learning."
    else:
        first = _first_step(since, frozen & ~explained)
        message = (
            f"{_plural(len(names), 'trainable variable')} of {total} frozen since step {first} "
            f"({', '.join(sorted({_layer(n) for n in names}))}), while the others learn."
        )
    delta, norm = series.latest("delta"), series.latest("norm")
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = delta / np.maximum(norm, thresholds.WEIGHT_RMS_FLOOR * np.sqrt(_sizes(series)[-1]))
    has_gradient = sum(name in nonzero_gradient for name in names)
    if has_gradient:
        message += " Their gradients are not zero, so the updates are not applied."
        keys = ("learning_rate_zero", "optimizer_other_variables")
    else:
        keys = ("learning_rate_zero", "optimizer_other_variables", "cut_branch")
    exactly = int((_held(unchanged) & frozen & ~explained)[1:].sum())
    return [
        Finding(
            "frozen_weights",
            ERROR if everything else WARNING,
            names,
            first,
            {
                "frozen": len(names),
                "of": total,
                "exactly_unchanged": exactly,
                "with_nonzero_gradient": has_gradient,
                "largest_update_ratio": _round(
                    float(np.nanmax(ratio[1:][frozen[1:] & ~explained[1:]]))
                )
                if names and np.isfinite(ratio[1:][frozen[1:] & ~explained[1:]]).any()
                else 0.0,
            },
            message,
            causes(*keys),
        )
    ]


def frozen_at_init(series: Series) -> list[Finding]:
    """Non-trainable layers still at their initial values: a bias that is all zeros and never moved.

    Freezing a pre-trained part on purpose is normal (its biases are not zero); freezing a layer
    that never trained is a mistake, and its zero bias gives it away.
    """
    unchanged = _held(streak_since(series, "unchanged", thresholds.MIN_STREAK_RECORDS))
    norm = series.latest("norm")
    layers = {
        _layer(row.name)
        for i, row in enumerate(series.rows)
        if i and not row.trainable and row.name.endswith("bias") and unchanged[i] and norm[i] == 0
    }
    if not layers:
        return []
    names = [row.name for row in series.rows[1:] if _layer(row.name) in layers]
    since = series.since_of("unchanged")
    mask = np.array([False] + [row.name in names for row in series.rows[1:]])
    first = _first_step(since, mask)
    return [
        Finding(
            "frozen_weights",
            WARNING,
            names,
            first,
            {"layers": len(layers), "bias_norm": 0.0},
            f"{', '.join(sorted(layers))} not trainable and still at initial values "
            f"(bias all zeros) since step {first}: it never learned.",
            causes("frozen_at_init"),
        )
    ]


def output_findings(series: Series, dead_units_seen: bool) -> list[Finding]:
    """Outputs that do not vary with the input; batches that repeat or hold one example."""
    found = []
    constant = streak_since(series, "constant", thresholds.MIN_STREAK_RECORDS)
    invariant = streak_since(series, "invariant", thresholds.MIN_STREAK_RECORDS)
    repeated = streak_since(series, "repeated", thresholds.MIN_STREAK_RECORDS)
    spread, scale = series.latest("spread"), series.latest("scale")
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = spread / scale
    inputs_constant = _held(constant[1:2]).any() or _held(invariant[1:2]).any()
    outputs_stuck = _held(constant[:1]).any() or _held(invariant[:1]).any()
    evidence = {
        "output_relative_spread": _round(float(relative[0])),
        "input_relative_spread": _round(float(relative[1])),
        "output_scale": _round(float(scale[0])),
    }
    if outputs_stuck and inputs_constant:
        first = int(np.nanmin([constant[1], invariant[1]]))
        found.append(
            Finding(
                "degenerate_batch",
                WARNING,
                [f"{series.tag}:inputs"],
                first,
                evidence,
                f"Every example of the batch is the same input since step {first}, so the "
                "outputs cannot vary.",
                causes("identical_examples"),
            )
        )
    elif outputs_stuck:
        first = int(np.nanmin([constant[0], invariant[0]]))
        exactly = bool(_held(constant[:1]).any())
        if exactly and scale[0] == 1.0:
            keys = ["softmax_one_unit", "collapse_to_constant"]
        elif exactly and scale[0] == 0.0:
            keys = ["dead_output", "dead_relu", "zero_init"]
        elif dead_units_seen:
            keys = ["dead_relu", "collapse_to_constant", "saturated_inputs"]
        else:
            keys = ["collapse_to_constant", "saturated_inputs", "dead_relu"]
        how = "exactly the same" if exactly else "almost the same"
        found.append(
            Finding(
                "invariant_outputs",
                ERROR,
                [series.tag],
                first,
                evidence,
                f"Outputs are {how} for every input since step {first}: the model ignores its "
                "input.",
                causes(*keys),
            )
        )
    if _held(repeated[1:2]).any():
        first = int(repeated[1])
        found.append(
            Finding(
                "repeated_batch",
                WARNING,
                [f"{series.tag}:inputs"],
                first,
                {
                    "repeated_records": int(round((series.last_step - first) / series.interval()))
                    + 1
                },
                f"The same input batch is fed at every recorded step since step {first}: the "
                "model only ever sees one batch.",
                causes("same_batch"),
            )
        )
    return found


# --- Helpers over series ----------------------------------------------------------------------


def _sizes(series: Series) -> np.ndarray:
    """[rows] element counts (1 where unknown, to keep divisions finite)."""
    sizes = series.since_of("size") if series.since is not None else np.ones(len(series.rows))
    return np.where(np.isfinite(sizes) & (sizes > 0), sizes, 1.0)


def _rms(series: Series) -> np.ndarray:
    return series.latest("norm") / np.sqrt(_sizes(series))


def _whole_trainable_slow(series: Series, trainable: np.ndarray) -> int | None:
    """If the trainable variables together moved less than the slow level, the step that began.

    Per-variable ratios can miss this: a zero-initialised bias creeping by 1e-10 moves a lot relative
    to its own tiny norm, while the model as a whole does not move at all.
    """
    if series.value("records")[-1, 0] < thresholds.MIN_STREAK_RECORDS + 1:
        return None
    mask = trainable.copy()
    mask[0] = False
    delta = np.sqrt(np.nansum(series.value("delta")[:, mask] ** 2, axis=1))
    norm = np.sqrt(np.nansum(series.value("norm")[:, mask] ** 2, axis=1))
    first_record = ~np.isfinite(series.value("delta")[:, 0])
    with np.errstate(invalid="ignore", divide="ignore"):
        slow = (delta / norm < thresholds.LEVEL_SLOW_UPDATE_RATIO) & ~first_record
    return _trailing_start(series, slow)


def _zero_gradient_names(gradients: list[Series]) -> set[str]:
    """Variables whose gradient is exactly zero or None (their freeze is explained upstream)."""
    names = set()
    for series in gradients:
        zero = _held(streak_since(series, "zero", thresholds.MIN_STREAK_RECORDS))
        missing = _held(series.since_of("missing"))
        names.update(_names(series, zero | missing))
    return names


def _nonzero_gradient_names(gradients: list[Series]) -> set[str]:
    names = set()
    for series in gradients:
        norm = series.latest("norm")
        names.update(_names(series, np.isfinite(norm) & (norm > 0)))
    return names
