"""Reads tb-stuckplugin's tags from a TensorBoard data provider into the diagnosis' `RunData`.

This is the one read path: the plugin passes TensorBoard's own `context.data_provider`, and
`tb-stuck` builds the same provider TensorBoard would (the Rust data server or the Python loader), so
the panel and the command see the same data. Reads are batched: one `list_tensors` call and two
`read_tensors` calls per request, whatever the number of runs and tags.
"""

from __future__ import annotations

from collections.abc import Iterable

import numpy as np
from tensorboard.data import provider

from tb_stuckplugin import metadata
from tb_stuckplugin.diagnosis import Row, RunData, Series
from tb_stuckplugin.record_format import (
    LAYOUT,
    MODEL_ROW,
    OUTPUT_ROWS,
    OUTPUTS,
    PLUGIN_NAME,
    ROLE_SUFFIX,
    SINCE,
    VALUE_FIELDS,
    VALUES,
)

# Points of each values tag read for drawing. TensorBoard itself keeps 100 (data server) or 10
# (Python loader) per tag unless --samples_per_plugin says otherwise.
DRAW_POINTS = 100


def read_runs(
    data_provider: provider.DataProvider,
    ctx,
    experiment_id: str,
    *,
    runs: Iterable[str] | None = None,
    downsample: int = DRAW_POINTS,
) -> dict[str, RunData]:
    """RunData for every run with data of ours (or only `runs`), keyed by run name.

    `downsample` bounds the points read per values tag: the verdict needs only the latest one
    (rules.py), the panel's drawings up to `DRAW_POINTS`.
    """
    run_filter = provider.RunTagFilter(runs=list(runs)) if runs is not None else None
    listing = data_provider.list_tensors(
        ctx, experiment_id=experiment_id, plugin_name=PLUGIN_NAME, run_tag_filter=run_filter
    )
    found: dict[str, RunData] = {}
    tags_by_role: dict[str, dict[str, dict[str, str]]] = {VALUES: {}, SINCE: {}, LAYOUT: {}}
    for run, tags in listing.items():
        data = found.setdefault(run, RunData(run))
        for tag, series in tags.items():
            try:
                content = metadata.parse_plugin_content(series.plugin_content)
            except ValueError as e:
                data.problems.append(f"tag {tag!r}: {e}")
                continue
            role, op = content["role"], content["op"]
            suffix = ROLE_SUFFIX[role]
            base = tag[: len(tag) - len(suffix)] if suffix and tag.endswith(suffix) else tag
            tags_by_role[role].setdefault(run, {})[base] = op
    values = _read(
        data_provider, ctx, experiment_id, _wanted(tags_by_role[VALUES], VALUES), downsample
    )
    state_wanted = _wanted(tags_by_role[SINCE], SINCE)
    for run, tags in _wanted(tags_by_role[LAYOUT], LAYOUT).items():
        state_wanted.setdefault(run, set()).update(tags)
    state = _read(data_provider, ctx, experiment_id, state_wanted, 1)
    for run, bases in tags_by_role[VALUES].items():
        for base, op in sorted(bases.items()):
            points = values.get(run, {}).get(base)
            if not points:
                continue
            since = state.get(run, {}).get(base + ROLE_SUFFIX[SINCE])
            layout = state.get(run, {}).get(base + ROLE_SUFFIX[LAYOUT])
            series = _series(base, op, points, since, layout, found[run].problems)
            if series is not None:
                found[run].series.append(series)
    return found


def _wanted(by_run: dict[str, dict[str, str]], role: str) -> dict[str, set[str]]:
    """{run: {base tag: op}} to {run: {tag of that role}}."""
    return {run: {base + ROLE_SUFFIX[role] for base in bases} for run, bases in by_run.items()}


def _read(data_provider, ctx, experiment_id: str, wanted: dict[str, set[str]], downsample: int):
    """One batched read_tensors call for {run: {tag}}; returns {run: {tag: [TensorDatum]}}."""
    if not wanted:
        return {}
    run_filter = provider.RunTagFilter(
        runs=list(wanted), tags=sorted({tag for tags in wanted.values() for tag in tags})
    )
    result = data_provider.read_tensors(
        ctx,
        experiment_id=experiment_id,
        plugin_name=PLUGIN_NAME,
        downsample=downsample,
        run_tag_filter=run_filter,
    )
    # The filter is a cross product of runs and tags: keep only what each run asked for.
    return {
        run: {tag: data for tag, data in tags.items() if tag in wanted.get(run, ())}
        for run, tags in result.items()
    }


def _series(base, op, points, since, layout, problems: list[str]) -> Series | None:
    """Assemble one Series, keeping what is consistent and saying what is not."""
    points = sorted(points, key=lambda p: p.step)
    fields = len(VALUE_FIELDS[op])
    shape = np.shape(points[-1].numpy)
    if len(shape) != 2 or shape[1] != fields:
        problems.append(f"tag {base!r}: values of shape {shape}, expected [rows, {fields}]")
        return None
    kept = [p for p in points if np.shape(p.numpy) == shape]
    if len(kept) < len(points):
        problems.append(
            f"tag {base!r}: {len(points) - len(kept)} older points have another number of rows "
            "(the model changed between runs of the job); they are not drawn"
        )
    rows = _rows(base, op, layout, shape[0], problems)
    since_value, since_step = None, None
    if since:
        latest = max(since, key=lambda p: p.step)
        array = np.asarray(latest.numpy, dtype=np.float64)
        if array.ndim == 2 and array.shape[0] == shape[0]:
            since_value, since_step = array, int(latest.step)
        else:
            problems.append(f"tag {base!r}: since record of shape {array.shape} does not match")
    return Series(
        tag=base,
        op=op,
        rows=rows,
        steps=np.array([p.step for p in kept], dtype=np.int64),
        wall_times=np.array([p.wall_time for p in kept], dtype=np.float64),
        values=np.stack([np.asarray(p.numpy, dtype=np.float64) for p in kept]),
        since=since_value,
        since_step=since_step,
    )


def _rows(base, op, layout, count: int, problems: list[str]) -> tuple[Row, ...]:
    """Row descriptions from the latest layout point, or placeholders if it is missing or off."""
    if layout:
        array = np.asarray(max(layout, key=lambda p: p.step).numpy)
        if array.ndim == 2 and array.shape == (count, 4):
            return tuple(
                Row(
                    name=_text(name),
                    shape=_text(shape),
                    dtype=_text(dtype),
                    trainable=_text(trainable) != "0",
                )
                for name, shape, dtype, trainable in array
            )
        problems.append(f"tag {base!r}: layout of shape {array.shape} does not match {count} rows")
    else:
        problems.append(f"tag {base!r}: no layout record; rows are numbered")
    if op == OUTPUTS and count == len(OUTPUT_ROWS):
        return tuple(Row(name) for name in OUTPUT_ROWS)
    return (Row(MODEL_ROW),) + tuple(Row(f"variable {i}") for i in range(1, count))


def _text(value) -> str:
    return value.decode("utf-8", "replace") if isinstance(value, bytes) else str(value)
