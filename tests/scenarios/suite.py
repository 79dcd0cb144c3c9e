"""Train the labelled scenarios, read them back the way TensorBoard does, and judge the verdicts.

    python -m scenarios.suite LOGDIR      # from tests/: train every scenario, print the tables

Training runs the scenarios in two processes (`python -m scenarios.harness`), each importing
TensorFlow once and training its share one after the other, so that the suite fits a 2-core CI
runner. Reading uses TensorBoard's Python loader with a chosen reservoir size for our plugin
(`tensor_size_guidance={"stuck": N}`, 0 keeps every point), the plugin's reader and the diagnosis:
the same path as the panel.

Detection latency is measured by replay: for each recorded step S, the diagnosis is run on the
points written up to S (every point kept), as TensorBoard would have shown them at that moment.
The latency is the first such S at which the verdict has the expected status and kinds, minus the
scenario's CAUSE_STEP.
"""

from __future__ import annotations

import atexit
import dataclasses
import functools
import os
import shutil
import subprocess
import sys
import tempfile
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from types import ModuleType
from typing import Any

from tensorboard import context
from tensorboard.backend.event_processing import data_ingester, plugin_event_multiplexer
from tensorboard.backend.event_processing.data_provider import MultiplexerDataProvider
from tensorboard.data import provider

from scenarios import harness
from tb_stuckplugin import reader
from tb_stuckplugin.diagnosis import Report, RunData, diagnose
from tb_stuckplugin.record_format import PLUGIN_NAME

TESTS_DIR = os.path.dirname(os.path.dirname(os.path.abspath(__file__)))
WORKERS = 2
# Reservoir sizes the verdicts must not depend on: the Python loader's default for third-party
# plugins, the data server's default for tensors, and every point.
RESERVOIRS = (10, 100, 0)
# Names a directory to keep trained scenarios in between sessions (see `trained`).
KEEP_LOGDIR_VARIABLE = "STUCK_SCENARIO_LOGDIR"
# Larger than any scenario's number of records: read every point.
ALL_POINTS = 10**9
# A scenario trains in seconds; this only stops a hung one from hanging the suite.
SCENARIO_TIMEOUT_S = 300


class ScenarioError(RuntimeError):
    """A training process failed: the end of what it printed names the scenarios."""


def scenario_modules() -> dict[str, ModuleType]:
    """Every scenario, by name."""
    return {name: harness.scenario(name) for name in harness.scenario_names()}


def train_all(logdir: str, names: Sequence[str], workers: int = WORKERS) -> None:
    """Train each scenario into logdir/NAME, in `workers` processes that share the scenarios."""

    def train(share: Sequence[str]) -> None:
        process = subprocess.run(
            [sys.executable, "-m", "scenarios.harness", logdir, *share],
            cwd=TESTS_DIR,
            env=dict(os.environ, TF_CPP_MIN_LOG_LEVEL="2"),
            capture_output=True,
            text=True,
            timeout=SCENARIO_TIMEOUT_S * len(share),
        )
        if process.returncode != 0:
            raise ScenarioError(f"exit code {process.returncode}:\n{process.stderr[-5000:]}")

    shares = [list(names[i::workers]) for i in range(workers)]
    with ThreadPoolExecutor(workers) as pool:
        list(pool.map(train, [share for share in shares if share]))


@functools.cache
def trained() -> str:
    """A logdir with every scenario trained, once per process: the test modules share it.

    With STUCK_SCENARIO_LOGDIR set, that directory is used and kept, and only the scenarios it
    lacks are trained (for working on the diagnosis; delete a scenario's directory after
    changing the scenario or the writer).
    """
    logdir = os.environ.get(KEEP_LOGDIR_VARIABLE)
    if logdir:
        os.makedirs(logdir, exist_ok=True)
    else:
        logdir = tempfile.mkdtemp(prefix="stuck_scenarios_")
        atexit.register(shutil.rmtree, logdir, ignore_errors=True)
    names = sorted(n for n in scenario_modules() if not os.path.isdir(os.path.join(logdir, n)))
    train_all(logdir, names)
    return logdir


