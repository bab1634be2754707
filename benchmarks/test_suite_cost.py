"""Tests of the suite-cost tool (python -m benchmarks.suite_cost). Fast: part of the
default run."""
from __future__ import annotations

from types import SimpleNamespace

from benchmarks import suite_cost
from conformance.model.features import BASIC
from conformance.plugin.verdict import PROPERTY


def test_suite_cost_uses_the_conformance_plugins_names():
    assert (suite_cost.PROPERTY, suite_cost.BASIC) == (PROPERTY, BASIC)


def _report(nodeid, when, outcome, duration, examples=None, candidate="c", **extra):
    props = [] if examples is None else [
        (PROPERTY, {"candidate": candidate, "counts": {BASIC: examples, "float32": 1}})]
    return SimpleNamespace(nodeid=nodeid, when=when, outcome=outcome, duration=duration,
                           user_properties=props, failed=outcome == "failed",
                           skipped=outcome == "skipped", **extra)


def test_suite_cost_adds_up_per_family_and_candidate():
    recorder = suite_cost.CostRecorder()
    a = "conformance/suite/test_gradients.py::test_a[c]"
    b = "conformance/suite/test_gradients.py::test_b[d]"
    skipped = "conformance/suite/test_packed.py::test_p[c]"
    for r in (_report(a, "setup", "passed", 0.5), _report(a, "call", "passed", 2.0, 10),
              _report(a, "teardown", "passed", 0.5),
              _report(b, "setup", "passed", 0.0), _report(b, "call", "failed", 1.0, 3, "d"),
              _report(skipped, "setup", "skipped", 0.1)):
        recorder.pytest_runtest_logreport(r)
    families = suite_cost.totals(recorder.tests, "family")
    assert families == {"gradients": {"tests": 2, "seconds": 4.0, "examples": 13}}
    candidates = suite_cost.totals(recorder.tests, "candidate")
    assert candidates["c"] == {"tests": 1, "seconds": 3.0, "examples": 10}
    assert recorder.tests[b]["outcome"] == "failed"
    assert recorder.tests[skipped]["outcome"] == "skipped"
    data = {"command": "pytest", "wall_seconds": 5.0, "tests": recorder.tests}
    text = suite_cost.markdown(data, old=data)
    assert "| gradients | 2 | 4.00 | 13 | 3.2 | 1.00x |" in text
    assert "| c | 1 | 3.00 | 10 | 3.3 | 1.00x |" in text
