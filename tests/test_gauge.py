"""Meta-tests of `conformance.core.gauge`: the perturbation, the sensitivity, and the tolerance
they give on the examples that once raised false alarms."""
import dataclasses

import pytest
import torch

from conformance import CaseRecipe, LSTMSpec

from conformance.model import pins
from conformance.core import gauge
from conformance.checks.forward import check, forward_tolerances
from conformance.core.failures import ConformanceFailure
from conformance.core.registry import load
from conformance.checks.dropout import (_first_layer, _first_layer_tolerances, _run_reference_training,
                                 check_dropout_training)
from conformance.checks.metamorphic import tolerances as metamorphic_tolerances
from conformance.core.oracle import run_reference
from conformance.suite.test_dropout import P1_BIDIR
from conformance.core.compare import tensors, unpack
from conformance.core.oracle import run_truth
from conformance.core.registry import Candidate
from conformance.core.tolerance import FEW_ENTRIES_MARGIN, MULTIPLE, draw_gauge, eps

SMALL = CaseRecipe(LSTMSpec(3, 4, num_layers=2, bidirectional=True, dtype=torch.float32),
                   seq_len=4, batch=3, lengths=(2, 4, 1), hx="random", seed=3)


def _values(case):
    return [case.input.data, *case.hx, *case.params.values()]


def test_perturbation_moves_every_value_by_one_relative_step_and_copies():
    case = SMALL.build(dtype=torch.float64)
    before = [v.clone() for v in _values(case)]
    moved = gauge.perturbed(case, 2.0 ** -10, seed=[1, 2])
    for old, orig, new in zip(_values(case), before, _values(moved)):
        assert torch.equal(old, orig)  # the original case is untouched
        nonzero = orig != 0
        ratio = (new[nonzero] / orig[nonzero] - 1).abs()
        assert torch.allclose(ratio, torch.full_like(ratio, 2.0 ** -10))
    signs = torch.sign(_values(moved)[-1] - _values(case)[-1])
    assert (signs > 0).any() and (signs < 0).any()  # up and down, not a uniform scaling
    other = gauge.perturbed(case, 2.0 ** -10, seed=[1, 3])
    assert not torch.equal(_values(other)[-1], _values(moved)[-1])  # the seed decides
    for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        assert torch.equal(getattr(moved.input, field), getattr(case.input, field)), field


def test_sensitivity_is_deterministic_and_float64_is_scaled():
    truth = tensors(unpack(run_truth(SMALL)))
    first, again = gauge.sensitivity(SMALL, truth), gauge.sensitivity(SMALL, truth)
    assert first == again and all(s > 0 for s in first)
    # float32: a one-ulp perturbation moves the results by about an ulp times conditioning
    assert all(eps(torch.float32) / 10 < s < 1e3 * eps(torch.float32) for s in first)
    double = SMALL.replace(spec=SMALL.spec.replace(dtype=torch.float64))
    scaled = gauge.sensitivity(double, tensors(unpack(run_truth(double))))
    ratio = eps(torch.float64) / eps(torch.float32)
    assert all(s64 == pytest.approx(s32 * ratio, rel=0.5) for s64, s32 in zip(scaled, first))


def test_tolerance_includes_the_rounding_model_where_nn_lstm_was_lucky():
    """ILL_CONDITIONED_FLOAT32: nn.LSTM's own error is 2e-7, correct candidates are off by
    up to 1.2e-5; the rounding model reads the conditioning (6e-5) and sets the allowance."""
    tols = gauge.tolerances(pins.ILL_CONDITIONED_FLOAT32)
    output = tols[0]
    assert output.rounding_error > 10 * output.reference_error  # nn.LSTM was lucky here
    assert output.sensitivity > 10 * output.reference_error
    truth = torch.zeros(3, dtype=torch.float64)
    assert torch.allclose(output.allowed(truth), torch.full_like(truth, MULTIPLE * output.gauge))
    without = dataclasses.replace(output, rounding_error=0.0, sensitivity=0.0)
    assert (without.allowed(truth) < output.allowed(truth) / 10).all()


def _eval(case):
    return tensors(unpack(run_reference(case)))


def _training(case):
    return tensors(unpack(_run_reference_training(case)))


P1_FLOAT32 = P1_BIDIR.replace(spec=P1_BIDIR.spec.replace(dtype=torch.float32))


