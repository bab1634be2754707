"""Run the conformance suite on catalog candidates in a subprocess and read back the report.

Shared by `tests/test_catalog.py` (every bug caught, the controls clean) and `measure.py`
(time to each bug's first failure). The run uses the `ci` profile with a fresh example
database, so a catch comes from the profile's seed, strategies and pinned examples, never from
a failure replayed out of an earlier run's database.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

import conformance.suite
from conformance.plugin.profiles import CI_DATABASE_ENV
from conformance.plugin.report import JSON_NAME

from . import bugs, bugs_beyond, bugs_gradients

REPO = Path(__file__).resolve().parents[2]
SUITE = Path(conformance.suite.__file__).resolve().parent
MODULES = (bugs, bugs_beyond, bugs_gradients)

# The correct implementation each module's bugs are derived from (registered name, --impl ref).
FORWARD_CONTROL = ("catalog-base", "tests.catalog.base:build")
BEYOND_CONTROL = ("beyond-control", "tests.catalog.bugs_beyond:build_control")
CONTROL_OF_MODULE = {bugs: FORWARD_CONTROL, bugs_gradients: FORWARD_CONTROL,
                     bugs_beyond: BEYOND_CONTROL}
CONTROLS = (FORWARD_CONTROL, BEYOND_CONTROL)


def all_bugs() -> list:
    """Every catalog entry of the three modules, in catalog order."""
    return [b for module in MODULES for b in module.CATALOG]


def control_of(bug) -> str:
    """Name of the correct candidate `bug` is derived from."""
    for module, (name, _) in CONTROL_OF_MODULE.items():
        if bug in module.CATALOG:
            return name
    raise KeyError(bug.name)


def groups_by_first(control_order: dict[str, tuple[str, ...]],
                    only: frozenset[str] = frozenset()
                    ) -> list[tuple[list[str], list[str]]]:
    """(suite files in order, --impl refs) per subprocess of the self-test: per control, one
    group for the bugs that name no `first` module (with the control), in the control's
    order (`control_order[name]`), and one per `first` module named, that module first, then
    the control's order. A control runs every test, in the group of its unnamed bugs, or of
    its first named module when every bug names one; the groups of a control in `only` run
    the modules of its order and no others."""
    refs = dict(CONTROLS)
    groups: dict[tuple[str, str], list[str]] = {}
    for name, _ in CONTROLS:
        bugs_of = [b for b in all_bugs() if control_of(b) == name]
        keys = [b.first for b in bugs_of]
        home = "" if "" in keys or not keys else keys[0]
        groups[(name, home)] = [refs[name]]
        for bug in bugs_of:
            groups.setdefault((name, bug.first), []).append(bug.ref)
    ordered = []
    for (name, first), members in groups.items():
        order = control_order[name]
        head = (first,) if first else ()
        files = suite_files(head + tuple(m for m in order if m != first))
        if name in only:
            files = [f for f in files if Path(f).name in order]
        ordered.append((files, members))
    return ordered


def suite_files(first: tuple[str, ...] = ()) -> list[str]:
    """The suite's test modules, those named in `first` first (pytest runs them in the order
    given), then the rest in pytest's own order."""
    names = sorted(p.name for p in SUITE.glob("test_*.py"))
    unknown = [n for n in first if n not in names]
    if unknown:
        raise ValueError(f"no such suite module: {unknown}")
    ordered = list(first) + [n for n in names if n not in first]
    return [str(SUITE / n) for n in ordered]


@dataclass
class SuiteRun:
    returncode: int
    output: str
    report: dict  # conformance-report.json

    def candidate(self, name: str) -> dict:
        for row in self.report["candidates"]:
            if row["name"] == name:
                return row
        raise KeyError(f"candidate {name!r} is not in the report")


def run_suite(refs: list[str], workdir: Path, *, files: list[str] | None = None,
              extra: tuple[str, ...] = (), timeout: float | None = None) -> SuiteRun:
    """`python -m pytest` on the suite under the ci profile with these candidates.

    `workdir` receives the report and the (fresh) example database.
    """
    return run_suites([refs], workdir, files=files, extra=extra, timeout=timeout)