def load(logdir: str, samples: int) -> MultiplexerDataProvider:
    """TensorBoard's Python loader over `logdir`, keeping `samples` points per tag of ours."""
    multiplexer = plugin_event_multiplexer.EventMultiplexer(
        size_guidance=data_ingester.DEFAULT_SIZE_GUIDANCE,
        tensor_size_guidance={PLUGIN_NAME: samples},
    )
    multiplexer.AddRunsFromDirectory(logdir)
    multiplexer.Reload()
    return MultiplexerDataProvider(multiplexer, logdir)


def scenario_of(run: str) -> str:
    """The scenario a run belongs to: the first part of its path (a Keras run is NAME/train)."""
    return run.replace("\\", "/").split("/")[0]


def read_all(data_provider: Any, downsample: int = reader.DRAW_POINTS) -> dict[str, RunData]:
    """Our data of every run, keyed by scenario name, `downsample` points per values tag at most."""
    runs = reader.read_runs(data_provider, context.RequestContext(), "", downsample=downsample)
    return {scenario_of(run): data for run, data in runs.items()}


def diagnose_all(logdir: str, samples: int) -> dict[str, Report]:
    """The verdict on every scenario, read with a reservoir of `samples` points per tag."""
    return {name: diagnose(data) for name, data in read_all(load(logdir, samples)).items()}


# --- Replay: the verdict as it stood at each recorded step --------------------------------------


class UpToStep:
    """A data provider showing only the points written up to a step (all of them, none dropped).

    Wraps TensorBoard's provider over the finished logs, read once: what the panel would have read
    while the job was at that step. It serves the two calls the reader makes, and returns every
    point up to the step whatever `downsample` asks (the reader takes the latest where it needs one).
    """

    def __init__(self, inner: MultiplexerDataProvider):
        self._inner = inner
        self._tensors: dict[str, Any] = {}
        self.step = -1

    def list_tensors(self, ctx: Any = None, **kwargs: Any) -> Any:
        return self._inner.list_tensors(ctx, **kwargs)

    def read_tensors(self, ctx: Any = None, *, run_tag_filter: Any = None, **kwargs: Any) -> Any:
        key = repr(run_tag_filter.runs if run_tag_filter else None) + repr(
            run_tag_filter.tags if run_tag_filter else None
        )
        if key not in self._tensors:
            kwargs["downsample"] = ALL_POINTS
            self._tensors[key] = self._inner.read_tensors(
                ctx, run_tag_filter=run_tag_filter, **kwargs
            )
        return {
            run: {tag: [d for d in data if d.step <= self.step] for tag, data in tags.items()}
            for run, tags in self._tensors[key].items()
        }

    def recorded_steps(self, run: str) -> list[int]:
        """Every step at which `run` recorded anything of ours."""
        data = self._inner.read_tensors(
            context.RequestContext(),
            experiment_id="",
            plugin_name=PLUGIN_NAME,
            downsample=ALL_POINTS,
            run_tag_filter=provider.RunTagFilter(runs=[run]),
        )
        return sorted({d.step for points in data.get(run, {}).values() for d in points})


def detected(report: Report, scenario: ModuleType) -> bool:
    """Whether a verdict is the one the scenario expects (its status, and its kinds among more)."""
    kinds = {f.kind for f in report.findings}
    return report.status == scenario.EXPECTED_STATUS and set(scenario.EXPECTED_KINDS) <= kinds


class Replay:
    """The verdicts a scenario's run got, step by step, as its logs grew (every point kept)."""

    def __init__(self, logdir: str):
        self._inner = load(logdir, 0)
        listing = self._inner.list_tensors(
            context.RequestContext(), experiment_id="", plugin_name=PLUGIN_NAME
        )
        self._runs = {scenario_of(run): run for run in listing}

    def verdicts(self, name: str) -> Iterator[tuple[int, Report]]:
        """(step, verdict on the points written up to it), for each step the run recorded at."""
        run = self._runs[name]
        view = UpToStep(self._inner)
        for step in view.recorded_steps(run):
            view.step = step
            data = reader.read_runs(view, context.RequestContext(), "", runs=[run])
            yield step, diagnose(data.get(run) or RunData(run))


def first_detection(logdir: str, scenarios: dict[str, ModuleType]) -> dict[str, int | None]:
    """For each stuck or warning scenario: the first recorded step whose verdict detects it."""
    replay = Replay(logdir)
    found: dict[str, int | None] = {}
    for name, scenario in scenarios.items():
        if scenario.EXPECTED_STATUS == "ok":
            continue
        found[name] = next(
            (step for step, report in replay.verdicts(name) if detected(report, scenario)), None
        )
    return found


