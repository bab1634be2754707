"""Run candidates, each in its own `python -m pytest --pyargs conformance.suite` process.

A process per candidate: one that crashes the interpreter, leaks global state (Dynamo's
caches, `jax_enable_x64`, Keras' backend) or hangs costs only its own row, and its wall time
is its own.
"""
from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

from conformance.core.registry import UnavailableCandidate, discover
from conformance.plugin.report import JSON_NAME
from .budget import ENV, PROFILE

# Examples per property for candidates that compile or export per example (pins always run);
# everything else gets DEFAULT_EXAMPLES, the dev profile's count.
DEFAULT_EXAMPLES = 25
BUDGETS = {"torch-compile": 2, "torch-export": 3, "onnxruntime-export": 3, "flax-lstm": 2,
           "keras-lstm": 5, "onnxruntime-graph": 10, "torchscript": 10}

# Tests left out for candidates whose every build compiles for tens of seconds here (the
# metamorphic, known-answer and invalid-input families build several candidates per example).
SELECTIONS = {"torch-compile": "not test_metamorphic and not test_known_answers and "
                               "not test_invalid_input"}

# Seconds per build or forward call: a first build imports its library (Keras, JAX) and
# compile/export candidates compile in it, which on a busy 2-core machine takes over the
# suite's default of 60 s.
EXAMPLE_TIMEOUT = 600


@dataclass
class Result:
    name: str
    max_examples: int | None
    wall_s: float
    returncode: int | None
    report: dict | None  # the candidate's entry of conformance-report.json
    report_dir: Path | None
    unavailable: str | None = None
    log_tail: str = ""
    selection: str | None = None  # the -k expression, when the budget leaves tests out
    note: str | None = None  # anything else a reader of the row must know


def candidates() -> dict:
    """Every discovered candidate (opt-in and unavailable ones too), by name."""
    return discover()


def run_one(name: str, out: Path, max_examples: int, timeout: float, extra=(),
            selection: str | None = None) -> Result:
    """Run the suite on one candidate; its report lands in out/reports/<name>/."""
    report_dir = out / "reports" / name
    if selection:
        extra = ("-k", selection, *extra)
    cmd = [sys.executable, "-m", "pytest", "--pyargs", "conformance.suite", "--conformance-impl", name,
           "--conformance-report", str(report_dir), "-p", "no:cacheprovider", "-q",
           "-p", "conformance.scoreboard.budget", "--hypothesis-profile", PROFILE,
           "--conformance-example-timeout", str(EXAMPLE_TIMEOUT), *extra]
    env = dict(os.environ, **{ENV: str(max_examples)})
    report_dir.mkdir(parents=True, exist_ok=True)
    log = report_dir / "pytest.log"  # a file, not a pipe: the run survives its parent
    start = time.monotonic()
    with log.open("w") as sink:
        try:
            code = subprocess.run(cmd, env=env, stdout=sink, stderr=subprocess.STDOUT,
                                  timeout=timeout).returncode
        except subprocess.TimeoutExpired:
            code = None
    wall = time.monotonic() - start
    tail = log.read_text(errors="replace")[-4000:]
    report = None
    path = report_dir / JSON_NAME
    if path.exists():
        data = json.loads(path.read_text())
        report = next((c for c in data["candidates"] if c["name"] == name), None)
        if report is not None:
            report = dict(report, profile=data.get("profile"))
    return Result(name, max_examples, wall, code, report, report_dir, log_tail=tail,
                  selection=selection)


def run_all(names, out: Path, budgets: dict, timeout: float, jobs: int = 1,
            extra=()) -> list[Result]:
    """Each named candidate in its own process, `jobs` at a time; unavailable ones are not
    run but listed with their reason."""
    found = candidates()

    def one(name):
        c = found.get(name)
        if isinstance(c, UnavailableCandidate):
            return Result(name, None, 0.0, None, None, None, unavailable=c.reason)
        return run_one(name, out, budgets.get(name, DEFAULT_EXAMPLES), timeout, extra,
                       None if extra else SELECTIONS.get(name))

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, names))
