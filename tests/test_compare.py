"""Meta-tests of the comparison helpers: each problem is found, and only real ones.

A checker that passes a wrong result is a defect, so each helper is shown both a correct and a
subtly wrong value.
"""
import pytest
import torch
from torch.nn.utils.rnn import pack_padded_sequence

import conformance
from conformance import CaseRecipe, LSTMSpec
from conformance.checks.forward import check_forward, value_problems
from conformance.core.failures import ConformanceFailure
from conformance.core.compare import (ResultShapeError, structure_problems, unpack,
                                 value_problem)
from conformance.core.oracle import run_reference, run_truth
from conformance.core.registry import Candidate
from conformance.core import compare
from conformance.core import gauge
from conformance.core.tolerance import (FEW_ENTRIES_MARGIN, MULTIPLE, RMS_MULTIPLE, VALUE_ULPS,
                                        draw_gauge, eps, recurrence_depth, rms_gauge_of,
                                        tolerance_for)

RECIPE = CaseRecipe(LSTMSpec(3, 4, num_layers=2, bidirectional=True, dtype=torch.float32),
                    seq_len=5, batch=3, hx="random", seed=7)


def reference_result(recipe=RECIPE):
    return unpack(run_reference(recipe.build()))


def candidate_from(transform, name="transformed-nn-lstm"):
    """A candidate that runs nn.LSTM and then applies `transform` to (output, (h_n, c_n))."""

    def build(spec, params):
        lstm = torch.nn.LSTM(**spec.lstm_kwargs())
        lstm.load_state_dict(params)
        lstm.eval()
        return lambda x, hx=None: transform(lstm(x, hx))

    return Candidate(name, build, origin=f"{__name__}:{name}")


# -- unpack ------------------------------------------------------------------------------

@pytest.mark.parametrize("result, words", [
    (torch.zeros(2), "a Tensor of shape (2,)"),
    ((torch.zeros(2),), "1 items"),
    ((torch.zeros(2), torch.zeros(2), torch.zeros(2)), "3 items"),
    ((torch.zeros(2), torch.zeros(2)), "second item should be (h_n, c_n)"),
    ((torch.zeros(2), (torch.zeros(2),)), "second item should be (h_n, c_n)"),
    (None, "a NoneType"),
])
def test_unpack_names_what_was_returned(result, words):
    with pytest.raises(ResultShapeError, match=".*" + words.replace("(", r"\(").replace(")", r"\)")):
        unpack(result)


def test_unpack_accepts_tuples_and_lists():
    a, b, c = torch.zeros(1), torch.ones(1), torch.full((1,), 2.0)
    assert unpack((a, (b, c))) == (a, b, c)
    assert unpack([a, [b, c]]) == (a, b, c)


# -- structure ---------------------------------------------------------------------------

def test_identical_structure_has_no_problems():
    assert structure_problems(reference_result(), reference_result()) == []


@pytest.mark.parametrize("change, words", [
    (lambda o, h, c: (o.double(), h, c), "output has dtype torch.float64, should be torch.float32"),
    (lambda o, h, c: (o, h[:, :, :-1], c), "h_n has shape (4, 3, 3), should be (4, 3, 4)"),
    (lambda o, h, c: (o, h, c.unsqueeze(0)), "c_n has shape (1, 4, 3, 4), should be (4, 3, 4)"),
    (lambda o, h, c: (o.transpose(0, 1), h, c), "output has shape (3, 5, 8), should be (5, 3, 8)"),
    (lambda o, h, c: (o, h.to("meta"), c), "h_n is on device meta, should be on cpu"),
    (lambda o, h, c: (o.tolist(), h, c), "output is a list of 5 items, should be a Tensor"),
])
def test_structure_problems_name_the_tensor(change, words):
    actual = change(*reference_result())
    problems = structure_problems(actual, reference_result())
    assert any(words in p for p in problems), problems


def packed_result(enforce_sorted):
    lengths = (5, 3, 2) if enforce_sorted else (3, 5, 2)
    recipe = RECIPE.replace(lengths=lengths, enforce_sorted=enforce_sorted)
    return recipe, unpack(run_reference(recipe.build()))


def test_packed_output_must_keep_its_indices():
    _, (out, h, c) = packed_result(enforce_sorted=False)
    stripped = out._replace(sorted_indices=None, unsorted_indices=None)
    problems = structure_problems((stripped, h, c), (out, h, c))
    assert any("output.sorted_indices is None, should be [1, 0, 2]" in p for p in problems), problems
    assert any("output.unsorted_indices" in p for p in problems)


