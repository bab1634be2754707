"""The failure diagnosis: localization, single-mistake explanations, family summaries, and
the repro script a failing run writes.

Diagnoses are asserted on catalog bugs whose mistake is known, directly on the diagnosis
functions; one subprocess run checks the plugin integration end to end.
"""
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from types import SimpleNamespace

import pytest
import torch
from hypothesis import given, settings
from hypothesis import strategies as st
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from conformance import CaseRecipe, LSTMSpec
from conformance.model import strategies as cs
from conformance.core.registry import load
from conformance.core.compare import unpack
from conformance.diagnosis.diagnose import _tell_apart, diagnose, wider
from conformance.diagnosis.summary import describe, summarize
from conformance.plugin.on_failure import SECTION, attach
from conformance.diagnosis.probe import needed_features
from conformance.core.oracle import run_truth
from conformance.diagnosis.stepwise import REFERENCE, inputs_of, trace
from conformance.plugin.verdict import PROPERTY, Verdicts

REPO = Path(__file__).resolve().parents[1]
BUGS = "tests.catalog.bugs"
STACKED = CaseRecipe(LSTMSpec(3, 4, num_layers=2, bidirectional=True), seq_len=4, batch=2,
                     hx="random", seed=5)
MINIMAL = CaseRecipe(LSTMSpec(1, 1), seq_len=1, batch=1, seed=0)


def bug(slug):
    return load(f"{BUGS}:build_{slug}")


# -- the float64 step-by-step reference is nn.LSTM ----------------------------------------

@settings(max_examples=30, deadline=None)
@given(recipe=cs.recipes(spec=cs.specs(device=st.just("cpu"))))
def test_stepwise_reference_equals_nn_lstm(recipe):
    out, h_n, c_n = unpack(run_truth(recipe))
    if isinstance(out, PackedSequence):
        out = pad_packed_sequence(out)[0]
    elif recipe.unbatched:
        out, h_n, c_n = out.unsqueeze(1), h_n.unsqueeze(1), c_n.unsqueeze(1)
    elif recipe.spec.batch_first:
        out = out.transpose(0, 1)
    ref = trace(REFERENCE, inputs_of(recipe))
    for got, want in ((ref.layer_outputs[-1], out), (ref.h_n, h_n), (ref.c_n, c_n)):
        torch.testing.assert_close(got, want, rtol=0, atol=1e-12)


# -- localization and explanation on known bugs ----------------------------------------------

@pytest.mark.parametrize("recipe", [STACKED, MINIMAL], ids=["stacked", "minimal"])
@pytest.mark.parametrize("slug, explanation", [
    ("gate_order_if", "gates i and f swapped"),
    ("gate_order_go", "gates g and o swapped"),
    ("gate_order_onnx", "gate rows read in the order i o f g (nn.LSTM stacks i f g o)"),
    ("no_tanh_on_c", "no tanh on c: h = o * c"),
    ("bias_hh_dropped", "bias_hh dropped (only bias_ih added)"),
    ("hard_sigmoid", "hard sigmoid clip(0.2 z + 0.5, 0, 1) on i, f, o"),
])
def test_cell_mistakes_are_named_at_the_first_step(slug, explanation, recipe):
    d = diagnose(bug(slug), recipe)
    assert d.outcome == "diverges", d.text()
    assert d.explained_by == [explanation]
    assert (d.divergence.tensor, d.divergence.layer, d.divergence.direction,
            d.divergence.time_step, d.divergence.batch) == ("output", 0, 0, 0, 0)
    assert f"with one change: {explanation}" in d.text()


def test_reverse_output_not_flipped_back_is_direction_1_at_its_first_step():
    d = diagnose(bug("reverse_output_not_flipped_back"), STACKED)
    div = d.divergence
    assert (div.tensor, div.layer, div.direction) == ("output", 0, 1)
    # The reverse direction's first processing step is the last time step.
    assert (div.processing_step, div.time_step) == (0, STACKED.seq_len - 1)
    assert div.source == "candidate run with num_layers=1"
    assert d.explained_by == ["the reverse direction's output is left in processing order "
                              "(not flipped back)"]


