"""Warm latency of the plugin's routes behind a real TensorBoard, beside the Scalars routes (issue 4).

    .venv/bin/python bench/bench_route_latency.py /tmp/tb-stuck-bench/r100_v100_s10000 --rounds 5

The logdir is one of bench/synthetic_logdir.py (every run has the same variables and steps). It is
served from LOGDIR.route-bench, made beside it of hard links to its files plus the scalar tags below
(kept for re-runs; delete it with the logdir).

1. What our routes read is counted, not assumed: the plugin's own routes are called in-process over
   tb-stuck's data-server loader keeping TensorBoard's default sampling (100 points per tensor tag)
   on a copy of one run (hard links), through a data provider that counts the elements (numbers, and
   the layout's strings) of every tensor point it returns. /runs reads every run: its count is that
   of one run times the number of runs. So after a change of what a route reads, a re-run matches
   the new count.
2. The Scalars routes are given the same number of points: every run gets a scalar tag
   "bench/points_P" with P points (one number each), written if missing, P being what /report reads
   for one run (P_report) and what /runs reads per run (P_runs); TensorBoard gets
   `--samples_per_plugin scalars=max(P)` so that it keeps and serves them all. Then
   /report?run=R is compared with GET /data/plugin/scalars/scalars?run=R&tag=bench/points_P_report
   (P_report points), and /runs with POST /data/plugin/scalars/scalars_multirun of
   tag=bench/points_P_runs over every run (runs x P_runs points), the Scalars dashboard's own routes.
3. `tensorboard --load_fast=true --reload_interval 0` (the Rust data server, loading once) serves
   the logdir; the load is finished when the data server has used no CPU for 3 s and every run is
   listed. Each route is requested once (not timed), then in --rounds rounds, each requesting all
   four routes one after the other (the order rotating every round), /report and the single-run
   Scalars route on the same run (cycling over the runs). TensorBoard is stopped (its process
   group) whatever happens.

Printed: the machine and its load before and after, the load time, and per route the points read,
the response size, the median and worst latency over the rounds, and the median over rounds of the
ratio ours / Scalars.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
import urllib.parse
import urllib.request
from pathlib import Path

import numpy as np
import psutil
from tensorboard.backend import application
from tensorboard.plugins import base_plugin
from werkzeug import test as werkzeug_test
from werkzeug import wrappers

BENCH_DIR = Path(__file__).resolve().parent
sys.path.insert(0, str(BENCH_DIR))
sys.path.insert(0, str(BENCH_DIR.parent / "tests"))

import synthetic_logdir  # noqa: E402
from bench_cli_scaling import machine  # noqa: E402
from tensorboard_process import TensorBoardProcess  # noqa: E402

from tb_stuckplugin import loading, plugin  # noqa: E402

ROUTE = "/data/plugin/stuck"
SCALARS = "/data/plugin/scalars"
IDLE_S = 3.0
LOAD_TIMEOUT_S = 3600.0


class CountingProvider:
    """A data provider that counts the tensor elements its `read_tensors` returns."""

    def __init__(self, inner):
        self._inner = inner
        self.elements = 0

    def read_tensors(self, *args, **kwargs):
        result = self._inner.read_tensors(*args, **kwargs)
        for tags in result.values():
            for data in tags.values():
                self.elements += sum(int(np.size(datum.numpy)) for datum in data)
        return result

    def __getattr__(self, name):
        return getattr(self._inner, name)


def count_elements(logdir: Path, run: str) -> tuple[int, int]:
    """(elements /runs reads per run, elements /report reads) on a one-run copy of `run`."""
    with tempfile.TemporaryDirectory(prefix="tb_stuck_count_", dir=logdir.parent) as copy:
        (Path(copy) / run).mkdir()
        for event_file in (logdir / run).glob("events.out.tfevents.*"):
            if ".bench-" not in event_file.name:
                os.link(event_file, Path(copy) / run / event_file.name)
        # Keep what TensorBoard's data server keeps by default (tb-stuck itself keeps 1 point).
        loader = loading.DataServerLoader(copy, None, samples=100)
        try:
            loader.wait_for_load()
            provider = CountingProvider(loader.provider)
            context = base_plugin.TBContext(logdir=copy, data_provider=provider)
            app = application.TensorBoardWSGI([plugin.StuckPlugin(context)], data_provider=provider)
            client = werkzeug_test.Client(app, wrappers.Response)
            counts = []
            for path in (f"{ROUTE}/runs", f"{ROUTE}/report?run={urllib.parse.quote(run)}"):
                provider.elements = 0
                response = client.get(path)
                if response.status_code != 200:
                    raise RuntimeError(f"{path}: {response.status_code} {response.get_data()!r}")
                counts.append(provider.elements)
        finally:
            loader.close()
    return counts[0], counts[1]


def served_copy(logdir: Path) -> Path:
    """LOGDIR.route-bench beside the logdir: hard links to its event files, to add scalar tags to.

    The logdir itself stays as written (bench_cli_scaling.py reads it); the copy is reused.
    """
    copy = logdir.with_name(logdir.name + ".route-bench")
    for run in (p for p in logdir.iterdir() if p.is_dir()):
        (copy / run.name).mkdir(parents=True, exist_ok=True)
        for event_file in run.glob("events.out.tfevents.*"):
            if not (copy / run.name / event_file.name).exists():
                os.link(event_file, copy / run.name / event_file.name)
    return copy


def server_process(board: TensorBoardProcess) -> psutil.Process:
    """The data server TensorBoard started (a child process named "server")."""
    deadline = time.monotonic() + 120
    while time.monotonic() < deadline:
        children = psutil.Process(board._process.pid).children(recursive=True)
        servers = [c for c in children if c.name() == "server"]
        if servers:
            return servers[0]
        time.sleep(0.2)
    raise RuntimeError("TensorBoard started no data server")


def wait_until_loaded(board: TensorBoardProcess, server: psutil.Process, runs: int) -> None:
    """Until the data server has been idle for IDLE_S seconds with every run listed."""
    deadline = time.monotonic() + LOAD_TIMEOUT_S
    idle_since, last_cpu = time.monotonic(), -1.0
    while time.monotonic() < deadline:
        cpu = sum(server.cpu_times()[:2])
        if cpu - last_cpu > 0.05:
            idle_since, last_cpu = time.monotonic(), cpu
        elif time.monotonic() - idle_since >= IDLE_S and len(board.get_json("/data/runs")) >= runs:
            return
        time.sleep(0.5)
    raise TimeoutError(f"TensorBoard did not finish loading in {LOAD_TIMEOUT_S:.0f} s")


def timed_request(url: str, data: bytes | None = None) -> tuple[float, bytes]:
    """(seconds, body) of one HTTP request, the body read to its end."""
    started = time.perf_counter()
    with urllib.request.urlopen(url, data=data, timeout=600) as response:
        body = response.read()
    return time.perf_counter() - started, body


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("logdir", type=Path, help="a logdir of bench/synthetic_logdir.py")
    parser.add_argument("--rounds", type=int, default=5)
    args = parser.parse_args()
    logdir = served_copy(args.logdir.resolve())
    runs = sorted(p.name for p in logdir.iterdir() if p.is_dir())
    print(f"# machine before: {machine()}", flush=True)

    started = time.perf_counter()
    points_runs, points_report = count_elements(logdir, runs[0])
    print(
        f"# counted in {time.perf_counter() - started:.0f} s: /runs reads {points_runs} elements "
        f"per run ({points_runs * len(runs)} for {len(runs)} runs), /report {points_report}",
        flush=True,
    )
    for points in sorted({points_runs, points_report}):
        started = time.perf_counter()
        added = synthetic_logdir.add_scalar_tags(logdir, points)
        print(
            f"# bench/points_{points}: added to {added} runs in {time.perf_counter() - started:.0f} s"
        )

    samples = max(points_runs, points_report)
    board = TensorBoardProcess(
        logdir,
        load_fast="true",
        reload_interval=0,
        extra_args=("--samples_per_plugin", f"scalars={samples}"),
        start_timeout_s=300,
    )
    started = time.perf_counter()
    try:
        url = board.start()
        server = server_process(board)
        wait_until_loaded(board, server, len(runs))
        load_s = time.perf_counter() - started - IDLE_S
        tensorboard_mib = psutil.Process(board._process.pid).memory_info().rss / 2**20
        print(f"# TensorBoard loaded in {load_s:.0f} s", flush=True)

        multirun = urllib.parse.urlencode(
            [("tag", f"bench/points_{points_runs}")] + [("runs", run) for run in runs]
        ).encode()

        def requests_for(run: str) -> dict[str, tuple[str, bytes | None]]:
            quoted = urllib.parse.quote(run)
            tag = urllib.parse.quote(f"bench/points_{points_report}")
            return {
                "stuck /runs": (f"{url}{ROUTE}/runs", None),
                "scalars_multirun": (f"{url}{SCALARS}/scalars_multirun", multirun),
                "stuck /report": (f"{url}{ROUTE}/report?run={quoted}", None),
                "scalars": (f"{url}{SCALARS}/scalars?run={quoted}&tag={tag}", None),
            }

        first, sizes = {}, {}
        for name, (request_url, data) in requests_for(runs[0]).items():
            first[name], body = timed_request(request_url, data)
            sizes[name] = len(body)
            check(name, json.loads(body), runs, points_runs, points_report)
        print("# first requests (s): " + ", ".join(f"{k} {v:.2f}" for k, v in first.items()))

        times: dict[str, list[float]] = {name: [] for name in first}
        for i in range(args.rounds):
            plan = list(requests_for(runs[i % len(runs)]).items())
            rotation = i % len(plan)
            for name, (request_url, data) in plan[rotation:] + plan[:rotation]:
                times[name].append(timed_request(request_url, data)[0])
        server_mib = server.memory_info().rss / 2**20
    finally:
        board.stop()
        board.log_path.unlink(missing_ok=True)
    print(f"# machine after: {machine()}")
    print(
        f"# TensorBoard {tensorboard_mib:.0f} MiB after the load, data server {server_mib:.0f} "
        f"MiB at the end"
    )
    points = {
        "stuck /runs": points_runs * len(runs),
        "scalars_multirun": points_runs * len(runs),
        "stuck /report": points_report,
        "scalars": points_report,
    }
    print(
        f"\n{len(runs)} runs; {args.rounds} rounds; load {load_s:.0f} s\n\n"
        "| route | points read | response | first ms | median ms | worst ms | ours / Scalars |\n"
        "|---|---:|---:|---:|---:|---:|---:|"
    )
    pairs = {"stuck /runs": "scalars_multirun", "stuck /report": "scalars"}
    for name, values in times.items():
        ratio = ""
        if name in pairs:
            ratios = [a / b for a, b in zip(values, times[pairs[name]])]
            ratio = f"{statistics.median(ratios):.2f}"
        print(
            f"| {name} | {points[name]:,} | {sizes[name] / 2**20:.1f} MiB | {first[name] * 1e3:.0f} "
            f"| {statistics.median(values) * 1e3:.0f} | {max(values) * 1e3:.0f} | {ratio} |"
        )
    return 0


def check(name: str, body, runs: list[str], points_runs: int, points_report: int) -> None:
    """Refuse to time a route whose answer is not the whole loaded logdir."""
    if name == "stuck /runs":
        ok = len(body["runs"]) == len(runs) and len({r["last_step"] for r in body["runs"]}) == 1
    elif name == "scalars_multirun":
        ok = len(body) == len(runs) and all(len(v) == points_runs for v in body.values())
    elif name == "stuck /report":
        ok = bool(body["variables"]) and body["last_step"] is not None
    else:
        ok = len(body) == points_report
    if not ok:
        raise RuntimeError(f"{name}: the answer does not cover the loaded logdir")


if __name__ == "__main__":
    sys.exit(main())
