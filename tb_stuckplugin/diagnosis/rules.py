"""The rules that turn one run's logged series into findings.

Every verdict is made from the latest point of each tag (the values and the since record), which
TensorBoard always keeps: conditions tracked by the writer carry the step their streak began, so a
finding's `since_step` is exact whatever TensorBoard downsampled.

Causes are ordered by the evidence (`Context`): the same symptom points at a zero initialisation
when the weights are exactly zero, at saturated units when the inputs are unscaled, at a softmax
over one unit when the outputs are exactly 1.0, and so on.
"""

from __future__ import annotations

import dataclasses
import math

import numpy as np

from tb_stuckplugin.diagnosis import thresholds
from tb_stuckplugin.diagnosis.causes import causes
from tb_stuckplugin.diagnosis.report import ERROR, WARNING, Finding
from tb_stuckplugin.diagnosis.run_data import GRADIENTS, OUTPUTS, WEIGHTS, RunData, Series


def findings_of(run: RunData) -> list[Finding]:
    """All findings of a run, unordered (report.make_report orders them)."""
    context = Context.of(run)
    found = non_finite(run.series)
    for series in run.of_op(GRADIENTS):
        found += missing_gradients(series, context)
        found += zero_or_vanishing_gradients(series, context)
        found += vanishing_through_depth(series)
        found += exploding_gradients(series, context)
        if not context.one_example:
            found += dead_units(series, context)
    for series in run.of_op(WEIGHTS):
        found += frozen_weights(series, context)
        found += frozen_at_init(series)
    for series in run.of_op(OUTPUTS):
        found += output_findings(series, context)
    return found


# --- Evidence shared by the rules ----------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Context:
    """What the rules share to choose and order causes: latest points and since records only."""

    # RMS of the inputs given to output_spread (NaN when not logged): large means unscaled.
    input_scale: float = math.nan
    # Every example of the batch is the same input (then "dead" units only mean "off for it").
    one_example: bool = False
    # Names of the watched weights (rows of the weight series), empty when none are logged.
    weight_names: frozenset[str] = frozenset()
    # Trainable variables whose norm is exactly zero (an all-zero initialisation).
    zero_weights: frozenset[str] = frozenset()
    # Variables whose gradient is None, or exactly zero or vanishing for a streak: a variable that
    # does not move for this reason is explained upstream, not by the optimizer.
    no_gradient: frozenset[str] = frozenset()
    # Variables with a finite, non-zero, not vanishing gradient at the latest record.
    with_gradient: frozenset[str] = frozenset()
    # Variables of the gradient series (the ones the user took gradients for).
    gradient_variables: frozenset[str] = frozenset()
    # Every gradient of some gradient series is None: nothing can learn, whatever else is seen.
    all_missing: bool = False
    # Units with exactly zero gradient (dead ReLUs, saturated sigmoids) for a streak.
    units_dead: bool = False
    # Gradients vanishing (not exactly zero) for a streak, or through depth at the latest record.
    vanishing: bool = False

    @classmethod
    def of(cls, run: RunData) -> Context:
        no_gradient, with_gradient, gradient_variables = set(), set(), set()
        all_missing = units_dead = vanishing = False
        for series in run.of_op(GRADIENTS):
            missing = _held(series.since_of("missing"))
            stalled = _held(streak_since(series, "vanishing", thresholds.MIN_STREAK_RECORDS))
            zero = _held(streak_since(series, "zero", thresholds.MIN_STREAK_RECORDS))
            dead = _held(streak_since(series, "dead_units", thresholds.MIN_STREAK_RECORDS))
            norm = series.latest("norm")
            no_gradient.update(_names(series, missing | stalled))
            with_gradient.update(_names(series, np.isfinite(norm) & (norm > 0) & ~stalled))
            gradient_variables.update(row.name for row in series.rows[1:])
            all_missing |= len(series.rows) > 1 and bool(missing[1:].all())
            units_dead |= bool((zero | dead)[1:].any())
            vanishing |= bool((stalled & ~zero)[1:].any()) or _through_depth(series)
        weight_names, zero_weights = set(), set()
        for series in run.of_op(WEIGHTS):
            trainable = np.array([False] + [row.trainable for row in series.rows[1:]])
            weight_names.update(row.name for row in series.rows[1:])
            zero_weights.update(_names(series, (series.latest("norm") == 0) & trainable))
        input_scale, one_example = math.nan, False
        for series in run.of_op(OUTPUTS):
            input_scale = float(series.latest("scale")[1])
            one_example |= bool(_held(series.since_of("constant")[1:2]).any())
        return cls(
            input_scale=input_scale,
            one_example=one_example,
            weight_names=frozenset(weight_names),
            zero_weights=frozenset(zero_weights),
            no_gradient=frozenset(no_gradient),
            with_gradient=frozenset(with_gradient),
            gradient_variables=frozenset(gradient_variables),
            all_missing=all_missing,
            units_dead=units_dead,
            vanishing=vanishing,
        )

    @property
    def unscaled_inputs(self) -> bool:
        return self.input_scale > thresholds.UNSCALED_INPUT_RMS


