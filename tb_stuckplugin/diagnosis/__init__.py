"""The diagnosis: from one run's logged series to a verdict. Pure Python and numpy.

It imports neither TensorFlow nor TensorBoard, and it is the one place where thresholds live
(`thresholds.py`). The plugin and `tb-stuck` both call `diagnose`, so they cannot disagree.
"""

from __future__ import annotations

from tb_stuckplugin.diagnosis.report import Finding, Report, make_report
from tb_stuckplugin.diagnosis.rules import findings_of
from tb_stuckplugin.diagnosis.run_data import Row, RunData, Series

__all__ = ["Finding", "Report", "Row", "RunData", "Series", "diagnose"]


def diagnose(run: RunData) -> Report:
    """The verdict on one run: its status and findings (see docs/api.md)."""
    if not run.series:
        return make_report(run.run, [], None, None, run.problems)
    last = max(run.series, key=lambda s: s.last_step)
    return make_report(run.run, findings_of(run), last.last_step, last.last_wall_time, run.problems)