def test_packed_output_must_be_packed():
    _, (out, h, c) = packed_result(enforce_sorted=True)
    padded = torch.zeros(5, 3, out.data.shape[-1])
    problems = structure_problems((padded, h, c), (out, h, c))
    assert problems == ["output is a Tensor of shape (5, 3, 8), should be a PackedSequence "
                        "(input was packed)"]


def test_packed_batch_sizes_compared():
    _, (out, h, c) = packed_result(enforce_sorted=True)
    other = pack_padded_sequence(torch.zeros(5, 3, 8), [5, 5, 2])
    problems = structure_problems((other, h, c), (out, h, c))
    assert any(p.startswith("output.batch_sizes is [3, 3, 2, 2, 2]") for p in problems), problems


# -- values ------------------------------------------------------------------------------

def test_value_problem_reports_first_index_and_counts():
    truth = torch.zeros(2, 3, dtype=torch.float64)
    got = truth.clone()
    got[1, 2] = 1.0
    got[1, 0] = 0.5
    tol = tolerance_for(torch.float32, 1, 0.0)
    problem = value_problem("h_n", got, truth, truth, tol)
    assert (problem.tensor, problem.index, problem.got, problem.bad, problem.total) == (
        "h_n", (1, 0), 0.5, 2, 6)
    line = problem.render()
    assert line.startswith("h_n differs from nn.LSTM at index (1, 0): got 0.5")
    assert "2 of 6 elements out of tolerance, max abs error 1" in line


def test_nan_and_inf_always_fail():
    truth = torch.ones(3, dtype=torch.float64)
    tol = tolerance_for(torch.float16, None, 1.0)  # very loose
    for bad in (float("nan"), float("inf")):
        got = truth.clone()
        got[1] = bad
        assert value_problem("output", got, truth, truth, tol) is not None


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_tolerance_boundary_is_exact(dtype):
    """Just inside the allowed error passes, just outside fails: the formula is what runs."""
    truth = torch.tensor([0.0, 0.5, -2.0], dtype=torch.float64)
    ref_error, rounding_error, sensitivity = 3 * eps(dtype), 5 * eps(dtype), 4 * eps(dtype)
    tol = tolerance_for(dtype, None, ref_error, sensitivity, rounding_error)
    allowed = MULTIPLE * rounding_error + VALUE_ULPS * eps(dtype) * truth.abs()
    assert torch.allclose(tol.allowed(truth), allowed, rtol=1e-12, atol=0)
    assert value_problem("c_n", truth + 0.999 * allowed, truth, truth, tol) is None
    assert value_problem("c_n", truth + 1.001 * allowed, truth, truth, tol) is not None


def test_allowed_is_the_largest_gauge_times_the_multiple():
    """Only the largest of the three gauges counts, whichever it is; nothing grows with depth."""
    for gauges in ((1e-6, 0, 0), (0, 1e-6, 0), (0, 0, 1e-6), (1e-6, 5e-7, 2e-7)):
        tol = tolerance_for(torch.float32, None, *gauges)
        assert tol.allowed(torch.zeros(1, dtype=torch.float64)).item() == \
            pytest.approx(MULTIPLE * 1e-6, rel=1e-12)
    assert tolerance_for(torch.float32, 1).allowed(torch.zeros(1)).item() == 0.0
    assert tolerance_for(torch.float32, 1000).floor == tolerance_for(torch.float32, 1).floor


def test_rms_allowed_is_the_rms_gauge_times_its_multiple_and_never_the_values():
    truth = torch.linspace(-1, 1, 100, dtype=torch.float64)
    values = truth.square().mean().sqrt().item()
    tol = tolerance_for(torch.float32, None, 1e-6, 0, 1e-6, truth, rms_gauge=5e-7)
    expected = (RMS_MULTIPLE * (1 + 3 / 10) * 5e-7
                + VALUE_ULPS * eps(torch.float32) * values)  # 100 elements: 1 + 3 / sqrt(100)
    assert tol.rms_allowed(truth) == pytest.approx(expected, rel=1e-12)
    inf = float("inf")
    # no root-mean-square gauge (no rounding spread: dropout's first-layer gauge): no such test
    assert tolerance_for(torch.float32, None, 1e-6, 0, 1e-6, truth).rms_allowed(truth) == inf
    # unresolved: the element-wise gauges reach the cap
    unresolved = tolerance_for(torch.float32, None, 0.3, 0, 0, truth, rms_gauge=1e-7)
    assert unresolved.unresolved and unresolved.rms_allowed(truth) == inf
    # an allowance half the values' own root mean square would check nothing
    assert tolerance_for(torch.float32, None, 1e-6, 0, 0, truth,
                         rms_gauge=values / 2).rms_allowed(truth) == inf