def _gauged_paths():
    """(name, recipe, tolerances, truth) for every way the suite builds a forward tolerance."""
    plain = SMALL
    truth = _eval(plain.build(dtype=torch.float64, device="cpu"))
    yield "check.forward_tolerances", plain, forward_tolerances(
        plain, _eval(plain.build()), truth), truth
    yield "metamorphic.tolerances", plain, metamorphic_tolerances(plain), truth
    case = P1_FLOAT32.build()
    first = _first_layer(P1_FLOAT32.build(dtype=torch.float64, device="cpu"), 2)
    yield "dropout first layer", P1_FLOAT32, _first_layer_tolerances(
        P1_FLOAT32, case, first, 2), first
    train_truth = _training(P1_FLOAT32.build(dtype=torch.float64, device="cpu"))
    yield "dropout p=1 training", P1_FLOAT32, forward_tolerances(
        P1_FLOAT32, _training(case), train_truth, reference=_run_reference_training,
        model=gauge.rounding_reference(P1_FLOAT32, training=True),
        spread=gauge.model_spread(P1_FLOAT32, training=True),
        samples=gauge.model_samples(P1_FLOAT32, training=True)), train_truth


@pytest.mark.parametrize("path", list(_gauged_paths()), ids=lambda p: p[0])
def test_every_tolerance_path_gauges_rounding_only(path):
    """A gauge that ran nn.LSTM differently from the expected result (eval mode against a
    training-mode truth, say) would measure that difference instead of rounding and let any
    answer near it pass; on well-conditioned examples both gauges stay within a few hundred
    ulps of the values."""
    name, recipe, tols, truth = path
    limit = 1e3 * eps(recipe.spec.dtype)
    for tol, true in zip(tols, truth):
        bound = limit * (1 + true.abs().max().item())
        assert 0 < tol.sensitivity < bound, (name, tol)
        assert tol.reference_error < bound, (name, tol)
        assert tol.rounding_error < bound, (name, tol)
        if tol.rms_gauge != float("inf"):  # the whole-tensor test: read as one draw
            assert tol.rms_gauge < bound and not tol.rms_entries_margin, (name, tol)


@pytest.mark.parametrize("name", ["numpy", "fused-torch", "naive-torch", "lstmcell-loop"])
def test_ill_conditioned_example_passes_every_builtin(name):
    check(name, pins.ILL_CONDITIONED_FLOAT32)


def test_ill_conditioned_example_still_catches_a_relative_error_of_1e_3():
    """The sensitivity loosens only by the example's own conditioning: an error of one part in
    a thousand, far below any gate or wiring bug's, still fails there."""
    fused = load("fused-torch")

    def build(spec, params):
        forward = fused.build(spec, params)

        def off(input, hx=None):
            output, (h, c) = forward(input, hx)
            return output * (1 + 1e-3), (h, c)
        return off

    with pytest.raises(ConformanceFailure, match="output differs"):
        check(Candidate("output-off-by-1e-3", build), pins.ILL_CONDITIONED_FLOAT32)


def test_dropout_p1_check_gauges_training_mode():
    """A candidate that never drops (its training mode computes eval mode's result) fails the
    p = 1 training check in float32: the gauge there runs nn.LSTM in training mode too (run in
    eval mode it measured |eval - training| and let exactly this bug pass)."""
    fused = load("fused-torch")

    class NeverDrops:
        def __init__(self, forward):
            self.forward = forward

        def train(self, mode=True):
            return self

        def eval(self):
            return self

        def __call__(self, *args):
            return self.forward(*args)

    def build(spec, params):
        return NeverDrops(fused.build(spec.replace(dropout=0.0), params))

    with pytest.raises(ConformanceFailure, match="training mode, dropout=1.0"):
        check_dropout_training(Candidate("never-drops", build), P1_FLOAT32)
    check_dropout_training("fused-torch", P1_FLOAT32)


