"""`tb-stuck`: the diagnosis without a browser, for headless and remote monitoring of long jobs.

    tb-stuck check LOGDIR [--json] [--run REGEX]    one verdict per run; exit 1 if any is stuck
    tb-stuck watch LOGDIR [--interval S] [--exit-on-stuck] [--json]   a line when a status changes

Exit codes: 0 no run stuck, 1 at least one run stuck, 2 usage or read error (message on stderr).
It reads through TensorBoard's own loaders and diagnoses with the plugin's code (see loading.py).
"""

from __future__ import annotations

import argparse
import json
import math
import re
import sys
import time
from collections.abc import Sequence

import grpc
from tensorboard import context

from tb_stuckplugin import loading, reader
from tb_stuckplugin.diagnosis import Report, RunData, diagnose
from tb_stuckplugin.diagnosis.report import STATUS_ORDER, STUCK

EXIT_OK, EXIT_STUCK, EXIT_ERROR = 0, 1, 2


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `tb-stuck` console script; returns the exit code."""
    args = _parser().parse_args(argv)
    try:
        run_filter = re.compile(args.run) if args.run else None
    except re.error as e:
        print(f"tb-stuck: --run: bad regular expression: {e}", file=sys.stderr)
        return EXIT_ERROR
    try:
        loader = loading.open_logdir(
            args.logdir, args.load_fast, args.interval if args.command == "watch" else None
        )
    except loading.LoadError as e:
        print(f"tb-stuck: {e}", file=sys.stderr)
        return EXIT_ERROR
    try:
        if args.command == "check":
            return _check(loader, args, run_filter)
        return _watch(loader, args, run_filter)
    except loading.LoadError as e:
        print(f"tb-stuck: {e}", file=sys.stderr)
        return EXIT_ERROR
    except grpc.RpcError as e:  # a read the data server refused: a read error, not "stuck" (1)
        detail = e.details() if isinstance(e, grpc.Call) else e
        print(f"tb-stuck: reading from the data server failed: {detail}", file=sys.stderr)
        return EXIT_ERROR
    except KeyboardInterrupt:
        return EXIT_OK
    finally:
        loader.close()


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="tb-stuck",
        description="Tell whether training runs are stuck, from their TensorBoard logs.",
        epilog="Exit codes: 0 no run stuck, 1 at least one run stuck, 2 usage or read error.",
    )
    commands = parser.add_subparsers(dest="command", required=True)
    check = commands.add_parser("check", help="diagnose every run once")
    watch = commands.add_parser("watch", help="keep diagnosing while event files grow")
    for command in (check, watch):
        command.add_argument("logdir", help="the directory given to tensorboard --logdir")
        command.add_argument("--json", action="store_true", help="machine-readable output")
        command.add_argument("--run", metavar="REGEX", help="only runs whose name matches")
        command.add_argument(
            "--load-fast",
            choices=("auto", "true", "false"),
            default="auto",
            help="as tensorboard --load_fast: the Rust data server (true/auto) or Python (false)",
        )
    check.set_defaults(interval=None)
    watch.add_argument(
        "--interval", type=_seconds, default=30.0, metavar="SECONDS", help="between reloads (30)"
    )
    watch.add_argument(
        "--exit-on-stuck", action="store_true", help="exit with code 1 when a run turns stuck"
    )
    return parser


def _seconds(text: str) -> float:
    """The type of --interval: a positive, finite number of seconds (0 would never reload)."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not a number: {text!r}") from None
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"must be a positive number of seconds, got {text}")
    return value


def diagnose_logdir(loader, run_filter: re.Pattern | None) -> list[Report]:
    """Reports for every run the loader has (ours or not), most urgent first, then by name."""
    ctx = context.RequestContext()
    names = {run.run_name for run in loader.provider.list_runs(ctx, experiment_id="")}
    ours = reader.read_runs(loader.provider, ctx, "", downsample=1)
    names |= set(ours)
    if run_filter is not None:
        names = {name for name in names if run_filter.search(name)}
    reports = [diagnose(ours.get(name) or RunData(name)) for name in names]
    return sorted(reports, key=lambda r: (STATUS_ORDER.index(r.status), r.run))


def _check(loader, args, run_filter) -> int:
    loader.wait_for_load()
    reports = diagnose_logdir(loader, run_filter)
    if args.json:
        print(json.dumps({"logdir": args.logdir, "runs": [r.to_json() for r in reports]}, indent=2))
    elif not reports and args.run:
        print(f"No runs in {args.logdir} match --run {args.run!r}.")
    else:
        print(format_table(args.logdir, reports))
    return EXIT_STUCK if any(r.status == STUCK for r in reports) else EXIT_OK


def _watch(loader, args, run_filter) -> int:
    seen: dict[str, str] = {}
    if not args.json:
        print(f"watching {args.logdir} every {args.interval:g} s (Ctrl-C to stop)", flush=True)
    while True:
        loader.wait_for_load()
        for report in diagnose_logdir(loader, run_filter):
            previous = seen.get(report.run)
            if previous == report.status:
                continue
            seen[report.run] = report.status
            _print_change(report, previous, args.json)
            if args.exit_on_stuck and report.status == STUCK:
                return EXIT_STUCK


def _print_change(report: Report, previous: str | None, as_json: bool) -> None:
    if as_json:
        line = {
            "time": time.time(),
            "run": report.run,
            "status": report.status,
            "previous": previous,
            "last_step": report.last_step,
            "headline": report.headline,
            "kinds": sorted({f.kind for f in report.findings}),
        }
        print(json.dumps(line), flush=True)
        return
    stamp = time.strftime("%H:%M:%S")
    change = f"{previous} -> {report.status}" if previous else report.status
    step = f" at step {report.last_step}" if report.last_step is not None else ""
    print(f"{stamp}  {report.run}: {change.upper()}{step}: {report.headline}", flush=True)


def format_table(logdir: str, reports: list[Report]) -> str:
    """The readable form of `check`: a line per run, then each finding with its top causes."""
    if not reports:
        return f"No runs in {logdir}."
    width = min(40, max(len(r.run) for r in reports))
    lines = [f"{'RUN':<{width}}  {'STATUS':<8}  {'STEP':>8}  HEADLINE"]
    for r in reports:
        step = "-" if r.last_step is None else str(r.last_step)
        lines.append(f"{r.run:<{width}}  {r.status.upper():<8}  {step:>8}  {r.headline}")
    for r in reports:
        if not r.findings and not r.problems:
            continue
        lines += ["", f"{r.run} ({r.status}):"]
        for f in r.findings:
            lines.append(f"  [{f.severity}] {f.kind}: {f.message}")
            lines.append(
                f"      where: {', '.join(f.targets[:5])}" + (" ..." if len(f.targets) > 5 else "")
            )
            for i, cause in enumerate(f.causes[:3], start=1):
                lines.append(f"      {i}. {cause['cause']} Check: {cause['check']}")
        for problem in r.problems:
            lines.append(f"  [read] {problem}")
    counts = {s: sum(r.status == s for r in reports) for s in STATUS_ORDER}
    lines += ["", ", ".join(f"{n} {s.replace('_', ' ')}" for s, n in counts.items() if n)]
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
