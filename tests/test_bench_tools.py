"""Tests of the benchmark tooling itself: the checks made before timing refuse a wrong
candidate, sizes parse, and the suite-cost tables add up. Fast: part of the default run."""
from __future__ import annotations

from types import SimpleNamespace

import pytest
import torch

from benchmarks import suite_cost
from benchmarks import targets as bt
from conformance import ConformanceFailure
from conformance.features import BASIC
from conformance.registry import Candidate, resolve
from conformance.verdict import PROPERTY

SMALL = bt.Size(2, 5, 3, 4)


def _fused():
    return next(c for c in resolve(["fused-torch"]))


class _DoubleGrad(torch.autograd.Function):
    """Identity forward, doubled gradient: a forward-correct, backward-wrong LSTM."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return 2 * grad


def _wrapped(name, change_output):
    fused = _fused()

    def build(spec, params):
        forward = fused.build(spec, params)

        def wrong(input, hx=None):
            output, state = forward(input, hx)
            return change_output(output), state
        return wrong
    return bt.Target(name, Candidate(name, build))


def test_a_wrong_output_is_refused_before_timing():
    target = _wrapped("test-output-off", lambda out: out * 1.001)
    with pytest.raises(ConformanceFailure):
        bt.check_output(target, SMALL, "cpu")


def test_a_wrong_gradient_is_refused_before_timing():
    target = _wrapped("test-gradient-doubled", _DoubleGrad.apply)
    assert bt.check_output(target, SMALL, "cpu")  # the forward is right
    with pytest.raises(ConformanceFailure, match="grad of"):
        bt.check_gradients(target, SMALL, "cpu")


def test_a_correct_candidate_passes_both_checks():
    target = bt.Target("fused-torch", _fused())
    assert bt.check_gradients(target, SMALL, "cpu") == "output and gradients match nn.LSTM"


def test_sizes_parse():
    assert bt.parse_sizes("smallest,2x5x3x4,smallest") == [bt.LADDER[0], SMALL]
    assert bt.parse_sizes("ladder") == list(bt.LADDER)
    assert bt.Size.from_id(SMALL.id) == SMALL
    with pytest.raises(ValueError, match="NxTxIxH"):
        bt.parse_sizes("2x5x3")


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


def test_plot_command_writes_the_plots_and_ratio_table(tmp_path, capsys):
    """`lstm-conformance-plot` on the committed benchmark run: four PNGs and a summary whose
    ratios are the README's (fused-torch forward at (32, 100, 128, 128): 1.99x nn.LSTM)."""
    pytest.importorskip("matplotlib")
    from pathlib import Path

    from conformance import benchplot

    committed = Path(__file__).resolve().parents[1] / "docs" / "bench" / "bench.json"
    assert benchplot.main([str(committed), "-o", str(tmp_path)]) == 0
    for name in ("time_vs_T.png", "time_vs_H.png", "time_vs_N.png", "ratio.png"):
        png = tmp_path / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    summary = (tmp_path / "summary.md").read_text()
    fused = next(line for line in summary.splitlines() if line.startswith("| fused-torch |"))
    assert "9.28 (1.99x)" in fused, fused
    assert "wrote" in capsys.readouterr().out


def test_plot_command_refuses_a_json_without_lstm_results(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from conformance import benchplot

    empty = tmp_path / "empty.json"
    empty.write_text('{"machine_info": {}, "benchmarks": []}')
    with pytest.raises(SystemExit) as exit_info:
        benchplot.main([str(empty), "-o", str(tmp_path / "plots")])
    assert exit_info.value.code == 2
    assert "no LSTM benchmark results" in capsys.readouterr().err
