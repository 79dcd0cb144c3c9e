"""Summary metadata of tb-stuckplugin's tags: the proto the writer attaches and the plugin parses.

The tags and their columns are described in `tb_stuckplugin.record_format`. The `plugin_data.content` of
every tag is a small JSON object with the format version, the op and the role; TensorBoard keeps only
the first event's content of each tag, so nothing that changes goes there. This module imports
TensorBoard's protos only: the writer (TensorFlow) and the plugin (no TensorFlow) share it.
"""

from __future__ import annotations

import json

from tensorboard.compat.proto import summary_pb2

from tb_stuckplugin.record_format import (  # noqa: F401  (re-exported: the format's names)
    FORMAT_VERSION,
    GRADIENTS,
    LAYOUT,
    OPS,
    OUTPUTS,
    PLUGIN_NAME,
    ROLE_SUFFIX,
    ROLES,
    SINCE,
    VALUES,
    WEIGHTS,
)


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
