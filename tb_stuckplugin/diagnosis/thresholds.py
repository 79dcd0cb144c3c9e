"""Every threshold of tb-stuckplugin, in one place, each with where its value came from.

The writer (the summary ops) reads the LEVEL_* values to keep, per variable, the step at which each
condition's current streak began, so that a verdict never depends on how many points TensorBoard kept.
The diagnosis reads the rest.

How they were chosen: on the labelled scenarios of tests/scenarios/ (small real training runs), each
threshold must separate the healthy scenarios from the stuck ones it decides. For each, the figure
on the healthy side is the most extreme level a healthy run held for MIN_STREAK_RECORDS records in
a row, and the figure on the stuck side is the deciding scenario's level over its last records; the
threshold is the round value nearest their middle (geometric for magnitudes, arithmetic for
fractions) unless a reason given below moves it. The anchors are what existing detectors use
(SageMaker Debugger, TheDeepChecker, AutoTrainer). tests/test_thresholds.py measures the figures again
on every run and fails if a threshold no longer separates them; docs/diagnosis.md has the table.
"""

# --- Levels the writer tracks (changing one changes what new event files record) ---------------

# Gradient RMS (L2 norm / sqrt(size)) below which a variable's gradient is "vanishing".
# Scenarios: healthy runs never hold below 1.9e-3 (healthy_classifier, converging); the first layer
# of deep_sigmoid stays at 9e-8. Middle: 1.3e-5; moved 13x down to 1e-6 because gradients scale with
# the loss: a healthy run whose loss is 1000x smaller than ours still stays above it.
# Anchor: SageMaker's VanishingGradient, mean absolute gradient < 1e-7 (only 1.1x from deep_sigmoid).
LEVEL_VANISHING_GRAD_RMS = 1e-6

# Gradient RMS above which a variable's gradient is "exploding".
# Scenarios: healthy runs never hold above 0.34 (dropout_noisy); exploding_init (weights of
# standard deviation 1 in 6 ReLU layers) holds 5.9e6 over the whole model. Middle: 1.4e3.
# Anchor: none uses an absolute level (SageMaker's ExplodingTensor looks at NaN/Inf only; AutoTrainer
# at a first/last layer ratio > 70).
LEVEL_EXPLODING_GRAD_RMS = 1e3

# Fraction of a layer's units (entries of its bias gradient) whose gradient is exactly zero on the
# batch: at or above it the layer's units are "dead".
# Scenarios: a healthy deep ReLU network holds 62% in a 16-unit layer (deep_relu); the saturated
# sigmoid layer of sigmoid_unscaled_inputs holds 94%. Middle: 0.78.
# Anchors: SageMaker's DeadRelu, > 50% of a layer (would flag deep_relu); AutoTrainer, >= 70%.
LEVEL_DEAD_UNIT_FRACTION = 0.8

# Relative update ||dW|| / max(||W||, FLOOR * sqrt(size)) below which learning is "too slow".
# Scenarios: healthy variables never hold below 1.3e-5 (converged: SGD at 1e-4 after convergence);
# the whole of lr_tiny (Adam at 1e-10) moves 4.7e-10 per record. Middle: 7.7e-8.
# Anchor: SageMaker's WeightUpdateRatio, < 1e-8 (21x from lr_tiny, 1300x from converged).
LEVEL_SLOW_UPDATE_RATIO = 1e-7
# The floor keeps a variable of tiny norm (a zero-initialised bias) from reading as fast-moving
# when it creeps by 1e-10: its change is measured against weights of RMS 1e-3 (a hundredth of a
# typical initial weight) rather than against its own norm. Not decided by a scenario.
WEIGHT_RMS_FLOOR = 1e-3

# Relative spread of outputs across the batch (mean per-unit std / mean per-unit RMS) at or below
# which the model's output is "invariant" to its input.
# Scenarios: healthy runs never hold below 0.82 (frozen_pretrained_base); deep_sigmoid's outputs
# vary by 4.5e-4 of their size. Middle: 1.9e-2; moved down to 3e-3 because a healthy regression
# on targets far from zero (temperatures in kelvin, 290 +- 5) reads 1.7e-2.
# Anchor: TFCheck, variance across the batch exactly 0 for 5 checks.
LEVEL_INVARIANT_RELATIVE_SPREAD = 3e-3

# Spread of the outputs across the batch over the labels' spread (mean per-unit std of each, when
# output_spread is given labels with as many units as the outputs) at or below which the model has
# "collapsed" to about one prediction for every input (the labels' mean, the majority class).
# Scenarios: healthy runs never hold below 9.8e-2 (deep_relu); mse_broadcast's outputs
# shrink to 1.5e-2 of the labels' spread. Middle (geometric): 3.8e-2.
# Anchor: none; the detectors we know do not compare outputs with the labels.
LEVEL_COLLAPSED_SPREAD_RATIO = 0.04

# --- Diagnosis ---------------------------------------------------------------------------------

# A condition must hold at this many consecutive recorded steps before it is reported.
# Scenarios: gradient_accumulation (healthy; weights move every 10 steps, recorded every 5) holds
# "unchanged" for 2 records at a time, so 2 calls it frozen; with 3 no healthy scenario raises an
# alarm, and every stuck one is still found. Anchors: SageMaker's UnchangedTensor compares 3 saved
# steps; TFCheck and DeepDiagnosis use 5 checks.
MIN_STREAK_RECORDS = 3

# Vanishing through depth: first kernel's gradient RMS below this fraction of the last kernel's,
# with the first one below DEPTH_FIRST_LAYER_RMS.
# Scenarios: a healthy 10-layer ReLU network holds a ratio of 0.53 (deep_relu); the 10-layer
# sigmoid stack 1.5e-6 (deep_sigmoid). Middle: 9e-4.
# Anchor: AutoTrainer, first/last layer gradient-norm ratio < 1e-3 with the first layer's norm
# < 1e-4 (we compare RMS, which does not grow with the layer's size). DEPTH_FIRST_LAYER_RMS is
# AutoTrainer's; the first layer of deep_relu holds above 1.7e-2.
DEPTH_GRADIENT_RATIO = 1e-3
DEPTH_FIRST_LAYER_RMS = 1e-4

# Input RMS above which inputs count as unscaled: saturated units then come first among the causes.
# Scenarios: healthy inputs are standardised (RMS at most 2.1, healthy_classifier); raw 0-255
# pixels have an RMS of 147 (sigmoid_unscaled_inputs). Middle: 17.5.
UNSCALED_INPUT_RMS = 20.0
