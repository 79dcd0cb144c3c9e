"""`tb-stuck check` over large synthetic logdirs: time and peak memory, and how both grow (issue 3).

    .venv/bin/python bench/bench_cli_scaling.py                      # the default set, both loaders
    .venv/bin/python bench/bench_cli_scaling.py --configs 100x100x10000,50x100x10000 --repeats 3

A config RxVxS is R runs of V variables with S recorded steps each, written by
bench/synthetic_logdir.py into --workdir (default /tmp/tb-stuck-bench, outside the repository) the
first time it is needed; a config with fewer runs than one already written is made of hard links to
that one's first runs (the same files, no extra disk). --cleanup deletes the logdirs at the end.

Each measurement is a fresh process running `tb_stuckplugin.cli.main(["check", LOGDIR, "--json",
"--load-fast", X])`, the entry point of the `tb-stuck` console script, with timers around its phases:
start (from the process's creation: imports and the data server's start), load (until the loader
has read the logdir), read (`reader.read_runs`: the batched reads through the data provider),
diagnose (the rules on every run), output (the rest: listing runs, sorting, the JSON, stopping).
Peak memory is the peak resident set (VmHWM) of the `tb-stuck` process and of the data server it
starts (read just before it is stopped); "both" is their sum, an upper bound of the two together.
Repeats are interleaved over configs and loaders, and each figure is the median over repeats. The
growth table gives, for each pair of configs that differ in one dimension, the ratio of each figure.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

import psutil

BENCH_DIR = Path(__file__).resolve().parent
DEFAULT_CONFIGS = "100x100x10000,50x100x10000,25x100x10000,100x50x10000,100x100x5000"
PHASES = ("start", "load", "read", "diagnose", "output")


# --- The measured process ------------------------------------------------------------------------


def child(logdir: str, load_fast: str, result_path: str) -> None:
    """Run `tb-stuck check --json` in this process with phase timers; write them to result_path."""
    started = time.perf_counter() - (time.time() - psutil.Process().create_time())
    from tb_stuckplugin import cli, loading, reader

    spent = dict.fromkeys(PHASES, 0.0)
    clock = {"last": started}
    peaks = {"server": 0}
    statuses: dict[str, int] = {}

    def lap(phase: str) -> None:
        now = time.perf_counter()
        spent[phase] += now - clock["last"]
        clock["last"] = now

    def timed(phase: str, function: Callable) -> Callable:
        def wrapper(*args, **kwargs):
            lap("start" if phase == "start" else "output")
            try:
                return function(*args, **kwargs)
            finally:
                lap(phase)

        return wrapper

    def close_noting_peak(loader) -> None:
        with contextlib.suppress(OSError, AttributeError):
            peaks["server"] = _peak_rss_kib(loader._process.pid)
        original_close(loader)

    def counting(*args, **kwargs):
        reports = diagnose_logdir(*args, **kwargs)
        for report in reports:
            statuses[report.status] = statuses.get(report.status, 0) + 1
        return reports

    for loader_class in (loading.DataServerLoader, loading.PythonLoader):
        loader_class.wait_for_load = timed("load", loader_class.wait_for_load)
    original_close = loading.DataServerLoader.close
    loading.DataServerLoader.close = close_noting_peak
    loading.open_logdir = timed("start", loading.open_logdir)
    reader.read_runs = timed("read", reader.read_runs)
    cli.diagnose = timed("diagnose", cli.diagnose)
    diagnose_logdir = cli.diagnose_logdir
    cli.diagnose_logdir = counting
    code = cli.main(["check", logdir, "--json", "--load-fast", load_fast])
    lap("output")
    result = {
        "exit": code,
        "phases": spent,
        "statuses": statuses,
        "peak_cli_kib": _peak_rss_kib(os.getpid()),
        "peak_server_kib": peaks["server"],
    }
    with open(result_path, "w") as f:
        json.dump(result, f)


def _peak_rss_kib(pid: int) -> int:
    """A process's peak resident set (VmHWM), in KiB."""
    with open(f"/proc/{pid}/status") as f:
        return next(int(line.split()[1]) for line in f if line.startswith("VmHWM:"))


# --- The measuring process -------------------------------------------------------------------------