def statuses_before(logdir: str, name: str, step: int) -> dict[int, str]:
    """{recorded step: status} of a scenario's verdicts at the steps before `step`."""
    return {s: report.status for s, report in Replay(logdir).verdicts(name) if s < step}


# --- Tables -------------------------------------------------------------------------------------


@dataclasses.dataclass(frozen=True)
class Outcome:
    """One scenario's expected and obtained verdict."""

    name: str
    cause: str
    expected_status: str
    expected_kinds: frozenset[str]
    status: str
    kinds: frozenset[str]
    # The since_step of the expected kinds' findings (earliest of each kind), for the table.
    since: dict[str, int | None]
    cause_step: int | None
    detected_at: int | None
    # Why the fault cannot be detected from what the writer logs yet (None when it can).
    known_miss: str | None = None

    @property
    def ok(self) -> bool:
        return self.status == self.expected_status and self.expected_kinds <= self.kinds

    @property
    def latency(self) -> int | None:
        if self.cause_step is None or self.detected_at is None:
            return None
        return self.detected_at - self.cause_step


def outcomes(
    reports: dict[str, Report],
    scenarios: dict[str, ModuleType],
    detections: dict[str, int | None],
) -> list[Outcome]:
    """Expected against obtained, one per scenario, in name order."""
    result = []
    for name, scenario in sorted(scenarios.items()):
        report = reports.get(name)
        findings = report.findings if report else []
        since = {}
        for kind in sorted(scenario.EXPECTED_KINDS):
            steps = [f.since_step for f in findings if f.kind == kind and f.since_step is not None]
            since[kind] = min(steps) if steps else None
        result.append(
            Outcome(
                name=name,
                cause=scenario.CAUSE,
                expected_status=scenario.EXPECTED_STATUS,
                expected_kinds=frozenset(scenario.EXPECTED_KINDS),
                status=report.status if report else "missing",
                kinds=frozenset(f.kind for f in findings),
                since=since,
                cause_step=scenario.CAUSE_STEP,
                detected_at=detections.get(name),
                known_miss=getattr(scenario, "KNOWN_MISS", None),
            )
        )
    return result


def confusion_table(results: Sequence[Outcome]) -> str:
    """Expected status (rows) against obtained status (columns), as a Markdown table."""
    statuses = ("stuck", "warning", "ok", "no_data")
    lines = [
        "| expected \\ got | " + " | ".join(statuses) + " |",
        "|---|" + "---:|" * len(statuses),
    ]
    for expected in ("stuck", "warning", "ok"):
        counts = [
            sum(r.expected_status == expected and r.status == s for r in results) for s in statuses
        ]
        lines.append(f"| {expected} | " + " | ".join(str(c) for c in counts) + " |")
    return "\n".join(lines)


def scenario_table(results: Sequence[Outcome]) -> str:
    """One line per scenario: cause, expected and obtained verdict, since_step, latency."""
    lines = [
        "| scenario | cause | expected | got | since_step (cause step) | latency (steps) |",
        "|---|---|---|---|---|---:|",
    ]
    for r in results:
        expected = r.expected_status + _kinds(r.expected_kinds)
        got = r.status + _kinds(r.kinds)
        if not r.ok:
            got += f" **MISS** (known: {r.known_miss})" if r.known_miss else " **MISS**"
        since = ", ".join(f"{k} {s}" for k, s in r.since.items()) or "-"
        if r.cause_step is not None:
            since += f" ({r.cause_step})"
        latency = "-" if r.latency is None else str(r.latency)
        lines.append(f"| {r.name} | {r.cause} | {expected} | {got} | {since} | {latency} |")
    return "\n".join(lines)


def _kinds(kinds: Iterable[str]) -> str:
    kinds = sorted(kinds)
    return f": {', '.join(kinds)}" if kinds else ""


def main(argv: Sequence[str]) -> int:
    """Train every scenario into LOGDIR (unless it already holds them) and print the tables."""
    (os.environ[KEEP_LOGDIR_VARIABLE],) = argv
    logdir = trained()
    scenarios = scenario_modules()
    results = outcomes(diagnose_all(logdir, 0), scenarios, first_detection(logdir, scenarios))
    print(confusion_table(results), scenario_table(results), sep="\n\n")
    return 0 if all(r.ok for r in results) else 1


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
