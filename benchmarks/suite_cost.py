"""The conformance suite's own cost: wall time per test family and examples per second per
candidate, from one run of the suite.

    python -m benchmarks.suite_cost                          # conformance/suite, every candidate
    python -m benchmarks.suite_cost --json cost.json -- --conformance-impl fused-torch --hypothesis-profile ci
    python -m benchmarks.suite_cost --compare old.json --json new.json

It runs pytest in this process with a small plugin that adds up each test's setup, call and
teardown durations and reads the examples the test checked from the conformance plugin's
record (the "basic" count: every example has it). A family is a test module
(test_gradients.py -> gradients). --compare prints each row's time against an earlier
--json file, so that a slower family or candidate shows. Arguments after `--` go to pytest.
"""
from __future__ import annotations

import argparse
import json
import sys
import time
from collections import defaultdict
from pathlib import Path

import pytest

# The conformance plugin's record of a test, and the feature every example has. Not imported
# from conformance: importing it before pytest.main would keep pytest from rewriting its
# asserts (benchmarks/test_suite_cost.py checks these names against conformance's own).
PROPERTY = "lstm_conformance"
BASIC = "basic"
DEFAULT_PATHS = ["conformance/suite"]
NO_CANDIDATE = "(none)"


class CostRecorder:
    """pytest plugin: per test node id, its family, candidate, seconds, examples, outcome."""

    def __init__(self):
        self.tests: dict[str, dict] = {}

    def pytest_runtest_logreport(self, report):
        row = self.tests.setdefault(report.nodeid, {
            "family": family_of(report.nodeid), "candidate": NO_CANDIDATE,
            "seconds": 0.0, "examples": 0, "outcome": "passed"})
        row["seconds"] += report.duration
        for key, data in report.user_properties:
            if key == PROPERTY:
                row["candidate"] = data["candidate"]
                row["examples"] = int(data["counts"].get(BASIC, 0))
        if report.failed:
            row["outcome"] = "failed"
        elif hasattr(report, "wasxfail"):  # ran, and failed as declared: its time counts
            row["outcome"] = "xfailed"
        elif report.skipped and row["outcome"] != "failed":
            row["outcome"] = "skipped"


def family_of(nodeid: str) -> str:
    """'conformance/suite/test_gradients.py::test_x[numpy]' -> 'gradients'."""
    stem = Path(nodeid.split("::", 1)[0]).stem
    return stem[len("test_"):] if stem.startswith("test_") else stem


def totals(tests: dict, key: str) -> dict[str, dict]:
    """{family or candidate: {"tests", "seconds", "examples"}}, over the tests that ran."""
    out: dict[str, dict] = defaultdict(lambda: {"tests": 0, "seconds": 0.0, "examples": 0})
    for row in tests.values():
        if row["outcome"] == "skipped":
            continue
        group = out[row[key]]
        group["tests"] += 1
        group["seconds"] += row["seconds"]
        group["examples"] += row["examples"]
    return dict(sorted(out.items()))


def _rate(group: dict) -> str:
    return f"{group['examples'] / group['seconds']:.1f}" if group["seconds"] > 0 else "–"


def _table(title: str, key: str, groups: dict, old: dict | None) -> list[str]:
    head = [key, "tests", "wall s", "examples", "examples/s"] + (["vs old"] if old else [])
    lines = [f"### {title}", "", "| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, g in groups.items():
        cells = [name, str(g["tests"]), f"{g['seconds']:.2f}", str(g["examples"]), _rate(g)]
        if old:
            before = old.get(name)
            cells.append(f"{g['seconds'] / before['seconds']:.2f}x"
                         if before and before["seconds"] > 0 else "new")
        lines.append("| " + " | ".join(cells) + " |")
    return lines + [""]


def markdown(data: dict, old: dict | None = None) -> str:
    """Tables per family, per candidate, and family x candidate seconds."""
    tests = data["tests"]
    families, candidates = totals(tests, "family"), totals(tests, "candidate")
    lines = [f"Suite cost: {data['command']}; {data['wall_seconds']:.1f} s wall in all, "
             f"{len(tests)} tests ({sum(r['outcome'] == 'skipped' for r in tests.values())} "
             "skipped, not counted).", ""]
    lines += _table("Per test family", "family", families,
                    old and totals(old["tests"], "family"))
    lines += _table("Per candidate", "candidate", candidates,
                    old and totals(old["tests"], "candidate"))
    cells = defaultdict(float)
    for row in tests.values():
        if row["outcome"] != "skipped":
            cells[(row["family"], row["candidate"])] += row["seconds"]
    names = list(candidates)
    lines += ["### Wall seconds, family x candidate", "",
              "| family | " + " | ".join(names) + " |", "|---|" + "---|" * len(names)]
    for family in families:
        lines.append(f"| {family} | " + " | ".join(
            f"{cells[(family, n)]:.2f}" if (family, n) in cells else "–" for n in names) + " |")
    return "\n".join(lines) + "\n"


def main(argv=None) -> int:
    parser = argparse.ArgumentParser(prog="python -m benchmarks.suite_cost", description=__doc__,
                                     formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--json", metavar="PATH", help="also write the per-test records here")
    parser.add_argument("--markdown", metavar="PATH", help="also write the tables here")
    parser.add_argument("--compare", metavar="OLD.json", help="an earlier --json to compare with")
    parser.add_argument("pytest_args", nargs=argparse.REMAINDER,
                        help="after --: pytest arguments (default paths: conformance/suite)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    extra = args.pytest_args[1:] if args.pytest_args[:1] == ["--"] else args.pytest_args
    if not any(not a.startswith("-") and Path(a.split("::")[0]).exists() for a in extra):
        extra = DEFAULT_PATHS + extra
    pytest_args = ["-q", "-p", "no:cacheprovider", *extra]

    recorder = CostRecorder()
    started = time.time()
    code = pytest.main(pytest_args, plugins=[recorder])
    data = {"command": "pytest " + " ".join(pytest_args), "exit_code": int(code),
            "wall_seconds": round(time.time() - started, 2), "tests": recorder.tests}
    old = json.loads(Path(args.compare).read_text()) if args.compare else None
    text = markdown(data, old)
    print("\n" + text)
    if args.json:
        Path(args.json).write_text(json.dumps(data, indent=1))
    if args.markdown:
        Path(args.markdown).write_text(text)
    return int(code)


if __name__ == "__main__":
    raise SystemExit(main())