# --- Streaks ----------------------------------------------------------------------------------


def streak_since(series: Series, condition: str, min_records: int) -> np.ndarray:
    """[rows]: the step each row's streak of `condition` began, where it lasted >= min_records."""
    since = series.since_of(condition)
    last = max(series.last_step, series.since_step or 0)
    with np.errstate(invalid="ignore"):
        records = np.floor((last - since) / series.interval() + 1e-9) + 1
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


def _layers(names: list[str]) -> str:
    return ", ".join(sorted({_layer(n) for n in names}))


def _plural(count: int, word: str) -> str:
    return f"{count} {word}" if count == 1 else f"{count} {word}s"


def _round(x: float) -> float:
    """Round evidence to 3 significant digits: enough to read, few enough to scan."""
    if not math.isfinite(x) or x == 0:
        return float(x)
    return float(f"{x:.3g}")


# --- Rules ------------------------------------------------------------------------------------


def non_finite(all_series: list[Series]) -> list[Finding]:
    """NaN or Inf anywhere (gradients, weights, outputs, inputs): training is broken from there on.

    NaN at the first record, before any update could blow up, points at the loss (or the inputs);
    NaN that appears later points at updates that overshoot.
    """
    targets, since, evidence = [], [], {}
    inputs_bad = at_start = False
    for series in all_series:
        started = series.since_of("nonfinite")
        held = _held(started)
        if not held.any():
            continue
        if series.op == OUTPUTS:
            rows = [f"{series.tag}:{row.name}" for row, h in zip(series.rows, held) if h]
            inputs_bad |= bool(held[1:].any())
        else:
            rows = _names(series, held) or [series.rows[0].name]
        targets += rows
        since.append(_first_step(started, held))
        at_start |= since[-1] == series.since_of("first_step")[0]
        evidence[f"{series.tag}_nonfinite"] = float(np.nansum(series.latest("nonfinite")[1:]))
    if not targets:
        return []
    keys = ["learning_rate_too_high", "bad_loss", "float16_overflow"]
    if at_start:
        keys = ["bad_loss", "learning_rate_too_high", "float16_overflow"]
    if inputs_bad:
        keys.insert(0, "bad_inputs")
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