def test_layers_share_hx_is_layer_1():
    d = diagnose(bug("layers_share_hx"), STACKED)
    assert (d.divergence.tensor, d.divergence.layer, d.divergence.time_step) == ("output", 1, 0)
    assert d.explained_by == ["every layer starts from layer 0's initial state"]


def test_state_index_direction_major_shows_in_h_n_of_layer_0_direction_1():
    d = diagnose(bug("state_index_direction_major"), STACKED)
    assert (d.divergence.tensor, d.divergence.layer, d.divergence.direction,
            d.divergence.time_step) == ("h_n", 0, 1, None)
    assert d.explained_by == ["hx and h_n/c_n indexed direction-major (direction*L + layer)"]


def test_c_not_carried_first_differs_at_step_1():
    recipe = CaseRecipe(LSTMSpec(2, 3), seq_len=3, batch=2, seed=1)
    d = diagnose(bug("c_not_carried"), recipe)
    assert (d.divergence.tensor, d.divergence.time_step) == ("output", 1)


@pytest.mark.parametrize("slug, needs", [
    ("state_index_direction_major", ["bidirectional", "num_layers"]),
    ("layers_share_hx", ["initial_state", "num_layers"]),
    ("reverse_output_not_flipped_back", ["bidirectional"]),
    ("gate_order_if", []),
])
def test_needed_features_are_measured_by_turning_features_off(slug, needs):
    found, probed = needed_features(bug(slug), STACKED, time.monotonic() + 60)
    assert found == needs
    assert probed == ["bidirectional", "initial_state", "num_layers"]


def test_unexplained_divergence_says_so():
    d = diagnose(bug("reverse_h_n_at_last_step"), STACKED)
    assert (d.divergence.tensor, d.divergence.layer, d.divergence.direction) == ("h_n", 0, 1)
    assert d.explained_by == [] and "no single known mistake" in d.text()


def test_weight_and_result_mistakes_are_named():
    recipe = CaseRecipe(LSTMSpec(2, 3), seq_len=2, batch=2, seed=1)
    c_n = diagnose(bug("c_n_is_h_n"), recipe)
    assert c_n.divergence.tensor == "c_n" and c_n.explained_by == ["h_n returned in place of c_n"]
    assert diagnose(bug("w_ih_view_not_transpose"), recipe).explained_by == [
        "W_ih reshaped with .view(input_size, 4*hidden_size) instead of transposed"]


def test_correct_raising_and_misshapen_candidates():
    assert diagnose(load("catalog-base"), STACKED).outcome == "matches"
    raised = diagnose(bug("layer_input_is_x"), STACKED)
    assert raised.outcome == "raised" and ") raised RuntimeError" in raised.detail
    packed = CaseRecipe(LSTMSpec(2, 3), seq_len=3, batch=2, lengths=(3, 1), seed=1)
    shaped = diagnose(bug("packed_output_not_repacked"), packed)
    assert shaped.outcome == "structure" and "should be a PackedSequence" in shaped.detail


def test_a_wider_example_tells_coinciding_hypotheses_apart():
    names = ["bias_hh dropped (only bias_ih added)", "gates i and f swapped"]
    kept, on = _tell_apart(bug("gate_order_if"), MINIMAL, names, time.monotonic() + 30)
    assert kept == ["gates i and f swapped"] and on == repr(wider(MINIMAL))


def test_a_hanging_candidate_cannot_outlast_the_budget():
    hangs = load("tests.harness_candidates:hangs")
    start = time.monotonic()
    d = diagnose(hangs, STACKED, budget=1.0)
    assert time.monotonic() - start < 5
    assert d.outcome == "raised" and "did not return within 1 s" in d.detail
    assert d.needs is None  # not measured: no claim about what the failure needs


def test_diagnosis_stops_at_its_budget():
    d = diagnose(bug("gate_order_if"), STACKED, budget=0.0)
    assert d.outcome in ("timeout", "diverges") and "stopped after 0 s" in d.detail


# -- family summaries --------------------------------------------------------------------------

F = frozenset
PLAIN = {"basic", "float32", "cpu", "seq_first"}


def test_summary_names_the_separating_features():
    failing = [F(PLAIN | {"num_layers", "bidirectional"}),
               F(PLAIN | {"num_layers", "bidirectional", "initial_state"})]
    passing = [F(PLAIN | {"num_layers", "initial_state"}), F(PLAIN | {"bidirectional"})]
    text = summarize({"check": (failing, passing)}, ["basic", "packed"])
    assert text.startswith("fails only with bidirectional and num_layers >= 2 (2 failing tests")
    assert text.endswith("; passes basic, packed")