def measure(logdir: Path, load_fast: str) -> dict:
    """One `tb-stuck check` of logdir in a fresh process: wall time, phases, peak memory."""
    with tempfile.NamedTemporaryFile(suffix=".json", delete=False) as f:
        result_path = f.name
    command = [sys.executable, __file__, "--child", str(logdir), load_fast, result_path]
    started = time.perf_counter()
    process = subprocess.run(command, stdout=subprocess.DEVNULL)
    wall = time.perf_counter() - started
    try:
        with open(result_path) as f:
            result = json.load(f)
    finally:
        os.unlink(result_path)
    if process.returncode != 0 or result["exit"] not in (0, 1):
        raise RuntimeError(f"tb-stuck check {logdir} --load-fast {load_fast}: {result}")
    return {
        "wall": wall,
        **result["phases"],
        "peak_cli_mib": result["peak_cli_kib"] / 1024,
        "peak_server_mib": result["peak_server_kib"] / 1024,
        "peak_total_mib": (result["peak_cli_kib"] + result["peak_server_kib"]) / 1024,
        "statuses": result["statuses"],
    }


def parse_config(text: str) -> tuple[int, int, int]:
    runs, variables, steps = (int(x) for x in text.lower().split("x"))
    return runs, variables, steps


def config_name(config: tuple[int, int, int]) -> str:
    return "x".join(map(str, config))


def ensure_logdir(workdir: Path, config: tuple[int, int, int], jobs: int | None) -> Path:
    """The logdir of config under workdir, written (or hard-linked from a larger one) if missing."""
    sys.path.insert(0, str(BENCH_DIR))
    import synthetic_logdir

    runs, variables, steps = config
    logdir = workdir / f"r{runs}_v{variables}_s{steps}"
    done = workdir / f"r{runs}_v{variables}_s{steps}.complete"
    if done.exists():
        return logdir
    larger = sorted(
        (int(p.name.split("_")[0][1:]), p)
        for p in workdir.glob(f"r*_v{variables}_s{steps}")
        if Path(f"{p}.complete").exists() and int(p.name.split("_")[0][1:]) > runs
    )
    started = time.perf_counter()
    if larger:
        source = larger[0][1]
        for index in range(runs):
            name = synthetic_logdir.run_name(index)
            (logdir / name).mkdir(parents=True, exist_ok=True)
            for event_file in (source / name).glob("events.out.tfevents.*"):
                target = logdir / name / event_file.name
                if not target.exists():
                    os.link(event_file, target)
        how = f"linked from {source.name}"
    else:
        synthetic_logdir.write_logdir(logdir, runs, variables, steps, jobs=jobs)
        how = "written"
    done.touch()
    print(f"# {logdir}: {how} in {time.perf_counter() - started:.0f} s", flush=True)
    return logdir


def logdir_bytes(logdir: Path) -> int:
    return sum(p.stat().st_size for p in logdir.rglob("events.out.tfevents.*"))


def machine() -> str:
    """nproc, CPU model, memory, the disk of /tmp, and the load now."""
    model = next(
        (
            line.split(":", 1)[1].strip()
            for line in subprocess.run(
                ["lscpu"], capture_output=True, text=True
            ).stdout.splitlines()
            if line.startswith("Model name")
        ),
        "?",
    )
    disk = subprocess.run(["df", "-h", "/tmp"], capture_output=True, text=True).stdout.splitlines()
    uptime = subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()
    return (
        f"nproc {os.cpu_count()}; {model}; {psutil.virtual_memory().total / 2**30:.0f} GiB; "
        f"/tmp: {' '.join(disk[-1].split()[:4])}; uptime: {uptime}"
    )


def median(values: list[float]) -> float:
    return statistics.median(values)


