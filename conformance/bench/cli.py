"""`lstm-conformance bench`: time and peak memory of every target, each in its own process.

    lstm-conformance bench --impl mypkg.lstm:build --sizes ladder --json bench.json
    lstm-conformance bench --targets nn.LSTM,fused-torch --sizes 32x100x128x128 --repeat 3

Targets: nn.LSTM, nn.LSTM without oneDNN (cpu) or without cuDNN (cuda), and every
registered candidate — the built-ins and every installed adapter — or those `--impl` names
(a registered name or module:attr; a module in the current directory is found). Each target
is checked against nn.LSTM at every size before it is timed there; a target that fails a
check or does not load is reported (in the tables and the JSON) and the others still run.

Why one process per target: NumPy's BLAS (OpenBLAS) and torch (OpenMP, MKL) keep thread pools
of their own; in one process they compete for the cores and slow each other down, so ratios
would depend on which targets ran before. Every process gets the same thread count through
OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS and --torch-threads.

--repeat K runs the whole list K times (alternating the order) and keeps, for each benchmark,
the run with the lowest minimum: on a shared machine a burst of someone else's work then
costs one run, not the result. Arguments after `--` go to every pytest process.

Writes a pytest-benchmark JSON (`pytest-benchmark compare A.json B.json` compares two runs;
peak memory is in each benchmark's extra_info), prints the tables (time, memory, ratios to
nn.LSTM, scaling exponents) and writes them with the plots into --plots DIR. On a terminal a
progress line (target, size, done/total, elapsed) is shown on stderr.
"""
from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from .environment import THREAD_VARIABLES
from .progress import EVENTS_ENV, Progress, describe, read_events
from .sizes import SIZE_SETS, parse_sizes

PROG = "lstm-conformance bench"
BENCH_MODULE = "conformance.bench.test_bench_lstm"


def parse_args(argv):
    parser = argparse.ArgumentParser(prog=PROG, description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", default="bench.json", metavar="PATH",
                        help="pytest-benchmark JSON to write (default: %(default)s)")
    parser.add_argument("--plots", default=None, metavar="DIR",
                        help="directory for summary.md and the plots (default: the JSON's "
                             "name without .json, plus -plots); plots need matplotlib")
    parser.add_argument("--no-plots", action="store_true",
                        help="write no figures (summary.md and the printed tables still)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads of torch, OpenMP, MKL and OpenBLAS (default: %(default)s)")
    parser.add_argument("--targets", default="", metavar="A,B,...",
                        help="targets to time, comma-separated (default: the baselines and "
                             "every registered candidate, or those --impl names)")
    parser.add_argument("--impl", action="append", default=[], metavar="NAME|module:attr",
                        help="candidate to time (repeatable; default: every registered one); "
                             "the baselines are timed as well unless --targets leaves them out")
    parser.add_argument("--sizes", default="all",
                        help=", ".join(SIZE_SETS) + " or NxTxIxH, comma-separated "
                             "(default: %(default)s)")
    parser.add_argument("--device", default="auto", choices=("auto", "cpu", "cuda"),
                        help="auto: cuda when torch reports one, else cpu (default)")
    parser.add_argument("--repeat", type=int, default=1,
                        help="run every target this many times, keep each benchmark's best run")
    parser.add_argument("--max-time", type=float, default=1.0,
                        help="pytest-benchmark --benchmark-max-time per benchmark, seconds")
    parser.add_argument("--keep-data", action="store_true",
                        help="keep every round's time in the JSON (stats.data); dropped by "
                             "default, which keeps the file small enough to commit")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER,
                        help="after --: more pytest arguments for every process")
    args = parser.parse_args(argv)
    if args.pytest_args[:1] == ["--"]:
        args.pytest_args = args.pytest_args[1:]
    try:
        args.size_list = parse_sizes(args.sizes)
    except ValueError as exc:
        parser.error(f"--sizes: {exc}")
    if args.threads < 1 or args.repeat < 1:
        parser.error("--threads and --repeat must be at least 1")
    args.device = resolve_device(args.device)
    return args