def test_whole_tensor_gauge_is_the_largest_sample():
    """The model's part of the whole-tensor gauge bounds one draw: the largest of its samples'
    root-mean-square errors, times only (1 + FEW_ENTRIES_MARGIN / n); nn.LSTM's own error and
    the sensitivity, single draws, keep the (1 + 3 / sqrt(n))."""
    recipe = SMALL
    truth = tensors(unpack(run_truth(recipe)))
    far = 1e-3  # far above any gauge of this example
    samples = lambda case: [truth, tuple(t + far for t in truth)]  # noqa: E731
    tols = gauge.tolerances(recipe, samples=samples, rounded=gauge.model_results(recipe),
                            spread=gauge.model_spread(recipe))
    for tol, true in zip(tols, truth):
        few = 1 + FEW_ENTRIES_MARGIN / true.numel()
        assert not tol.rms_entries_margin
        assert tol.rms_gauge == pytest.approx(far * few, rel=1e-9)
        floor = tol.floor * true.square().mean().sqrt().item()
        assert tol.rms_allowed(true) == pytest.approx(far * few + floor, rel=1e-9)
    # The check's own path: the same formula, rebuilt from its components.
    plain = gauge.tolerances(recipe)
    references = gauge.reference_errors(recipe, truth, with_rms=True)
    moved = gauge.sensitivity(recipe, truth, with_rms=True)
    model = gauge.rounding_errors(recipe, truth, gauge.model_results(recipe),
                                  gauge.model_spread(recipe), with_rms=True)
    drawn = gauge.sample_rms(recipe, truth, gauge.model_samples(recipe))
    split = gauge.arithmetic_ulps(recipe) < 1  # the samples carry their own spread
    for tol, true, (_, r), (_, s), (_, m), d in zip(plain, truth, references, moved, model,
                                                     drawn):
        assert not tol.rms_entries_margin
        assert tol.rms_gauge == pytest.approx(
            draw_gauge(recipe.spec.dtype, true.numel(), r, s, d if split else max(m, d)),
            rel=1e-12)


def test_samples_see_the_errors_that_the_spread_misses():
    """pins.ORT_DEEP_SATURATED: the output's error rests on few events (three bidirectional
    layers, saturating gates), so the samples' largest root mean square reads far above the
    propagated spread, which takes errors as independent; ONNX Runtime, at 0.74 of the
    allowance read from one sample and the spread, sits inside the samples' range."""
    recipe = pins.ORT_DEEP_SATURATED
    truth = tensors(unpack(run_truth(recipe)))
    drawn = gauge.sample_rms(recipe, truth, gauge.model_samples(recipe))
    case = recipe.build(dtype=torch.float64, device="cpu")
    spread = gauge.model_spread(recipe)(case)[0].square().mean().sqrt().item()
    assert drawn[0] > 1.5 * spread


def test_samples_carry_their_spread_into_the_whole_tensor_gauge():
    """In float32 the samples round arithmetic at half an ulp and carry their spread
    (gauge.Draws): the whole-tensor gauge reads the largest of the samples' and the spread's
    root mean squares, and no longer the full-ulp model's; a wrapper around the samples
    function keeps that (the spread travels with the samples, not with the function)."""
    from conformance.core import rounding_numpy, variance
    recipe = SMALL
    assert gauge.arithmetic_ulps(recipe) == 0.5
    case = recipe.build(dtype=torch.float64, device="cpu")
    truth = tensors(unpack(run_truth(recipe)))
    e = eps(torch.float32)
    seed = [*gauge.perturbation_seed(recipe), gauge.MODEL_SAMPLES]
    with torch.no_grad():
        drawn = rounding_numpy.results(case, e, seed, samples=gauge.MODEL_SAMPLES,
                                       arithmetic=0.5)
        spread = variance.rms_error(case, e, arithmetic=0.5)
    rms = lambda t: t.square().mean().sqrt().item()  # noqa: E731
    want = [max(max(rms(d[k] - t) for d in drawn), rms(spread[k]))
            for k, t in enumerate(truth)]
    samples = gauge.model_samples(recipe)
    for function in (samples, lambda c: samples(c)):
        got, carried = gauge.sampled_rms(recipe, truth, function, case)
        assert carried and got == pytest.approx(want, rel=1e-12)
    # Exact samples and a known spread: the spread alone sets the gauge.
    exact = gauge.Draws([truth])
    exact.spread = tuple(torch.full_like(t, 1e-7) for t in truth)
    got, carried = gauge.sampled_rms(recipe, truth, lambda c: exact, case)
    assert carried and got == pytest.approx([1e-7] * 3, rel=1e-12)
    assert gauge.sampled_rms(recipe, truth, lambda c: [truth], case) == ([0.0] * 3, False)
    half = dataclasses.replace(recipe.spec, dtype=torch.float16)
    assert gauge.arithmetic_ulps(recipe.replace(spec=half)) == 1.0
