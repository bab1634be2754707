"""The verdict table blames what a failing example needs, and nothing else."""
import pickle
from types import SimpleNamespace

import torch

from conformance import CaseRecipe, LSTMSpec
from conformance.core.failures import ConformanceFailure, Failure, Problem, failure_of
from conformance.model.features import edges, phrase, turned_off
from conformance.plugin.verdict import PROPERTY, Verdicts, blame

PLAIN = {"basic", "seq_first", "float64", "cpu"}


def report(test, outcome, features, columns=(), needs="unmeasured", probe_check="check",
           xpass=False, combos=None):
    data = {"candidate": "c", "columns": list(columns), "counts": {f: 1 for f in features},
            "failing_features": sorted(features),
            "combos": [sorted(c) for c in (combos or [features])]}
    if needs != "unmeasured":
        data["failure"] = {"check": "check", "localization": {"needs": needs,
                                                              "probe_check": probe_check}}
    if xpass:
        data["xpass"] = True
    return SimpleNamespace(nodeid=test, outcome=outcome, failed=outcome == "failed",
                           passed=outcome == "passed", longrepr="boom",
                           user_properties=[(PROPERTY, data)])


def table(*reports, **candidate):
    verdicts = Verdicts([SimpleNamespace(name="c", unsupported=candidate.get("unsupported", ()),
                                         xfail=candidate.get("xfail", {}))])
    for r in reports:
        verdicts.add(r)
    return verdicts


def test_a_fail_cell_means_the_failing_example_needs_the_feature():
    example = PLAIN | {"proj_size", "num_layers", "bidirectional", "float16"}
    verdicts = table(
        report("p.py::test_projection[c]", "failed", example,
               ("proj_size", "num_layers", "bidirectional"), needs=["proj_size"]),
        report("d.py::test_dtype[c]", "failed", example, ("float16",), needs=["proj_size"]),
        report("s.py::test_num_layers[c]", "passed", PLAIN | {"num_layers", "bidirectional"},
               ("num_layers",)))
    cells = {c: verdicts.cell("c", c) for c in ("proj_size", "num_layers", "bidirectional",
                                                 "float16", "basic")}
    assert cells["proj_size"] == "FAIL"
    assert all(cells[c].startswith("ok") for c in ("num_layers", "bidirectional", "float16",
                                                   "basic")), cells


def test_needs_measured_by_the_family_check_blame_its_own_columns():
    blamed, unsure = blame(("backward",), {
        "failing_features": sorted(PLAIN | {"packed"}),
        "failure": {"localization": {"needs": ["packed"], "probe_check": "check_gradients"}}})
    assert (blamed, unsure) == ({"packed", "backward"}, False)
    # Measured with the forward check: the defect is in the forward pass, not the gradients.
    blamed, _ = blame(("backward",), {
        "failing_features": sorted(PLAIN | {"packed"}),
        "failure": {"localization": {"needs": ["packed"], "probe_check": "check"}}})
    assert blamed == {"packed"}


def test_an_edge_is_not_a_column_and_a_plain_failure_is_basic():
    blamed, _ = blame(("num_layers",), {"failing_features": sorted(PLAIN),
                                        "failure": {"localization": {"needs": ["one_step"]}}})
    assert blamed == {"basic"}
    blamed, _ = blame((), {"failing_features": sorted(PLAIN | {"packed"}),
                           "failure": {"localization": {"needs": []}}})
    assert blamed == {"basic"}


def test_unmeasured_needs_are_marked_as_a_guess():
    verdicts = table(report("p.py::test_packed[c]", "failed", PLAIN | {"packed", "no_bias"},
                            ("packed",)))
    assert verdicts.cell("c", "packed") == "FAIL?"
    assert verdicts.cell("c", "no_bias") != "FAIL?"
    assert "FAIL?:" in verdicts.render()


def test_a_strict_xpass_blames_the_declared_column_only():
    verdicts = table(report("p.py::test_packed[c]", "failed", PLAIN | {"packed"}, ("packed",),
                            xpass=True), xfail={"packed": "why"})
    assert verdicts.cell("c", "packed") == "XPASS"
    assert verdicts.cell("c", "basic") != "FAIL"


def test_the_summary_names_an_edge():
    verdicts = table(report("l.py::test_seq_first[c]", "failed", PLAIN, ("seq_first",),
                            needs=["one_step"]),
                     report("l.py::test_batch_first[c]", "passed", PLAIN | {"batch_first"},
                            ("batch_first",)))
    assert "fails only with a single time step (T=1)" in verdicts.summary("c")


def test_edges_and_their_off_switches():
    recipe = CaseRecipe(LSTMSpec(1, 1, dtype=torch.float64), seq_len=1, batch=1)
    assert edges(recipe) == {"one_step", "unit_hidden", "unit_input", "single_sequence"}
    for edge in edges(recipe):
        assert edge not in edges(turned_off(recipe, edge)), edge
    empty = recipe.replace(batch=0)
    assert "empty_batch" in empty.features()
    assert "empty_batch" not in turned_off(empty, "empty_batch").features()
    assert phrase(["empty_batch"]) == "an empty batch (N=0)"


def test_a_failure_travels_as_data():
    recipe = CaseRecipe(LSTMSpec(2, 3, dtype=torch.float64), seq_len=2, batch=1, seed=4)
    failure = Failure("c", "pkg.mod:build", recipe, "check_streaming",
                      "conformance.checks.metamorphic", {}, ["text problem",
                      Problem(tensor="output", index=(0, 0, 1), got=1.0, reference=0.5,
                              truth=0.5, error=0.5, allowed=1e-9, bad=1, total=6,
                              max_abs=0.5, max_rel=1.0)])
    again = failure_of(pickle.loads(pickle.dumps(ConformanceFailure(failure))))
    assert again.recipe == recipe and again.checker == "check_streaming"
    assert [p.render() for p in again.problems] == [p.render() for p in failure.problems]
    text = str(ConformanceFailure(failure))
    assert "output differs from nn.LSTM at index (0, 0, 1): got 1" in text
    assert failure.reproduction().endswith(f"check_streaming('pkg.mod:build', {recipe!r})")
    assert "from conformance.checks.metamorphic import check_streaming" in text