def resolve_device(text: str) -> str:
    if text != "auto":
        return text
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def target_names(args) -> list[str]:
    """The targets' names; raises CandidateLoadError for an --impl that does not load."""
    if args.targets:
        return list(dict.fromkeys(t.strip() for t in args.targets.split(",") if t.strip()))
    from ._internal import resolve
    from .targets import targets

    return [t.name for t in targets(resolve(args.impl), args.device)]


def child_command(name: str, args, json_path: Path, ini: Path) -> list[str]:
    return [
        sys.executable, "-m", "pytest", "-c", str(ini), f"--rootdir={ini.parent}", "-q",
        "-p", "no:cacheprovider", "--assert=plain",  # rewriting hypothesis: seconds a process
        "--pyargs", BENCH_MODULE,
        "--benchmark-only", f"--benchmark-json={json_path}",
        f"--benchmark-max-time={args.max_time}", "--benchmark-columns=min,median,rounds",
        f"--conformance-torch-threads={args.threads}", f"--conformance-bench-sizes={args.sizes}",
        f"--conformance-bench-device={args.device}", "--conformance-bench-target", name,
        *(f"--conformance-impl={impl}" for impl in args.impl), *args.pytest_args,
    ]


def run_one(name: str, args, json_path: Path, ini: Path, progress: Progress) -> dict:
    """Run one target's process; {'rc', 'ends': end events, 'log': captured output}."""
    events_path = json_path.with_suffix(".events")
    env = dict(os.environ, **{v: str(args.threads) for v in THREAD_VARIABLES},
               **{EVENTS_ENV: str(events_path)})
    log_path = json_path.with_suffix(".log")
    started = time.time()
    if progress.enabled:  # the child's output would break the progress line: keep it aside
        out = open(log_path, "w")
    else:
        print(f"\n=== {name} ({args.threads} threads, {args.device}) ===", flush=True)
        out = None
    child = None
    try:
        child = subprocess.Popen(child_command(name, args, json_path, ini), env=env,
                                 stdout=out, stderr=subprocess.STDOUT if out else None)
        offset, ends = 0, []
        progress.current = "(starting)"
        while True:
            rc = child.poll()
            events, offset = read_events(events_path, offset)
            for event in events:
                progress.event(name, event)
                if event["event"] == "end":
                    ends.append(event)
            if rc is not None:
                break
            progress.show(name)  # the elapsed time keeps counting within a long item
            time.sleep(0.25)
    finally:
        if child is not None and child.poll() is None:  # interrupted: leave no orphan
            child.terminate()
            child.wait()
        if out:
            out.close()
    log = log_path.read_text() if out else ""
    return {"rc": rc, "ends": ends, "log": log, "seconds": time.time() - started}


def problems_of(name: str, outcome: dict) -> tuple[list[str], list[str]]:
    """(failures, skips) of one target's process, as short lines."""
    failed, skipped = [], []
    for event in outcome["ends"]:
        item = describe(event["nodeid"]) or {}
        where = f"{item.get('size')} {item.get('direction')}"
        if event["outcome"] == "failed":
            failed.append(f"{where}: {event['message']}")
        elif event["outcome"] == "skipped":
            skipped.append(f"{where}: {event['message']}")
    if outcome["rc"] not in (0, 1) or (outcome["rc"] == 1 and not failed):
        tail = " ".join(outcome["log"].strip().splitlines()[-3:])
        failed.append(f"pytest exited with status {outcome['rc']}" + (f": {tail}" if tail else
                                                                       " (see its output)"))
    return failed, skipped


