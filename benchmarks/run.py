"""Time every target in its own process and merge the results into one pytest-benchmark JSON.

    python -m benchmarks.run --json docs/bench/bench.json            # 2 threads, every size
    python -m benchmarks.run --targets nn.LSTM,fused-torch --sizes ladder --json out.json

Why one process per target: NumPy's BLAS (OpenBLAS) and torch (OpenMP, MKL) keep thread pools
of their own; in one process they compete for the cores and slow each other down, so ratios
would depend on which targets ran before. Every process gets the same thread count through
OMP_NUM_THREADS, MKL_NUM_THREADS, OPENBLAS_NUM_THREADS and --torch-threads.

--repeat K runs the whole list K times (alternating the order) and keeps, for each benchmark,
the run with the lowest minimum: on a shared machine a burst of someone else's work then
costs one run, not the result. Arguments after `--` go to every pytest process.

The merged file is a pytest-benchmark JSON: `pytest-benchmark compare A.json B.json` compares
two runs, and `lstm-conformance-plot FILE -o DIR` plots one.
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

ROOT = Path(__file__).resolve().parent.parent
BENCH_FILE = Path(__file__).resolve().parent / "test_bench_lstm.py"
THREAD_VARIABLES = ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")


def parse_args(argv):
    parser = argparse.ArgumentParser(prog="python -m benchmarks.run", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", default="benchmark.json", metavar="PATH",
                        help="merged pytest-benchmark JSON to write (default: %(default)s)")
    parser.add_argument("--threads", type=int, default=2,
                        help="threads of torch, OpenMP, MKL and OpenBLAS (default: %(default)s)")
    parser.add_argument("--targets", default="", metavar="A,B,...",
                        help="targets to time, comma-separated (default: nn.LSTM, "
                             "nn.LSTM-no-oneDNN and every registered candidate)")
    parser.add_argument("--impl", action="append", default=[], metavar="NAME|module:attr",
                        help="candidate to time (repeatable; default: every registered one); "
                             "the baselines are timed as well unless --targets leaves them out")
    parser.add_argument("--sizes", default="all",
                        help="all, ladder, sweeps, smallest or NxTxIxH, comma-separated "
                             "(default: %(default)s)")
    parser.add_argument("--device", default="cpu", choices=("cpu", "cuda"))
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
    return args


def target_names(args) -> list[str]:
    if args.targets:
        return [t.strip() for t in args.targets.split(",") if t.strip()]
    # Resolve here (not in the children) only to list the names.
    from benchmarks.targets import targets
    from conformance.registry import resolve
    return [t.name for t in targets(resolve(args.impl))]


def run_one(name: str, args, json_path: Path) -> int:
    env = dict(os.environ, **{v: str(args.threads) for v in THREAD_VARIABLES})
    command = [
        sys.executable, "-m", "pytest", str(BENCH_FILE), "-q", "-p", "no:cacheprovider",
        "--benchmark-only", f"--benchmark-json={json_path}",
        f"--benchmark-max-time={args.max_time}", "--benchmark-columns=min,median,rounds",
        f"--torch-threads={args.threads}", f"--bench-sizes={args.sizes}",
        f"--bench-device={args.device}", "--bench-target", name,
        *(f"--impl={impl}" for impl in args.impl), *args.pytest_args,
    ]
    print(f"\n=== {name} ({args.threads} threads) ===", flush=True)
    return subprocess.call(command, cwd=ROOT, env=env)


def merge(paths: list[Path], keep_data: bool = False) -> dict:
    """One pytest-benchmark JSON: the first file's header, each benchmark's best run (without
    the per-round times unless keep_data)."""
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
        raise SystemExit("no benchmark produced a result")
    merged["benchmarks"] = sorted(best.values(), key=lambda b: (b["group"], b["name"]))
    return merged


def main(argv=None) -> int:
    args = parse_args(sys.argv[1:] if argv is None else argv)
    names = target_names(args)
    started = time.time()
    failed = []
    with tempfile.TemporaryDirectory(prefix="lstm-bench-") as tmp:
        paths = []
        for k in range(args.repeat):
            for i, name in enumerate(names if k % 2 == 0 else names[::-1]):
                path = Path(tmp) / f"{k}-{i}.json"
                if run_one(name, args, path) != 0:
                    failed.append(name)
                paths.append(path)
        merged = merge(paths, args.keep_data)
    merged["lstm_conformance_run"] = {
        "command": " ".join(["python -m benchmarks.run", *(argv or sys.argv[1:])]),
        "targets": names, "threads": args.threads, "sizes": args.sizes,
        "device": args.device, "repeat": args.repeat, "max_time": args.max_time,
        "processes": "one per target and repeat", "failed": sorted(set(failed)),
        "wall_seconds": round(time.time() - started, 1),
        "finished": datetime.datetime.now(datetime.timezone.utc).isoformat(),
    }
    out = Path(args.json)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(json.dumps(merged, separators=(",", ":")))  # compact: it gets committed
    print(f"\nwrote {out}: {len(merged['benchmarks'])} benchmarks from {len(names)} targets"
          + (f"; FAILED: {', '.join(sorted(set(failed)))}" if failed else ""))
    return 1 if failed else 0


if __name__ == "__main__":
    raise SystemExit(main())
