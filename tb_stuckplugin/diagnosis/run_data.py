"""The logged data of one run, as the diagnosis sees it: plain numpy, no TensorFlow, no TensorBoard.

A `Series` is one summary call site (one tag of ours): the points TensorBoard kept of its values tag,
plus the latest point of its since and layout tags. The latest points are what verdicts are made of;
the other kept points only draw the sparklines, so a verdict cannot depend on how many TensorBoard kept.
"""

from __future__ import annotations

import dataclasses

import numpy as np

from tb_stuckplugin.record_format import GRADIENTS, OUTPUTS, SINCE_FIELDS, VALUE_FIELDS, WEIGHTS

__all__ = ["GRADIENTS", "OUTPUTS", "WEIGHTS", "Row", "RunData", "Series"]


@dataclasses.dataclass(frozen=True)
class Row:
    """One row of a series: the model (row 0 of gradients/weights), a variable, or outputs/inputs."""

    name: str
    shape: str = ""
    dtype: str = ""
    trainable: bool = True


@dataclasses.dataclass(frozen=True)
class Series:
    """One summary tag of ours in one run.

    `values` is [points, rows, fields] over the kept points, ascending by step; `since` is the latest
    since record [rows, fields] (NaN where a condition does not hold), taken at `since_step`.
    """

    tag: str
    op: str
    rows: tuple[Row, ...]
    steps: np.ndarray
    wall_times: np.ndarray
    values: np.ndarray
    since: np.ndarray | None = None
    since_step: int | None = None

    def value(self, field: str) -> np.ndarray:
        """[points, rows] of one values field."""
        return self.values[:, :, VALUE_FIELDS[self.op].index(field)]

    def latest(self, field: str) -> np.ndarray:
        """[rows] of one values field at the last kept point (always the latest written)."""
        return self.values[-1, :, VALUE_FIELDS[self.op].index(field)]

    def since_of(self, condition: str) -> np.ndarray:
        """[rows]: the step each row's current streak of `condition` began, NaN where it does not hold."""
        if self.since is None:
            return np.full(len(self.rows), np.nan)
        return self.since[:, SINCE_FIELDS[self.op].index(condition)]

    @property
    def last_step(self) -> int:
        return int(self.steps[-1])

    @property
    def last_wall_time(self) -> float:
        return float(self.wall_times[-1])

    def interval(self) -> float:
        """The recording interval in steps, from the record count and the first recorded step."""
        records = float(self.latest("records")[0])
        first = self.since_of("first_step")[0]
        if records > 1 and np.isfinite(first) and self.last_step > first:
            return (self.last_step - first) / (records - 1)
        if len(self.steps) > 1:
            return float(np.median(np.diff(self.steps)))
        return 1.0


@dataclasses.dataclass
class RunData:
    """Everything of ours logged in one run, and what could not be read (said, not raised)."""

    run: str
    series: list[Series] = dataclasses.field(default_factory=list)
    problems: list[str] = dataclasses.field(default_factory=list)

    def of_op(self, op: str) -> list[Series]:
        return [s for s in self.series if s.op == op]