def missing_gradients(series: Series, context: Context) -> list[Finding]:
    """Variables whose gradient is None: the loss does not reach them, so they never learn.

    When the gradients belong to none of the watched weights, they were taken for other variables.
    """
    started = series.since_of("missing")
    held = _held(started)
    names = _names(series, held)
    if not names:
        return []
    total = len(series.rows) - 1
    everything = len(names) == total
    first = _first_step(started, held)
    foreign = bool(context.weight_names) and not set(names) & context.weight_names
    if everything:
        message = (
            f"No variable gets a gradient: all {total} gradients are None since step {first}, "
            "so nothing can learn."
        )
        keys = ("numpy_in_loss", "tape_not_watching", "wrong_variables")
        if foreign:
            message += " They are taken for variables that are not among the model's weights."
            keys = ("wrong_variables", "numpy_in_loss", "tape_not_watching")
    else:
        message = (
            f"{_plural(len(names), 'variable')} of {total} get no gradient (None) since step "
            f"{first}: {_layers(names)} cannot learn."
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


def zero_or_vanishing_gradients(series: Series, context: Context) -> list[Finding]:
    """Gradients exactly zero or below the vanishing level, for MIN_STREAK_RECORDS records."""
    zero_started = streak_since(series, "zero", thresholds.MIN_STREAK_RECORDS)
    tiny_started = streak_since(series, "vanishing", thresholds.MIN_STREAK_RECORDS)
    present = ~_held(series.since_of("missing"))
    held = _held(tiny_started) & present
    names = _names(series, held)
    if not names:
        return []
    given = int(present[1:].sum())
    zero_names = _names(series, _held(zero_started) & held)
    everything = len(names) == given
    first = _first_step(tiny_started, held)
    if zero_names and len(zero_names) == len(names):
        what = "exactly zero"
        keys = _zero_gradient_causes(context)
    else:
        what = f"below {thresholds.LEVEL_VANISHING_GRAD_RMS:g} per weight"
        keys = ["deep_saturating", "saturated_inputs", "tiny_gradients"]
        if context.unscaled_inputs:
            keys = ["saturated_inputs", "deep_saturating", "tiny_gradients"]
    if everything:
        message = f"All {given} gradients are {what} since step {first}: no weight can learn."
    else:
        message = (
            f"{_plural(len(names), 'gradient')} of {given} are {what} since step {first} "
            f"({_layers(names)}): those layers cannot learn."
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
                "largest_rms": _round(float(np.nanmax(_rms(series)[1:][held[1:]]))),
            },
            message,
            causes(*keys),
        )
    ]


def _zero_gradient_causes(context: Context) -> list[str]:
    """Why gradients are exactly zero, most likely first given the weights and the inputs."""
    keys = ["dead_relu", "saturated_inputs", "softmax_one_unit", "zero_init", "cut_branch"]
    if context.unscaled_inputs:
        keys.remove("saturated_inputs")
        keys.insert(0, "saturated_inputs")
    if context.zero_weights:
        keys.remove("zero_init")
        keys.insert(0, "zero_init")
    return keys


def _through_depth(series: Series) -> bool:
    """Whether the writer saw gradients vanish through depth at the latest record (model row)."""
    return bool(np.isfinite(series.since_of("depth")[0]))