def test_rms_boundary_is_exact_and_named_in_the_message():
    """The same error on every element, each within its own allowance: the tensor passes just
    below the root-mean-square allowance and fails just above, with a message that says so."""
    truth = torch.linspace(-1, 1, 100, dtype=torch.float64)
    tol = tolerance_for(torch.float32, None, 1e-6, 0, 1e-6, truth, rms_gauge=5e-7)
    limit = tol.rms_allowed(truth)
    assert limit < tol.allowed(truth).min().item()
    assert value_problem("output", truth + 0.999 * limit, truth, truth, tol) is None
    found = value_problem("output", truth - 1.001 * limit, truth, truth, tol)
    assert found is not None and found.bad == 0 and found.total == 100
    assert found.rms_error == pytest.approx(1.001 * limit, rel=1e-9)
    assert "output differs from nn.LSTM throughout: root-mean-square error" in found.render()
    assert "every element within its own allowance" in found.render()


WHOLE_TENSOR_RECIPE = CaseRecipe(LSTMSpec(5, 8, dtype=torch.float32), seq_len=12, batch=3,
                                 hx="random", seed=11)


def test_whole_tensor_test_catches_a_bias_error_that_every_element_allows(monkeypatch):
    """A forget-gate bias off by 2e-6 (16 ulps of 1) in float32 moves every output a little:
    within each element's allowance, but 1.3x the root-mean-square allowance."""
    from tests.power import ForgetBiasShifted, candidate
    shifted = candidate(ForgetBiasShifted, 2e-6)
    with pytest.raises(ConformanceFailure, match="output differs from nn.LSTM throughout"):
        check_forward.in_process(shifted, WHOLE_TENSOR_RECIPE)
    monkeypatch.setattr(compare, "rms_deviation", lambda *args, **kwargs: None)
    check_forward.in_process(shifted, WHOLE_TENSOR_RECIPE)  # element-wise alone: passes


def test_float64_whole_tensor_gauge_adds_the_truths_own_rounding_as_a_variance():
    """In float64 the truth is nn.LSTM's own rounded result: its root-mean-square error (the
    reference gauge) adds to the candidate's in quadrature, not the largest gauge twice."""
    assert rms_gauge_of(torch.float64, 1e-16, 4e-16, 3e-16) == pytest.approx(
        (16e-32 + 1e-32) ** 0.5, rel=1e-12)
    assert rms_gauge_of(torch.float64, 2e-16) == pytest.approx(2 ** 0.5 * 2e-16, rel=1e-12)
    for dtype in (torch.float32, torch.float16, torch.bfloat16):
        assert rms_gauge_of(dtype, 1e-7, 4e-7, 3e-7) == 4e-7
        assert rms_gauge_of(dtype, 5e-7, 4e-7) == 5e-7


def test_draw_gauge_margins():
    """draw_gauge: nn.LSTM's own error and the sensitivity, single draws of n errors, times
    (1 + 3 / sqrt(n)); the model's largest sample times (1 + FEW_ENTRIES_MARGIN / n); in
    float64 the truth's own rounding (nn.LSTM's, with its margin) added in quadrature."""
    n = 16
    entries, few = 1 + 3 / 4, 1 + FEW_ENTRIES_MARGIN / n
    assert draw_gauge(torch.float32, n, 1e-7, 0.0, 0.0) == pytest.approx(entries * 1e-7)
    assert draw_gauge(torch.float32, n, 0.0, 2e-7, 0.0) == pytest.approx(entries * 2e-7)
    assert draw_gauge(torch.float32, n, 1e-7, 2e-7, 5e-7) == pytest.approx(few * 5e-7)
    assert draw_gauge(torch.float32, 1, 0.0, 0.0, 5e-7) == pytest.approx(3 * 5e-7)
    assert draw_gauge(torch.float32, 10 ** 6, 0.0, 0.0, 5e-7) == pytest.approx(5e-7, rel=1e-5)
    assert draw_gauge(torch.float64, n, 1e-16, 0.0, 5e-16) == pytest.approx(
        ((few * 5e-16) ** 2 + (entries * 1e-16) ** 2) ** 0.5)


