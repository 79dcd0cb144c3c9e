"""The event-file format of tb-stuckplugin: plugin name, tags, fields, and summary metadata.

Each summary op writes up to three tags under its name (for `name="gradients"`):

- `gradients` ("values"): a float32 tensor [rows, fields] written at every recorded step: the numbers
  the panel draws. Row 0 is the whole model (or the outputs), the other rows one variable each.
- `gradients/since` ("since"): a float64 tensor [rows, fields] holding, for each condition, the step
  at which its current streak began (NaN while the condition does not hold). The writer keeps this
  state itself and writes it whenever it changes, so the latest point, which TensorBoard always keeps,
  carries the whole history that a verdict needs however few points TensorBoard keeps.
- `gradients/layout` (the "layout"): a string tensor [rows, 4] of (name, shape such as "512x10",
  dtype, trainable "1"/"0"), written at the first recorded step of each process.

The `plugin_data.content` of every tag is a small JSON object with the format version, the op and the
role; TensorBoard keeps only the first event's content of each tag, so nothing that changes goes there.
This module imports TensorBoard's protos only: the writer (TensorFlow) and the plugin (no TensorFlow)
share it.
"""

from __future__ import annotations

import json

from tensorboard.compat.proto import summary_pb2

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

# Columns of each (op, role) tensor. Row 0 of gradients and weights is the whole model; rows 1.. are
# the variables in the order given. Rows of outputs are "outputs" and "inputs".
FIELDS = {
    (GRADIENTS, VALUES): ("norm", "missing", "nonfinite", "zero_fraction", "records"),
    (GRADIENTS, SINCE): (
        "missing",
        "nonfinite",
        "zero",
        "vanishing",
        "exploding",
        "dead_units",
        "size",
        "first_step",
    ),
    (WEIGHTS, VALUES): ("norm", "delta", "nonfinite", "records"),
    (WEIGHTS, SINCE): ("unchanged", "slow", "nonfinite", "size", "first_step"),
    (OUTPUTS, VALUES): (
        "spread",
        "spread_max",
        "scale",
        "zero_spread_fraction",
        "nonfinite",
        "batch",
        "records",
    ),
    (OUTPUTS, SINCE): ("constant", "invariant", "repeated", "nonfinite", "size", "first_step"),
}

# Suffix added to the op's tag for each role.
ROLE_SUFFIX = {VALUES: "", SINCE: "/since", LAYOUT: "/layout"}

LAYOUT_FIELDS = ("name", "shape", "dtype", "trainable")
OUTPUT_ROWS = ("outputs", "inputs")
MODEL_ROW = "(all variables)"


def create_summary_metadata(op: str, role: str) -> summary_pb2.SummaryMetadata:
    """Return the SummaryMetadata proto for one tag of `op` in `role`."""
    if op not in OPS:
        raise ValueError(f"op must be one of {OPS}, got {op!r}")
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    content = json.dumps({"version": FORMAT_VERSION, "op": op, "role": role}, sort_keys=True)
    return summary_pb2.SummaryMetadata(
        plugin_data=summary_pb2.SummaryMetadata.PluginData(
            plugin_name=PLUGIN_NAME, content=content.encode("utf-8")
        ),
        data_class=summary_pb2.DATA_CLASS_TENSOR,
    )


def parse_plugin_content(content: bytes) -> dict:
    """Parse a tag's `plugin_data.content`; raise ValueError if it is not ours or is unreadable.

    Versions newer than this reader are refused rather than misread.
    """
    try:
        parsed = json.loads(content.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as e:
        raise ValueError(f"unreadable plugin content: {e}") from None
    if not isinstance(parsed, dict):
        raise ValueError("plugin content is not a JSON object")
    version, op, role = parsed.get("version"), parsed.get("op"), parsed.get("role")
    if not isinstance(version, int) or version < 1:
        raise ValueError(f"bad format version {version!r}")
    if version > FORMAT_VERSION:
        raise ValueError(
            f"format version {version} is newer than this tb-stuckplugin ({FORMAT_VERSION}): upgrade it"
        )
    if op not in OPS or role not in ROLES:
        raise ValueError(f"unknown op/role {op!r}/{role!r}")
    return parsed
