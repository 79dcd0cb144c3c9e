"""What each tag of tb-stuckplugin holds: ops, roles, columns. Pure Python, shared by all sides.

Each summary op writes up to three tags under its name (for `name="gradients"`):

- `gradients` ("values"): a float32 tensor [rows, fields] written at every recorded step: the numbers
  the panel draws. Row 0 is the whole model (or the outputs), the other rows one variable each.
- `gradients/since` ("since"): a float64 tensor [rows, fields] holding, for each condition, the step
  at which its current streak began (NaN while the condition does not hold), then each row's size and
  the first recorded step. The writer keeps this state itself and writes it on the first record and
  whenever it changes, so the latest point, which TensorBoard always keeps, carries the history a
  verdict needs however few points TensorBoard keeps.
- `gradients/layout` ("layout"): a string tensor [rows, 4] of (name, shape such as "512x10", dtype,
  trainable "1"/"0"), written at the first recorded step of each process.

The writer (TensorFlow), the plugin (TensorBoard, no TensorFlow) and the diagnosis (neither) import it.
"""

PLUGIN_NAME = "stuck"
FORMAT_VERSION = 1

GRADIENTS = "gradient_norms"
WEIGHTS = "weight_deltas"
OUTPUTS = "output_spread"
OPS = (GRADIENTS, WEIGHTS, OUTPUTS)

VALUES = "values"
SINCE = "since"
LAYOUT = "layout"
ROLES = (VALUES, SINCE, LAYOUT)

# Suffix added to the op's tag for each role.
ROLE_SUFFIX = {VALUES: "", SINCE: "/since", LAYOUT: "/layout"}

# Columns of the values tensor. "nonfinite" counts NaN/Inf gradient entries; for weights it is 1 when
# any weight is not finite. "zero_fraction" is the fraction of exactly-zero gradient entries (scanned
# for gradients of at most 4096 entries, mostly biases: one per unit; NaN otherwise). "records" counts
# the records written by this process so far.
VALUE_FIELDS = {
    GRADIENTS: ("norm", "missing", "nonfinite", "zero_fraction", "records"),
    WEIGHTS: ("norm", "delta", "nonfinite", "records"),
    OUTPUTS: (
        "spread",
        "spread_max",
        "scale",
        "zero_spread_fraction",
        "nonfinite",
        "batch",
        "records",
    ),
}

# Columns of the since tensor: the conditions, then "size" (elements of the row) and "first_step".
# "depth" (gradients vanish from the last kernel to the first) and "collapsed" (outputs vary far
# less than the labels) compare rows, and are held on the first row only.
SINCE_FIELDS = {
    GRADIENTS: (
        "missing",
        "nonfinite",
        "zero",
        "vanishing",
        "exploding",
        "dead_units",
        "depth",
        "size",
        "first_step",
    ),
    WEIGHTS: ("unchanged", "slow", "nonfinite", "size", "first_step"),
    OUTPUTS: ("constant", "invariant", "repeated", "nonfinite", "collapsed", "size", "first_step"),
}

LAYOUT_FIELDS = ("name", "shape", "dtype", "trainable")
OUTPUT_ROWS = ("outputs", "inputs", "labels")
MODEL_ROW = "(all variables)"