HALF_RECIPE = CaseRecipe(LSTMSpec(6, 9, num_layers=2, dtype=torch.bfloat16), seq_len=14,
                         batch=3, hx="random", seed=5)


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32])
def test_half_dtypes_whole_tensor_gauge_reads_the_model_at_half_an_ulp(monkeypatch, dtype):
    """float16 and bfloat16 (every operation computed in float32 and rounded once): the
    forward whole-tensor gauge reads the rounding model at HALF_PRECISION_OP_ULPS, where the
    model is the largest gauge; float32 reads it at a full ulp; the element-wise gauges never
    change."""
    recipe = HALF_RECIPE.replace(spec=HALF_RECIPE.spec.replace(dtype=dtype))
    half = gauge.tolerances(recipe)
    monkeypatch.setattr(gauge, "HALF_PRECISION_OP_ULPS", 1.0)
    full = gauge.tolerances(recipe)
    for h, f in zip(half, full):
        assert (h.gauge, h.cap) == (f.gauge, f.cap)
        assert max(h.reference_error, h.sensitivity) < f.rounding_error  # the model leads
        if dtype == torch.float32:
            assert h.rms_gauge == f.rms_gauge
        else:
            assert h.rms_gauge < 0.75 * f.rms_gauge


def test_whole_tensor_test_catches_a_bfloat16_forget_bias_a_full_ulp_model_allows(monkeypatch):
    """A bfloat16 forget-gate bias off by 0.05 passes every element's allowance and, with the
    model read at a full ulp, the whole tensor too (0.82 of it); at half an ulp it fails
    (1.47x)."""
    from tests.power import ForgetBiasShifted, candidate
    shifted = candidate(ForgetBiasShifted, 0.05)
    with pytest.raises(ConformanceFailure, match="differs from nn.LSTM throughout"):
        check_forward.in_process(shifted, HALF_RECIPE)
    monkeypatch.setattr(gauge, "HALF_PRECISION_OP_ULPS", 1.0)
    check_forward.in_process(shifted, HALF_RECIPE)


def test_recurrence_depth_counts_steps_times_layers():
    assert recurrence_depth(LSTMSpec(1, 1, num_layers=3), 7) == 21
    assert recurrence_depth(LSTMSpec(1, 1), 0) == 1


@pytest.mark.parametrize("dtype", [torch.float16, torch.bfloat16, torch.float32, torch.float64])
def test_reference_in_its_own_dtype_is_within_tolerance(dtype):
    """nn.LSTM itself, in every dtype, passes its own derived tolerance (no false alarm)."""
    spec = RECIPE.spec.replace(dtype=dtype)
    recipe = RECIPE.replace(spec=spec, seq_len=12, gate_scales=(5.0, 5.0, 5.0, 5.0), input_scale=3.0)
    expected = unpack(run_reference(recipe.build()))
    truth = unpack(run_truth(recipe))
    assert value_problems(recipe, expected, expected, truth) == []


@pytest.mark.parametrize("dtype, ulps", [(torch.float32, 4096), (torch.float64, 2**26),
                                         (torch.float16, 64), (torch.bfloat16, 64)])
def test_a_small_systematic_error_is_caught(dtype, ulps):
    """A relative error of `ulps` units of eps in h_n is out of tolerance. In bfloat16 (8
    significant bits) nn.LSTM's own error already allows ~0.3 here, so only a relative error
    near 0.5 is resolved: low-precision checks catch gross mistakes, float32/64 the subtle ones."""
    recipe = RECIPE.replace(spec=RECIPE.spec.replace(dtype=dtype))
    expected = unpack(run_reference(recipe.build()))
    truth = unpack(run_truth(recipe))
    out, h, c = expected
    nudged = (out, h + ulps * eps(dtype) * (1 + h.abs()), c)
    problems = value_problems(recipe, nudged, expected, truth)
    assert [p.tensor for p in problems] == ["h_n"], problems


# -- check_forward end to end ------------------------------------------------------------

def test_nn_lstm_itself_passes():
    check_forward(candidate_from(lambda r: r, "nn-lstm"), RECIPE)


@pytest.mark.parametrize("transform, words", [
    (lambda r: (r[0], (r[1][0][[1, 0, 3, 2]], r[1][1])), "h_n differs from nn.LSTM"),
    (lambda r: (r[0], (r[1][0][0], r[1][1])), "h_n has shape (3, 4), should be (4, 3, 4)"),
    (lambda r: r[0], "forward returned a Tensor of shape (5, 3, 8)"),
    (lambda r: (r[0] * float("nan"), r[1]), "output differs from nn.LSTM at index (0, 0, 0): got nan"),
])
def test_check_forward_message_names_problem_and_reproduces(transform, words):
    candidate = candidate_from(transform)
    with pytest.raises(ConformanceFailure) as info:
        check_forward(candidate, RECIPE)
    message = str(info.value)
    assert words in message, message
    assert "candidate 'transformed-nn-lstm' does not match torch.nn.LSTM:" in message
    assert f"check('{__name__}:transformed-nn-lstm', {RECIPE!r})" in message


def test_register_rejects_unknown_feature_names():
    with pytest.raises(ValueError, match="bidirectionnal"):
        conformance.register("typo", unsupported={"bidirectionnal"})(lambda spec, params: None)