def print_tables(results: dict[tuple[str, str], list[dict]], sizes: dict[str, int]) -> None:
    """The medians per config and loader, then the growth ratios between paired configs."""
    print(
        "\n| config RxVxS | loader | logdir | wall s | start | load | read | diagnose | output "
        "| peak tb-stuck MiB | peak server MiB | peak both MiB | verdicts | n |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|---:|")
    medians: dict[tuple[str, str], dict[str, float]] = {}
    for (name, load_fast), rows in results.items():
        keys = ("wall", *PHASES, "peak_cli_mib", "peak_server_mib", "peak_total_mib")
        m = {key: median([row[key] for row in rows]) for key in keys}
        medians[name, load_fast] = m
        verdicts = ", ".join(f"{n} {s}" for s, n in sorted(rows[-1]["statuses"].items()))
        loader = "data server" if load_fast == "true" else "Python"
        print(
            f"| {name} | {loader} | {sizes[name] / 2**30:.2f} GiB | {m['wall']:.1f} | "
            + " | ".join(f"{m[p]:.2f}" for p in PHASES)
            + f" | {m['peak_cli_mib']:.0f} | {m['peak_server_mib']:.0f} | "
            f"{m['peak_total_mib']:.0f} | {verdicts} | {len(rows)} |"
        )
    print(
        "\n| loader | from -> to | data | wall | load | read | diagnose | peak tb-stuck "
        "| peak server |"
    )
    print("|---|---|---:|---:|---:|---:|---:|---:|---:|")
    for (small, load_fast), a in medians.items():
        for (large, other), b in medians.items():
            s, l_ = parse_config(small), parse_config(large)
            differ = [i for i in range(3) if s[i] != l_[i]]
            if other != load_fast or len(differ) != 1 or s[differ[0]] > l_[differ[0]]:
                continue

            def ratio(key: str, a=a, b=b) -> str:
                return f"{b[key] / a[key]:.2f}x" if a[key] > 0 else "-"

            loader = "data server" if load_fast == "true" else "Python"
            print(
                f"| {loader} | {small} -> {large} | {sizes[large] / sizes[small]:.2f}x | "
                + " | ".join(
                    ratio(k)
                    for k in ("wall", "load", "read", "diagnose", "peak_cli_mib", "peak_server_mib")
                )
                + " |"
            )


def main() -> int:
    if len(sys.argv) == 5 and sys.argv[1] == "--child":
        child(*sys.argv[2:])
        return 0
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--workdir", default="/tmp/tb-stuck-bench", help="where logdirs go")
    parser.add_argument("--configs", default=DEFAULT_CONFIGS, help="data-server configs RxVxS")
    parser.add_argument(
        "--python-configs", default=DEFAULT_CONFIGS, help="Python-loader configs ('' for none)"
    )
    parser.add_argument("--repeats", type=int, default=3)
    parser.add_argument("--jobs", type=int, default=None, help="processes writing logdirs")
    parser.add_argument("--cleanup", action="store_true", help="delete the logdirs at the end")
    args = parser.parse_args()
    workdir = Path(args.workdir)
    workdir.mkdir(parents=True, exist_ok=True)
    plan = [(c, "true") for c in args.configs.split(",") if c]
    plan += [(c, "false") for c in args.python_configs.split(",") if c]
    # Largest first, so that smaller run counts can be hard-linked from them.
    configs = sorted({parse_config(c) for c, _ in plan}, key=lambda c: (-c[0], c))
    logdirs = {config_name(c): ensure_logdir(workdir, c, args.jobs) for c in configs}
    sizes = {name: logdir_bytes(logdir) for name, logdir in logdirs.items()}
    print(f"# machine: {machine()}", flush=True)
    results: dict[tuple[str, str], list[dict]] = {
        (config_name(parse_config(c)), lf): [] for c, lf in plan
    }
    started = time.perf_counter()
    try:
        for repeat in range(args.repeats):
            for name, load_fast in results:
                row = measure(logdirs[name], load_fast)
                results[name, load_fast].append(row)
                print(
                    f"# repeat {repeat + 1} {name} load-fast={load_fast}: wall {row['wall']:.1f} s, "
                    f"load {row['load']:.1f} s, read {row['read']:.2f} s, diagnose "
                    f"{row['diagnose']:.2f} s, peak {row['peak_cli_mib']:.0f} + "
                    f"{row['peak_server_mib']:.0f} MiB; {os.getloadavg()[0]:.2f} load",
                    flush=True,
                )
        print(f"# measured in {time.perf_counter() - started:.0f} s; machine after: {machine()}")
        print_tables(results, sizes)
    finally:
        if args.cleanup:
            for config in configs:
                name = f"r{config[0]}_v{config[1]}_s{config[2]}"
                subprocess.run(
                    ["rm", "-rf", str(workdir / name), str(workdir / f"{name}.complete")]
                )
    return 0


if __name__ == "__main__":
    sys.exit(main())