def test_summary_of_a_candidate_that_fails_plain_examples():
    assert describe([F(PLAIN)], [F(PLAIN | {"packed"})]).startswith(
        "fails even on plain single-layer examples")
    assert summarize({}, ["basic"]) is None
    assert describe([F(PLAIN | {"packed"})], []) == (
        "no example passed (1 failing test); the failing examples share packed input")


def test_summary_when_features_do_not_separate():
    text = describe([F(PLAIN | {"num_layers"})], [F(PLAIN | {"num_layers"})])
    assert text.startswith("every failing example has num_layers >= 2, but 1 of 1 passing "
                           "feature combinations have that too")


def test_summary_from_measured_needs():
    failing = [F(PLAIN | {"num_layers", "bidirectional", "no_bias"}),
               F(PLAIN | {"num_layers", "bidirectional", "packed"})]
    needs = [["bidirectional", "num_layers"], ["bidirectional", "num_layers"]]
    assert describe(failing, [], needs).startswith(
        "fails only with bidirectional and num_layers >= 2 (2 failing tests; each failing "
        "example still fails with every other feature turned off")
    assert describe(failing, [], [["packed"], ["bidirectional", "num_layers"]]).startswith(
        "fails with any of: bidirectional and num_layers >= 2; packed input")
    assert describe(failing, [], [[], ["packed"]]).startswith("fails even on plain")


def test_summary_with_several_failing_checks_names_each():
    text = summarize({"check": ([F(PLAIN | {"packed"})], [F(PLAIN)]),
                      "check_invalid": ([F(PLAIN)], [F(PLAIN | {"packed"})])}, [])
    assert text == ("forward: fails only with packed input (1 failing test; no passing example "
                    "has it, 1 feature combinations passed); invalid: fails even on plain "
                    "single-layer examples (1 failing test)")


def _report(test, outcome, features, combos, columns=(), failure=None):
    data = {"candidate": "c", "columns": list(columns), "counts": {f: 1 for f in features},
            "failing_features": sorted(features), "combos": [sorted(c) for c in combos]}
    if failure:
        data["failure"] = failure
    return SimpleNamespace(nodeid=test, outcome=outcome, failed=outcome == "failed",
                           passed=outcome == "passed", longrepr="boom",
                           user_properties=[(PROPERTY, data)])


def test_verdicts_summarize_from_recorded_examples():
    verdicts = Verdicts([SimpleNamespace(name="c", unsupported=(), xfail={})])
    bidir_stacked = PLAIN | {"num_layers", "bidirectional"}
    verdicts.add(_report("s.py::test_a[c]", "failed", bidir_stacked, [bidir_stacked]))
    verdicts.add(_report("s.py::test_b[c]", "passed", PLAIN | {"num_layers"},
                         [PLAIN | {"num_layers"}, PLAIN | {"bidirectional"}]))
    # A passing test in another file is no evidence about this failure.
    verdicts.add(_report("other.py::test_c[c]", "passed", bidir_stacked, [bidir_stacked]))
    assert verdicts.summary("c").startswith("fails only with bidirectional and num_layers >= 2")
    assert "c: fails only with bidirectional" in verdicts.render()


# -- plugin integration --------------------------------------------------------------------------

def test_a_diagnosis_that_errs_never_breaks_the_run(monkeypatch):
    import conformance.plugin.on_failure as on_failure

    def explode(*args, **kwargs):
        raise RuntimeError("diagnosis bug")
    monkeypatch.setattr(on_failure, "diagnose", explode)
    item = SimpleNamespace(callspec=SimpleNamespace(params={"candidate": bug("gate_order_if")}),
                           config=SimpleNamespace(getoption=lambda name: None), nodeid="t")
    run = SimpleNamespace(current=SimpleNamespace(last_recipe=MINIMAL), hung={},
                          example_timeout=10)
    report, data = SimpleNamespace(sections=[]), {}
    attach(item, SimpleNamespace(excinfo=None), report, run, data)
    assert "diagnosis unavailable: RuntimeError: diagnosis bug" in data["failure"]["diagnosis"]
    assert report.sections[0][0] == SECTION