def merge(paths: list[Path], keep_data: bool = False) -> dict:
    """One pytest-benchmark JSON: the first file's header, each benchmark's best run (without
    the per-round times unless keep_data). No file at all gives an empty benchmark list."""
    merged, best = None, {}
    for path in paths:
        if not path.exists():
            continue
        data = json.loads(path.read_text())
        if merged is None:
            merged = {k: v for k, v in data.items() if k != "benchmarks"}
        for bench in data["benchmarks"]:
            key = bench["fullname"]
            if key not in best or bench["stats"]["min"] < best[key]["stats"]["min"]:
                best[key] = bench
            if not keep_data:
                bench["stats"].pop("data", None)
    if merged is None:
        merged = {"machine_info": {}, "commit_info": {},
                  "datetime": datetime.datetime.now(datetime.timezone.utc).isoformat(),
                  "version": None}
    merged["benchmarks"] = sorted(best.values(), key=lambda b: (b["group"], b["name"]))
    return merged


def main(argv=None) -> int:
    argv = sys.argv[1:] if argv is None else list(argv)
    args = parse_args(argv)
    if os.getcwd() not in sys.path:  # `--impl mymodule:build` from the current directory,
        sys.path.insert(0, os.getcwd())  # as the children (python -m pytest) find it
    from ._internal import CandidateLoadError

    try:
        names = target_names(args)
    except CandidateLoadError as exc:
        print(f"{PROG}: error: {exc}", file=sys.stderr)
        return 2
    total = len(names) * len(args.size_list) * 2 * args.repeat
    progress = Progress(total)
    started = time.time()
    failures: dict[str, list[str]] = {}
    skips: dict[str, list[str]] = {}
    with tempfile.TemporaryDirectory(prefix="lstm-bench-") as tmp:
        ini = Path(tmp) / "pytest.ini"  # keeps the user's own pytest configuration out
        ini.write_text("[pytest]\n")
        paths = []
        for k in range(args.repeat):
            for i, name in enumerate(names if k % 2 == 0 else names[::-1]):
                path = Path(tmp) / f"{k}-{i}.json"
                outcome = run_one(name, args, path, ini, progress)
                failed, skipped = problems_of(name, outcome)
                if failed:
                    failures.setdefault(name, []).extend(failed)
                if skipped and k == 0:
                    skips[name] = skipped
                timed = sum(e["outcome"] == "passed" for e in outcome["ends"])
                lines = [f"  FAILED {name} {p}" for p in failed]
                if progress.enabled:  # on a terminal, instead of the pytest output
                    lines.insert(0, f"{name}: {timed} timed, {len(failed)} failed, "
                                    f"{len(skipped)} skipped ({outcome['seconds']:.0f} s)")
                if lines:
                    progress.message("\n".join(lines))
                paths.append(path)
        progress.close()
        merged = merge(paths, args.keep_data)
    merged["lstm_conformance_run"] = {
        "command": " ".join([PROG, *argv]),
        "targets": names, "threads": args.threads, "sizes": args.sizes,
        "device": args.device, "repeat": args.repeat, "max_time": args.max_time,
        "processes": "one per target and repeat", "failed": sorted(failures),
        "failures": failures, "skipped": skips,
        "wall_seconds": round(time.time() - started, 1),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, separators=(",", ":")))  # compact: it gets committed
    print(f"\nwrote {out}: {len(merged['benchmarks'])} benchmarks from {len(names)} targets"
          f" in {merged['lstm_conformance_run']['wall_seconds']} s"
          + (f"; FAILED: {', '.join(sorted(failures))}" if failures else ""))
    if merged["benchmarks"]:
        write_tables(args, out)
    return 1 if failures else 0


def write_tables(args, json_path: Path) -> None:
    from .plots import matplotlib_available, write

    plots_dir = Path(args.plots) if args.plots else json_path.with_name(json_path.stem + "-plots")
    figures = not args.no_plots and matplotlib_available()
    summary, written = write(json_path, plots_dir, figures=figures)
    print()
    print(summary)
    print(f"wrote {', '.join(written)} in {plots_dir}"
          + ("" if figures or args.no_plots else
             " (no figures: matplotlib is not installed; pip install 'lstm-conformance[plot]')"))


if __name__ == "__main__":
    raise SystemExit(main())
