"""One run spread over several hosts with pytest-xdist (`--tx`/`--dist`): two `popen` workers
stand in for two hosts (`--tx ssh=user@host//python=...` elsewhere). The controller merges the
workers' verdicts and writes one report, the same as a run without xdist."""
from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

from conformance.plugin.profiles import (CI_DATABASE_ENV, REDIS_ENV, REDIS_READONLY_ENV,
                                         SHARED_DATABASE_ENV)
from conformance.plugin.report import JSON_NAME, MARKDOWN_NAME

pytest.importorskip("xdist", reason="pytest-xdist is not installed")

# In process: the subject is how xdist's workers merge verdicts, not isolation (which would
# fork a worker per candidate in each of the three pytest processes).
SELECT = ["--impl", "numpy", "--impl", "tests.catalog.bugs:build_gate_order_if",
          "-k", "test_all_axes or test_packed", "-p", "no:cacheprovider", "--isolation", "none"]
REPO = Path(__file__).resolve().parents[1]


def _run(tmp_path, name, extra):
    env = dict(os.environ, CI="1", **{CI_DATABASE_ENV: str(tmp_path / name / "db")})
    env["PYTHONPATH"] = os.pathsep.join([str(REPO), env.get("PYTHONPATH", "")])
    for var in (SHARED_DATABASE_ENV, REDIS_ENV, REDIS_READONLY_ENV, "PYTEST_ADDOPTS",
                "PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID", "PYTEST_CURRENT_TEST"):
        env.pop(var, None)
    report = tmp_path / name / "report"
    result = subprocess.run(
        [sys.executable, "-m", "conformance.cli", *SELECT, "--conformance-report", str(report),
         *extra], cwd=REPO, env=env, capture_output=True, text=True, timeout=600)
    return result, json.loads((report / JSON_NAME).read_text()), (report / MARKDOWN_NAME).read_text()


def test_two_hosts_give_the_report_and_verdict_of_one(tmp_path):
    one, one_json, one_md = _run(tmp_path, "one", [])
    two, two_json, two_md = _run(tmp_path, "two", [
        "--dist", "load", "--tx", f"2*popen//python={sys.executable}"])
    assert one.returncode == two.returncode == 1, one.stdout + two.stdout  # the bug fails
    assert "2 workers [" in two.stdout, two.stdout  # xdist really ran two workers
    assert one_json == two_json
    assert one_md == two_md
    table = lambda out: out[out.index("LSTM conformance verdict"):].splitlines()[1:4]
    assert table(one.stdout) == table(two.stdout)
    rows = {c["name"]: c for c in two_json["candidates"]}
    assert rows["numpy"]["failures"] == [] and rows["bug-gate-order-if"]["failures"]