def test_failing_run_writes_a_repro_script_that_reproduces(pytester, monkeypatch, tmp_path):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    report_dir = tmp_path / "report"
    result = pytester.runpytest_subprocess(
        "--pyargs", "conformance.suite", "-p", "no:cacheprovider", "--hypothesis-profile", "ci",
        "-k", "test_single_layer_cell", "--conformance-impl", f"{BUGS}:build_gate_order_if",
        "--conformance-report", str(report_dir))
    result.assert_outcomes(failed=1)
    out = result.stdout.str()
    assert "conformance diagnosis" in out and "with one change: gates i and f swapped" in out
    assert "bug-gate-order-if: fails even on plain single-layer examples (1 failing test" in out

    [cand] = json.loads((report_dir / "conformance-report.json").read_text())["candidates"]
    [failure] = cand["failures"]
    assert failure["localization"]["explained_by"] == ["gates i and f swapped"]
    assert failure["localization"]["layer"] == 0 and failure["shrunk"].startswith("CaseRecipe(")
    assert cand["summary"].startswith("fails even on plain single-layer examples")
    script = report_dir / failure["repro"]
    assert "Diagnosis:" in (report_dir / "conformance-report.md").read_text()

    # Plain python, from another directory, without the repository on PYTHONPATH.
    env = {k: v for k, v in os.environ.items() if k != "PYTHONPATH"}
    ran = subprocess.run([sys.executable, str(script)], cwd=tmp_path, env=env,
                         capture_output=True, text=True, timeout=120)
    assert ran.returncode == 1, ran.stderr
    assert "output: max |candidate - nn.LSTM| = " in ran.stdout
    assert "with one change: gates i and f swapped" in ran.stdout
    assert "does not match torch.nn.LSTM" in ran.stdout  # the test's own check, re-run


def test_failures_of_several_checks_with_measured_needs_are_one_family():
    verdicts = Verdicts([SimpleNamespace(name="c", unsupported=(), xfail={})])
    bidir = PLAIN | {"bidirectional", "no_bias"}
    for test, check in (("a.py::test_a[c]", "check"), ("g.py::test_g[c]", "check_gradients")):
        verdicts.add(_report(test, "failed", bidir, [bidir], failure={
            "check": check, "localization": {"needs": ["bidirectional"]}}))
    verdicts.add(_report("i.py::test_i[c]", "failed", PLAIN, [PLAIN], failure={
        "check": "check_invalid", "localization": {"needs": None}}))
    assert verdicts.summary("c").startswith(
        "forward: fails only with bidirectional (2 failing tests; each failing example still "
        "fails with every other feature turned off")
    assert "; invalid: no example passed (1 failing test)" in verdicts.summary("c")


def test_a_divergence_only_the_whole_tensor_shows_is_localized():
    """Every element within its own allowance, the root mean square not (a float32 forget
    bias 2e-6 off): the diagnosis still says where, and that it is the whole tensor."""
    from tests.power import ForgetBiasShifted, candidate
    from tests.test_compare import WHOLE_TENSOR_RECIPE
    d = diagnose(candidate(ForgetBiasShifted, 2e-6), WHOLE_TENSOR_RECIPE, budget=60)
    assert d.outcome == "diverges", (d.outcome, d.detail)
    assert d.divergence.tensor == "output" and d.divergence.rms is not None
    assert d.divergence.rms[0] > d.divergence.rms[1]
    assert "root-mean-square error over the whole output" in d.divergence.text()


def test_a_whole_tensor_divergence_of_packed_output_is_localized():
    """The same over a packed output: its padding, zero in both, is left out of the root mean
    square, as the check leaves it out (a reviewer's example, once diagnosed as "matches")."""
    from tests.power import ForgetBiasShifted, candidate
    from tests.test_compare import WHOLE_TENSOR_RECIPE
    recipe = WHOLE_TENSOR_RECIPE.replace(batch=4, seed=27, lengths=(12, 2, 1, 1))
    d = diagnose(candidate(ForgetBiasShifted, 2e-6), recipe, budget=60)
    assert d.outcome == "diverges", (d.outcome, d.detail)
    assert d.divergence.tensor == "output" and d.divergence.rms is not None
