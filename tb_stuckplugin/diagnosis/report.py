"""A run's verdict: its findings and status, and their JSON form (docs/api.md), shared by CLI and plugin."""

from __future__ import annotations

import dataclasses
import math
import re
from typing import Any

ERROR = "error"
WARNING = "warning"

STUCK = "stuck"
OK = "ok"
NO_DATA = "no_data"
STATUS_ORDER = (STUCK, WARNING, OK, NO_DATA)

# Kinds, most urgent first: the order findings are listed in and the headline is chosen by.
KINDS = (
    "non_finite",
    "missing_gradients",
    "frozen_weights",
    "invariant_outputs",
    "vanishing_gradients",
    "dead_units",
    "exploding_gradients",
    "degenerate_batch",
    "repeated_batch",
)


@dataclasses.dataclass(frozen=True)
class Finding:
    """One thing wrong with a run: what, where, since when, the numbers, and what to check."""

    kind: str
    severity: str
    targets: list[str]
    since_step: int | None
    evidence: dict[str, Any]
    message: str
    causes: list[dict[str, str]]

    def to_json(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "severity": self.severity,
            "targets": list(self.targets),
            "since_step": self.since_step,
            "evidence": {key: _json_number(value) for key, value in self.evidence.items()},
            "message": self.message,
            "causes": [dict(c) for c in self.causes],
        }


@dataclasses.dataclass(frozen=True)
class Report:
    """The verdict on one run."""

    run: str
    status: str
    last_step: int | None
    last_wall_time: float | None
    findings: list[Finding]
    problems: list[str] = dataclasses.field(default_factory=list)

    @property
    def headline(self) -> str:
        """One line for the runs overview: the most urgent finding's first clause, or the status.

        Messages put what and since when first, then ": " or ". " and the consequence.
        """
        if self.findings:
            return re.split(r": |\. ", self.findings[0].message, maxsplit=1)[0].rstrip(".")
        if self.status == NO_DATA:
            return "No tb-stuckplugin data in this run"
        return "Training looks healthy"

    def to_json(self) -> dict[str, Any]:
        """The `tb-stuck check --json` shape of one run."""
        return {
            "run": self.run,
            "status": self.status,
            "last_step": self.last_step,
            "findings": [f.to_json() for f in self.findings],
        }


def make_report(
    run: str,
    findings: list[Finding],
    last_step: int | None,
    last_wall_time: float | None,
    problems: list[str],
) -> Report:
    """Order the findings (errors first, then by kind) and derive the status from them."""
    ordered = sorted(findings, key=lambda f: (f.severity != ERROR, KINDS.index(f.kind)))
    if last_step is None:
        status = NO_DATA
    elif any(f.severity == ERROR for f in ordered):
        status = STUCK
    elif ordered:
        status = WARNING
    else:
        status = OK
    return Report(run, status, last_step, last_wall_time, ordered, problems)


def _json_number(value: Any) -> Any:
    """Evidence as JSON: numpy scalars to Python, non-finite floats to strings ('nan', 'inf')."""
    if isinstance(value, (list, tuple)):
        return [_json_number(v) for v in value]
    if hasattr(value, "item"):
        value = value.item()
    if isinstance(value, float) and not math.isfinite(value):
        return str(value)
    return value