def vanishing_through_depth(series: Series) -> list[Finding]:
    """Early kernels get far smaller gradients than the last one (AutoTrainer's depth rule).

    The writer decides it (first kernel's gradient RMS under DEPTH_GRADIENT_RATIO times the last
    kernel's, and under DEPTH_FIRST_LAYER_RMS but not vanishing itself, which the per-variable rule
    reports) and dates it; the latest values give the evidence.
    """
    if not _through_depth(series):
        return []
    kernels = [i for i, row in enumerate(series.rows) if i and "x" in row.shape]
    rms = _rms(series)
    first, last = rms[kernels[0]], rms[kernels[-1]]
    ratio = first / last
    names = [
        series.rows[i].name for i in kernels if rms[i] < thresholds.DEPTH_GRADIENT_RATIO * last
    ]
    return [
        Finding(
            "vanishing_gradients",
            WARNING,
            names,
            int(series.since_of("depth")[0]),
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


def exploding_gradients(series: Series, context: Context) -> list[Finding]:
    """Gradients above the exploding level for MIN_STREAK_RECORDS records.

    Exploding from the first record, before updates could make them grow, points at the
    initialisation (or at unscaled inputs, when they are); exploding later, at the learning rate.
    """
    started = streak_since(series, "exploding", thresholds.MIN_STREAK_RECORDS)
    held = _held(started)
    names = _names(series, held)
    if not names:
        return []
    first = _first_step(started, held)
    keys = ["learning_rate_too_high", "bad_init_scale", "unscaled_inputs"]
    if first == series.since_of("first_step")[0]:
        keys = ["bad_init_scale", "learning_rate_too_high", "unscaled_inputs"]
    if context.unscaled_inputs:
        keys.remove("unscaled_inputs")
        keys.insert(0, "unscaled_inputs")
    return [
        Finding(
            "exploding_gradients",
            WARNING,
            names,
            first,
            {
                "exploding": len(names),
                "largest_rms": _round(float(np.nanmax(_rms(series)[1:][held[1:]]))),
            },
            f"{_plural(len(names), 'gradient')} above {thresholds.LEVEL_EXPLODING_GRAD_RMS:g} per "
            f"weight since step {first}: updates overshoot.",
            causes(*keys),
        )
    ]


def dead_units(series: Series, context: Context) -> list[Finding]:
    """Layers where most units get an exactly zero gradient, while the layer as a whole does not."""
    started = streak_since(series, "dead_units", thresholds.MIN_STREAK_RECORDS)
    whole = _held(streak_since(series, "zero", thresholds.MIN_STREAK_RECORDS))
    held = _held(started) & ~whole
    names = _names(series, held)
    if not names:
        return []
    fraction = series.latest("zero_fraction")
    first = _first_step(started, held)
    keys = ["dead_relu", "saturated_inputs"]
    if context.unscaled_inputs:
        keys.reverse()
    return [
        Finding(
            "dead_units",
            WARNING,
            names,
            first,
            {
                "layers": len({_layer(n) for n in names}),
                "dead_fraction": [_round(float(f)) for f in fraction[1:][held[1:]]],
            },
            f"Most units of {_layers(names)} get exactly zero gradient since step {first}: "
            "they are dead (or saturated) and have stopped learning.",
            causes(*keys),
        )
    ]


def frozen_weights(series: Series, context: Context) -> list[Finding]:
    """Trainable variables that do not move although they have a gradient (or none was logged).

    A variable whose gradient is None, exactly zero or vanishing does not move because of that, and
    is reported by those rules (the cause is upstream). The whole model counts as frozen when every
    trainable variable not so explained is, or, when none is explained, when all the watched weights
    together (row 0, a streak the writer tracks) moved less than the slow level: a zero-initialised
    bias creeping by 1e-10 moves a lot relative to its own tiny norm, while the model does not move.
    """
    if context.all_missing:
        return []
    unchanged = streak_since(series, "unchanged", thresholds.MIN_STREAK_RECORDS)
    since = np.fmin(unchanged, streak_since(series, "slow", thresholds.MIN_STREAK_RECORDS))
    trainable = np.array([False] + [row.trainable for row in series.rows[1:]])
    explained = np.array([False] + [row.name in context.no_gradient for row in series.rows[1:]])
    candidates = trainable & ~explained
    frozen = _held(since) & candidates
    # Row 0 aggregates every variable, so its slowness says "nothing learns" only when no variable
    # stands still for an upstream reason (dead units leave a model whose last bias alone moves).
    whole_model = bool(
        _held(since[:1]).any() and candidates.any() and not (trainable & explained).any()
    )
    everything = whole_model or bool(frozen.any() and not (candidates & ~frozen).any())
    if everything:
        frozen = candidates
    names = _names(series, frozen)
    if not names:
        return []
    dated = frozen.copy()
    dated[0] = whole_model
    first = _first_step(since, dated)
    total = int(trainable.sum())
    with_gradient = [n for n in names if n in context.with_gradient]
    unlogged = context.gradient_variables and not set(names) & context.gradient_variables
    if everything:
        message = f"All {total} trainable variables frozen since step {first}: nothing is learning."
        keys = ["learning_rate_zero", "optimizer_other_variables"]
    else:
        message = (
            f"{_plural(len(names), 'trainable variable')} of {total} frozen since step {first} "
            f"({_layers(names)}), while the others learn."
        )
        keys = ["optimizer_other_variables", "learning_rate_zero"]
    if with_gradient:
        message += " Their gradients are not zero, so the updates are not applied."
    elif unlogged:
        keys.insert(0, "gradients_not_taken")
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = series.latest("delta") / np.maximum(
            series.latest("norm"), thresholds.WEIGHT_RMS_FLOOR * np.sqrt(_sizes(series))
        )
    ratio = ratio[:1] if everything else ratio[frozen]
    return [
        Finding(
            "frozen_weights",
            ERROR if everything else WARNING,
            names,
            first,
            {
                "frozen": len(names),
                "of": total,
                "exactly_unchanged": int((_held(unchanged) & frozen).sum()),
                "with_nonzero_gradient": len(with_gradient),
                "update_ratio": _round(float(np.nanmax(ratio)))
                if np.isfinite(ratio).any()
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
    mask = np.array([False] + [row.name in names for row in series.rows[1:]])
    first = _first_step(series.since_of("unchanged"), mask)
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


def output_findings(series: Series, context: Context) -> list[Finding]:
    """Outputs that do not vary with the input; batches that repeat or hold one example.

    Outputs are stuck when they are (almost) the same for every example of the batch, relative to
    their own size, or, when labels were logged, relative to the labels' spread (collapsed).
    """
    found = []
    constant = streak_since(series, "constant", thresholds.MIN_STREAK_RECORDS)
    invariant = streak_since(series, "invariant", thresholds.MIN_STREAK_RECORDS)
    repeated = streak_since(series, "repeated", thresholds.MIN_STREAK_RECORDS)
    collapsed = streak_since(series, "collapsed", thresholds.MIN_STREAK_RECORDS)
    spread, scale = series.latest("spread"), series.latest("scale")
    with np.errstate(invalid="ignore", divide="ignore"):
        relative = spread / scale
    inputs_constant = _held(constant[1:2]).any() or _held(invariant[1:2]).any()
    stuck_since = np.fmin(np.fmin(constant[0], invariant[0]), collapsed[0])
    outputs_stuck = bool(np.isfinite(stuck_since))
    evidence = {
        "output_relative_spread": _round(float(relative[0])),
        "input_relative_spread": _round(float(relative[1])),
        "output_scale": _round(float(scale[0])),
    }
    if _held(collapsed[:1]).any():
        evidence["output_to_label_spread"] = _round(float(spread[0] / spread[2]))
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
        first = int(stuck_since)
        exactly = bool(_held(constant[:1]).any())
        if _held(invariant[:1]).any() or exactly:
            how = "exactly the same" if exactly else "almost the same"
            message = (
                f"Outputs are {how} for every input since step {first}: the model ignores its "
                "input."
            )
        else:
            message = (
                f"Outputs vary {evidence['output_to_label_spread']:.2g} times as much as the "
                f"labels since step {first}: the model predicts about the same value for every "
                "input."
            )
        found.append(
            Finding(
                "invariant_outputs",
                ERROR,
                [series.tag],
                first,
                evidence,
                message,
                causes(*_invariant_causes(exactly, float(scale[0]), context)),
            )
        )
    if _held(repeated[1:2]).any():
        first = int(repeated[1])
        records = int(round((series.last_step - first) / series.interval())) + 1
        found.append(
            Finding(
                "repeated_batch",
                WARNING,
                [f"{series.tag}:inputs"],
                first,
                {"repeated_records": records},
                f"The same input batch is fed at every recorded step since step {first}: the "
                "model only ever sees one batch.",
                causes("same_batch"),
            )
        )
    return found


def _invariant_causes(exactly: bool, scale: float, context: Context) -> list[str]:
    """Why outputs ignore the input, most likely first given what else was seen."""
    if exactly and scale == 1.0:
        return ["softmax_one_unit", "collapse_to_constant"]
    if exactly and scale == 0.0:
        return ["dead_output", "dead_relu", "zero_init"]
    if context.zero_weights:
        return ["zero_init", "dead_relu", "collapse_to_constant"]
    if context.unscaled_inputs:
        return ["saturated_inputs", "dead_relu", "collapse_to_constant"]
    if context.vanishing:
        return ["deep_saturating", "collapse_to_constant", "saturated_inputs"]
    if context.units_dead:
        return ["dead_relu", "saturated_inputs", "collapse_to_constant"]
    return ["collapse_to_constant", "saturated_inputs", "dead_relu"]


# --- Helpers over series ----------------------------------------------------------------------


def _sizes(series: Series) -> np.ndarray:
    """[rows] element counts (1 where unknown, to keep divisions finite)."""
    sizes = series.since_of("size") if series.since is not None else np.ones(len(series.rows))
    return np.where(np.isfinite(sizes) & (sizes > 0), sizes, 1.0)


def _rms(series: Series) -> np.ndarray:
    return series.latest("norm") / np.sqrt(_sizes(series))
