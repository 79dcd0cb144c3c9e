"""Every threshold of tb-stuckplugin, in one place, each with where its value came from.

The writer (the summary ops) reads the LEVEL_* values to keep, per variable, the step at which each
condition's current streak began, so that a verdict never depends on how many points TensorBoard kept.
The diagnosis reads the rest. Values were chosen on the labelled scenarios in tests/scenarios/ (see
docs/diagnosis.md), starting from the anchors in the detectors that exist (SageMaker Debugger,
TheDeepChecker, AutoTrainer). tests/test_thresholds.py checks each against the scenarios that decide it.
"""

# --- Levels the writer tracks (changing one changes what new event files record) ---------------

# Gradient RMS (L2 norm / sqrt(size)) below which a variable's gradient is "vanishing".
# SageMaker's VanishingGradient rule: mean absolute gradient < 1e-7.
LEVEL_VANISHING_GRAD_RMS = 1e-7

# Gradient RMS above which a variable's gradient is "exploding". No anchor uses an absolute level
# (SageMaker's ExplodingTensor only looks at NaN/Inf; AutoTrainer a first/last layer ratio > 70);
# healthy scenarios stay below 1 per coordinate, the huge-learning-rate ones reach 1e3 and more.
LEVEL_EXPLODING_GRAD_RMS = 1e2

# Fraction of a layer's units (last axis of the kernel) whose gradient is exactly zero on the batch.
# SageMaker DeadRelu: > 50% of a layer's units inactive; AutoTrainer: >= 70% zero gradient entries.
LEVEL_DEAD_UNIT_FRACTION = 0.5

# Relative update ||dW|| / max(||W||, FLOOR * sqrt(size)) below which learning is "too slow".
# SageMaker WeightUpdateRatio: < 1e-8. The floor keeps zero-initialised biases, whose norm starts at
# zero, from reading as fast-moving when they creep by 1e-10.
LEVEL_SLOW_UPDATE_RATIO = 1e-8
WEIGHT_RMS_FLOOR = 1e-3

# Relative spread of outputs across the batch (mean per-unit std / mean per-unit RMS) below which the
# model's output is "invariant" to its input. TFCheck: variance across the batch exactly 0.
LEVEL_INVARIANT_RELATIVE_SPREAD = 1e-3

# --- Diagnosis ---------------------------------------------------------------------------------

# A condition must hold at this many consecutive recorded steps before it is reported.
# SageMaker UnchangedTensor compares the last 3 saved steps; DeepDiagnosis and TFCheck use 5 checks.
MIN_STREAK_RECORDS = 3

# Vanishing through depth: first kernel's gradient RMS below this fraction of the last kernel's, with
# the first one below DEPTH_FIRST_LAYER_RMS. AutoTrainer: first/last layer gradient-norm ratio < 1e-3
# with the first layer's norm < 1e-4 (we compare RMS, which does not grow with the layer's size).
DEPTH_GRADIENT_RATIO = 1e-3
DEPTH_FIRST_LAYER_RMS = 1e-4
