"""`lstm-conformance scoreboard`: run every installed candidate and write the scoreboard.

    lstm-conformance scoreboard [--impl NAME ...] [--out DIR] [--markdown PATH]
                                [--max-examples NAME=N ...] [--jobs N] [--bench bench.json]

writes DIR/index.html (self-contained; the repro scripts copied to DIR/repro/<candidate>/ and
the divergence reproductions to DIR/divergences/, so every link resolves offline),
DIR/scoreboard.md (or PATH), and DIR/reports/<candidate>/ (each run's own report).
"""
from __future__ import annotations

import argparse
import datetime
import json
import platform
import shutil
import sys
from pathlib import Path

import torch

from . import bench, render
from conformance.plugin.report import JSON_NAME
from .runner import BUDGETS, DEFAULT_EXAMPLES, Result, candidates, run_all

DIVERGENCES = Path(__file__).resolve().parents[2] / "docs" / "divergences"


def parse(argv):
    p = argparse.ArgumentParser(prog="lstm-conformance scoreboard", description=__doc__,
                                formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--impl", action="append", default=[], metavar="NAME",
                   help="candidate (repeatable); default: every discovered one")
    p.add_argument("--out", default="scoreboard", metavar="DIR")
    p.add_argument("--markdown", metavar="PATH", help="Markdown page (default DIR/scoreboard.md)")
    p.add_argument("--max-examples", action="append", default=[], metavar="NAME=N",
                   help="examples per property for one candidate (repeatable; default: "
                        f"{DEFAULT_EXAMPLES}, fewer for slow ones: {BUDGETS})")
    p.add_argument("--jobs", type=int, default=1, help="candidates run at once")
    p.add_argument("--timeout", type=float, default=3600, help="seconds per candidate")
    p.add_argument("--bench", metavar="JSON", help="pytest-benchmark JSON for the speed column")
    p.add_argument("--bench-group", help=f"benchmark group (default {bench.DEFAULT_GROUP!r})")
    p.add_argument("--rerender", action="store_true",
                   help="do not run: write the pages again from DIR/runs.json and DIR/reports/")
    p.add_argument("pytest_args", nargs="*", help="after --: passed to every pytest run")
    return p.parse_args(argv)


def main(argv=None) -> int:
    args = parse(sys.argv[1:] if argv is None else argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    budgets = dict(BUDGETS)
    for item in args.max_examples:
        name, _, n = item.partition("=")
        budgets[name] = int(n)
    meta = {"command": "lstm-conformance scoreboard " + " ".join(argv or sys.argv[1:]),
            "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
            "machine": f"{platform.machine()}, {platform.python_version()}, "
                       f"torch {torch.__version__}"}
    if args.rerender:
        meta, results = load_runs(out)
    else:
        names = args.impl or sorted(candidates())
        results = run_all(names, out, budgets, args.timeout, args.jobs, args.pytest_args)
        save_runs(meta, results, out)
    speeds = None
    if args.bench:
        group, speeds = bench.ratios(args.bench, args.bench_group)
        print(f"speed: benchmark group {group!r}")

    for path in sorted(DIVERGENCES.glob("*.py")):  # every reproduction, for the pages' list
        render.KNOWN[f"docs/divergences/{path.name}"] = path.read_text()
        _divergence(f"docs/divergences/{path.name}", out)
    copied = _copy_repros(results, out)
    html_dir = out.resolve()
    (out / "index.html").write_text(render.page(
        results, meta, lambda r, f: render.relative(copied[(r.name, f["repro"])], html_dir),
        lambda p: render.relative(out.resolve() / "divergences" / Path(p).name, html_dir),
        speeds))
    md_path = Path(args.markdown) if args.markdown else out / "scoreboard.md"
    md_dir = md_path.resolve().parent
    md_path.parent.mkdir(parents=True, exist_ok=True)
    md_path.write_text(render.markdown(
        results, meta, lambda r, f: render.relative(copied[(r.name, f["repro"])], md_dir),
        lambda p: render.relative(_divergence(p, out), md_dir), speeds))
    for r in results:
        state = r.unavailable or (f"{render.examples_run(r.report)} examples, "
                                  f"{len(r.report['failures'])} failing tests"
                                  if r.report else f"no report (exit {r.returncode})")
        print(f"{r.name:20s} {r.wall_s:7.1f} s  {state}")
    print(f"scoreboard: {out / 'index.html'}, {md_path}")
    return 0


RUNS = "runs.json"


def save_runs(meta: dict, results, out: Path) -> None:
    """What the pages need besides the reports: budget, wall time, exit status per run."""
    rows = [{"name": r.name, "max_examples": r.max_examples, "wall_s": round(r.wall_s, 1),
             "returncode": r.returncode, "unavailable": r.unavailable,
             "selection": r.selection, "note": r.note} for r in results]
    (out / RUNS).write_text(json.dumps({"meta": meta, "runs": rows}, indent=2) + "\n")


def load_runs(out: Path) -> tuple[dict, list]:
    saved = json.loads((out / RUNS).read_text())
    results = []
    for row in saved["runs"]:
        report_dir = out / "reports" / row["name"]
        report = None
        path = report_dir / JSON_NAME
        if path.exists():
            data = json.loads(path.read_text())
            report = next((c for c in data["candidates"] if c["name"] == row["name"]), None)
        results.append(Result(row["name"], row["max_examples"], row["wall_s"],
                              row["returncode"], report, report_dir,
                              unavailable=row.get("unavailable"), selection=row.get("selection"),
                              note=row.get("note")))
    return saved["meta"], results


def _copy_repros(results, out: Path) -> dict:
    """Copy each failure's repro script next to the HTML: {(candidate, repro): new path}."""
    copied = {}
    for r in results:
        for f in (r.report or {}).get("failures", []):
            if f.get("repro"):
                src = r.report_dir / f["repro"]
                dst = out.resolve() / "repro" / r.name / Path(f["repro"]).name
                dst.parent.mkdir(parents=True, exist_ok=True)
                if src.exists():
                    shutil.copyfile(src, dst)
                copied[(r.name, f["repro"])] = dst
    for r in results:
        for reason in ((r.report or {}).get("xfail") or {}).values():
            for p in render.DIVERGENCE.findall(reason):
                _divergence(p, out)
    for r in results:
        for f in (r.report or {}).get("failures", []):
            for p in render.DIVERGENCE.findall(f.get("message", "")):
                _divergence(p, out)
    return copied


def _divergence(path: str, out: Path) -> Path:
    """docs/divergences/X.py copied to out/divergences/X.py (the path the pages link)."""
    dst = out.resolve() / "divergences" / Path(path).name
    src = DIVERGENCES / Path(path).name
    if src.exists() and src.resolve() != dst.resolve():
        dst.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(src, dst)
    return dst