def run_suites(groups: list[list[str]], workdir: Path, *, files: list[str] | None = None,
               extra: tuple[str, ...] = (), timeout: float | None = None,
               group_files: list[list[str]] | None = None) -> SuiteRun:
    """`run_suite` with one subprocess per group of candidates, all running at once (each
    keeps its own fail-fast; the caller only waits), and their reports merged.

    `group_files`: the test files of each group, in its order (instead of `files` for all)."""
    return start_suites(groups, workdir, files=files, extra=extra,
                        group_files=group_files).wait(timeout)


def start_suites(groups: list[list[str]], workdir: Path, *, files: list[str] | None = None,
                 extra: tuple[str, ...] = (),
                 group_files: list[list[str]] | None = None) -> "RunningSuites":
    """`run_suites` without the wait: the subprocesses are started, `.wait()` merges them."""
    workdir = Path(workdir)
    parts = [workdir] if len(groups) == 1 else [workdir / f"part{k}" for k in range(len(groups))]
    if group_files is None:
        group_files = [files or suite_files()] * len(groups)
    running = []
    for refs, part, paths in zip(groups, parts, group_files):
        part.mkdir(parents=True, exist_ok=True)
        cmd = [sys.executable, "-m", "pytest", *paths, "-q", "-p",
               "no:cacheprovider", "-p", "tests.catalog.scope", "--hypothesis-profile", "ci",
               "--conformance-report", str(part / "report"),
               "--conformance-diagnosis-budget", "0",  # caught or not is all it asks
               *extra]
        for ref in refs:
            cmd += ["--conformance-impl", ref]
        env = dict(os.environ, **{CI_DATABASE_ENV: str(part / "hypothesis-db")})
        for var in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID",
                    "PYTEST_CURRENT_TEST"):  # the outer pytest run's, not this run's
            env.pop(var, None)
        log = open(part / "output.txt", "w")  # a file, not a pipe: no run blocks on a full one
        running.append((subprocess.Popen(cmd, cwd=REPO, env=env, stdout=log,
                                         stderr=subprocess.STDOUT, text=True), log, part))
    return RunningSuites(running)


class RunningSuites:
    """Suite subprocesses started by `start_suites`."""

    def __init__(self, running: list):
        self.running = running
        self.started = time.monotonic()
        self.result: SuiteRun | None = None

    def wait(self, timeout: float | None = None) -> SuiteRun:
        """The merged run, once every subprocess has ended; `timeout` counts from the start."""
        if self.result is not None:
            return self.result
        runs = []
        for process, log, part in self.running:
            left = None if timeout is None else max(1.0, timeout - (time.monotonic() - self.started))
            try:
                returncode = process.wait(timeout=left)
            except subprocess.TimeoutExpired:
                self.kill()
                raise
            finally:
                log.close()
            output = (part / "output.txt").read_text()
            report_path = part / "report" / JSON_NAME
            if not report_path.exists():
                raise RuntimeError(f"the suite wrote no report (exit {returncode}):\n{output[-4000:]}")
            runs.append(SuiteRun(returncode, output, json.loads(report_path.read_text())))
        merged = dict(runs[0].report, candidates=[row for run in runs
                                                  for row in run.report["candidates"]])
        self.result = SuiteRun(max(run.returncode for run in runs),
                               "".join(run.output for run in runs), merged)
        return self.result

    def kill(self) -> None:
        """Stop every subprocess still running (a test session that ends without waiting)."""
        for process, log, _ in self.running:
            if process.poll() is None:
                process.kill()
                process.wait()
            log.close()


def failed_tests(row: dict) -> list[str]:
    """Test ids (candidate parameter and all) that failed for this report row."""
    return [test for test, outcome in sorted(row["tests"].items()) if outcome == "failed"]


def generic_id(test_id: str, candidate: str) -> str:
    """The test id with the candidate's name taken out of its parameters, so a bug's test can be
    matched with its control's: `m.py::t[bug-x-float16]` -> `m.py::t[<candidate>-float16]`."""
    head, bracket, params = test_id.partition("[")
    return head + bracket + params.replace(candidate, "<candidate>", 1)
