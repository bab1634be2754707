"""Meta-tests of `conformance.checks.gradients`: the tolerance model, the messages, the bug catalog."""

import pytest
import torch

import conformance
from conformance import CaseRecipe, LSTMSpec
from conformance.model import pins
from conformance.checks import gradients as G
from conformance.core.failures import ConformanceFailure
from conformance.core.registry import load
from conformance.core.tolerance import (GRADIENT_MULTIPLE, GRADIENT_RMS_MULTIPLE, RMS_MULTIPLE,
                                        VALUE_ULPS, eps, tolerance_for)
from tests.catalog import bugs_gradients

# The measurement: float32 gradients at N=32, T=100, H=128.
LARGE_FLOAT32 = CaseRecipe(LSTMSpec(16, 128, dtype=torch.float32), seq_len=100, batch=32,
                           hx="random", seed=5)

# Every gradient path: layers, both directions, projection, packed unsorted, hx.
ALL_PATHS = CaseRecipe(
    LSTMSpec(3, 5, num_layers=2, bidirectional=True, proj_size=2, dtype=torch.float64),
    seq_len=4, batch=3, lengths=(2, 4, 1), hx="random", seed=21)


def runs(recipe):
    """(reference, truth, reference errors) of `recipe`, as check_gradients computes them."""
    case = recipe.build()
    reference = G.run_reference_gradients(case, lambda s: G.output_weights(recipe, s))
    truth = G.run_reference_gradients(recipe.build(dtype=torch.float64, device="cpu"),
                                      reference.weights)
    return reference, truth, G.reference_gradient_errors(recipe, reference, truth,
                                                          reference.weights)


# -- the tolerance model ---------------------------------------------------------------------

@pytest.fixture(scope="module")
def large_float32():
    return runs(LARGE_FLOAT32)


def test_large_float32_reference_error_defeats_fixed_thresholds(large_float32):
    """nn.LSTM's own float32 gradient errors span orders of magnitude across the tensors of
    one example (they follow each gradient's size): any fixed absolute threshold loose enough
    for the largest is far too loose for the smallest. The derived tolerance follows each."""
    reference, truth, errors = large_float32
    assert max(errors.values()) > 1e-5  # e.g. bias gradients, entries ~100: above atol=1e-5
    assert max(errors.values()) > 30 * min(errors.values())  # h0, c0, input: ~1e-6
    for label, error in errors.items():
        scale = truth.grads[label].abs().max().item()
        assert 1e-8 * scale < error < 1e-5 * scale, label  # relative to magnitude: steady


def test_large_float32_candidate_passes_and_bug_is_caught():
    """At the issue's size a correct float32 candidate passes, a c-detached one does not."""
    G.check_gradients("fused-torch", LARGE_FLOAT32)
    bug = load(bugs_gradients.build_grad_c_detached)
    with pytest.raises(ConformanceFailure, match="d/d "):
        G.check_gradients(bug, LARGE_FLOAT32)


def test_allowed_follows_the_gradient_magnitude(large_float32):
    """Scaling a gradient scales what is allowed; only the relative error decides."""
    reference, truth, errors = large_float32
    label = "weight_hh_l0"
    true = truth.grads[label]
    for factor in (1e-3, 1.0, 1e3):
        tol = G.gradient_tolerance(torch.float32, 100, errors[label] * factor, true * factor)
        allowed = tol.allowed(true * factor)
        assert torch.allclose(allowed, G.gradient_tolerance(
            torch.float32, 100, errors[label], true).allowed(true) * factor)


def test_allowed_formula():
    true = torch.tensor([0.0, -2.0, 1.0], dtype=torch.float64)
    tol = G.gradient_tolerance(torch.float32, None, 1e-5, true, sensitivity=2e-6,
                               rounding_error=3e-5)
    expected = GRADIENT_MULTIPLE * 3e-5 + VALUE_ULPS * eps(torch.float32) * true.abs()
    assert torch.allclose(tol.allowed(true), expected)


def test_whole_tensor_formula_has_no_entries_margin():
    """The gradient check's root-mean-square allowance is GRADIENT_RMS_MULTIPLE times the
    gauge, the largest sample's, without the forward check's (1 + 3 / sqrt(n))."""
    true = torch.linspace(-1.0, 1.0, 100, dtype=torch.float64)
    tol = G.gradient_tolerance(torch.float32, None, 1e-5, true, rms_gauge=2e-6)
    rms_truth = true.square().mean().sqrt().item()
    floor = VALUE_ULPS * eps(torch.float32) * rms_truth
    assert tol.rms_allowed(true) == pytest.approx(GRADIENT_RMS_MULTIPLE * 2e-6 + floor,
                                                  rel=1e-12)
    forward = tolerance_for(torch.float32, None, 1e-5, truth=true, rms_gauge=2e-6)
    assert forward.rms_allowed(true) == pytest.approx(RMS_MULTIPLE * 1.3 * 2e-6 + floor,
                                                      rel=1e-12)


def test_whole_tensor_gauge_is_the_largest_sample():
    """The model's whole-tensor gauge is its largest sample's root mean square, not the
    pooled one: a gradient's error rests on few events, so one draw (a candidate's) can sit
    far above the pool. Here one sample is off by 1e-6 everywhere, two are exact."""
    recipe = CaseRecipe(LSTMSpec(2, 3, dtype=torch.float32), seq_len=2, batch=1, seed=5)
    true = torch.ones(4, 3, dtype=torch.float64)
    truth = G.GradientRun(None, {"w": true}, [])
    models = [G.GradientRun(None, {"w": true + shift}, []) for shift in (0.0, 1e-6, 0.0)]
    _, rms = G.gradient_rounding_errors(recipe, truth, *models, with_rms=True)["w"]
    assert rms == pytest.approx(1e-6, rel=1e-9)  # pooled would read 1e-6 / sqrt(3)


def problems_with(recipe, change):
    """gradient_problems_of for a 'candidate' whose gradients are the truth, changed;
    `change(actual, tolerances)` sees the tolerances check_gradients would use."""
    reference, truth, errors = runs(recipe)
    sensitivities = G.gradient_sensitivities(recipe, truth, reference.weights)
    tols = G.gradient_tolerances(recipe, truth.grads, errors, sensitivities)
    actual = {k: None if v is None else v.clone() for k, v in truth.grads.items()}
    change(actual, tols)
    return G.gradient_problems_of(recipe, actual, reference.grads, truth.grads, errors,
                                  sensitivities)


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_errors_just_inside_pass_and_just_outside_fail(dtype):
    recipe = ALL_PATHS.replace(spec=ALL_PATHS.spec.replace(dtype=dtype))

    def nudge(fraction):
        def change(actual, tols):
            g = actual["weight_hh_l1_reverse"]
            tol = tols["weight_hh_l1_reverse"]
            assert tol.sensitivity > 0
            g[0, 0] += fraction * tol.allowed(g)[0, 0]
        return change

    assert problems_with(recipe, nudge(0.5)) == []
    [problem] = problems_with(recipe, nudge(2.0))
    assert str(problem).startswith("d/d weight_hh_l1_reverse differs from nn.LSTM at index (0, 0)")
    assert "1 of 40 elements out of tolerance" in str(problem)


def test_float64_tolerance_is_float32_conditioning_scaled():
    """float64: nn.LSTM is the truth, so its error is measured in float32 and scaled."""
    reference, truth, errors = runs(ALL_PATHS)
    assert reference is not truth and torch.equal(reference.grads["h0"], truth.grads["h0"])
    coarse = G.run_reference_gradients(ALL_PATHS.build(dtype=torch.float32), reference.weights)
    ratio = eps(torch.float64) / eps(torch.float32)
    for label, error in errors.items():
        measured = (coarse.grads[label].double() - truth.grads[label]).abs().max().item()
        assert error == pytest.approx(measured * ratio)
    assert 0 < max(errors.values()) < 1e-12


def test_nan_gradient_fails():
    def change(actual, tols):
        actual["h0"][0, 0, 0] = float("nan")
    [problem] = problems_with(ALL_PATHS, change)
    assert str(problem).startswith("d/d h0 differs")


# -- missing gradients -----------------------------------------------------------------------

def test_missing_parameter_gradient_names_the_tensor():
    def change(actual, tols):
        actual["weight_hr_l0"] = None
    [problem] = problems_with(ALL_PATHS, change)
    assert str(problem).startswith("params['weight_hr_l0'] got no gradient: the candidate does not "
                              "use the given tensors in its graph")


def test_missing_input_gradient():
    def change(actual, tols):
        actual["input.data"] = None
    [problem] = problems_with(ALL_PATHS, change)
    assert str(problem).startswith("input.data got no gradient")


def test_no_gradient_at_all_is_one_line():
    def change(actual, tols):
        for k in actual:
            actual[k] = None
    assert problems_with(ALL_PATHS, change) == [G.NOT_DIFFERENTIABLE]


def test_missing_zero_gradient_is_a_zero_gradient():
    """An empty batch: every gradient is zero, and None means zero."""
    recipe = CaseRecipe(LSTMSpec(3, 4, num_layers=2, dtype=torch.float64), seq_len=2, batch=0,
                        hx="random")

    def change(actual, tols):
        actual["bias_ih_l1"] = None
    assert problems_with(recipe, change) == []


# -- the weighted sum ------------------------------------------------------------------------

def test_output_weights_are_fixed_by_the_recipe_and_rounded_to_its_dtype():
    shapes = [(4, 3, 5), (2, 3, 5), (2, 3, 5)]
    a = G.output_weights(ALL_PATHS, shapes)
    b = G.output_weights(ALL_PATHS, shapes)
    c = G.output_weights(ALL_PATHS.replace(seed=22), shapes)
    assert all(torch.equal(x, y) for x, y in zip(a, b))
    assert not torch.equal(a[0], c[0])
    low = G.output_weights(ALL_PATHS.replace(spec=ALL_PATHS.spec.replace(
        dtype=torch.bfloat16)), shapes)
    assert all(torch.equal(w, w.to(torch.bfloat16).to(torch.float64)) for w in low)


# -- the checks on candidates ----------------------------------------------------------------

def test_failure_message_reproduces_with_check_gradients():
    bug = load(bugs_gradients.build_grad_h0_detached)
    with pytest.raises(ConformanceFailure) as failure:
        conformance.check_gradients(bug, ALL_PATHS)
    message = str(failure.value)
    assert "  - h0 got no gradient" in message
    snippet = message.split("reproduce with:\n", 1)[1]
    code = "\n".join(line.strip() for line in snippet.splitlines())
    assert "check_gradients('tests.catalog.bugs_gradients:build_grad_h0_detached'" in code
    with pytest.raises(ConformanceFailure, match="h0 got no gradient"):
        exec(code, {})


def test_gradcheck_failure_names_inputs_and_outputs():
    bug = load(bugs_gradients.build_grad_h0_detached)
    recipe = CaseRecipe(LSTMSpec(2, 3, dtype=torch.float64), seq_len=2, batch=2, hx="random")
    with pytest.raises(ConformanceFailure) as failure:
        conformance.check_gradcheck(bug, recipe)
    message = str(failure.value)
    assert "torch.autograd.gradcheck: Jacobian mismatch for output 'output' with respect to " \
           "input 'h0'" in message
    assert "check_gradcheck(" in message


@pytest.mark.parametrize("bug", bugs_gradients.CATALOG, ids=lambda b: b.name)
def test_gradient_bug_has_exact_forward_and_wrong_gradients(bug):
    conformance.check(bug.ref, ALL_PATHS)  # the forward families cannot see it
    with pytest.raises(ConformanceFailure, match="does not match torch.nn.LSTM"):
        conformance.check_gradients(bug.ref, ALL_PATHS)


def test_small_projection_gradient_is_gauged_on_its_own_tensor():
    """The nightly false alarm: weight_hr_l1's gradient (3e-3) is a product with a small,
    partly cancelled activation, so a correct float64 candidate is off by 24 ulps of it. The
    rounding model's gradient of that very tensor (its terms, not its cancelled value) covers
    that, without a floor borrowed from the example's largest gradient."""
    recipe = pins.SMALL_PROJECTION_GRADIENT
    reference, truth, errors = runs(recipe)
    model = G.run_model_gradients(recipe, reference.weights)
    rounding = G.gradient_rounding_errors(recipe, truth, model)
    tols = G.gradient_tolerances(recipe, truth.grads, errors, None, rounding)
    largest = max(g.abs().max().item() for g in truth.grads.values() if g is not None)
    small = truth.grads["weight_hr_l1"]
    assert small.abs().max().item() < largest / 50
    assert tols["weight_hr_l1"].allowed(small).max().item() < small.abs().max().item() / 1e6
    G.check_gradients("fused-torch", recipe)


def test_gradient_sensitivity_is_measured_per_tensor():
    reference, truth, errors = runs(ALL_PATHS)
    sensitivities = G.gradient_sensitivities(ALL_PATHS, truth, reference.weights)
    assert set(sensitivities) == set(truth.grads)
    assert all(0 < s < 1e-12 for s in sensitivities.values())  # float64, scaled from float32


@pytest.mark.parametrize("label", ["h0", "c0", "weight_hr_l1_reverse", "bias_hh_l0"])
def test_a_gradient_half_its_value_is_caught_in_float32(label):
    """Every gradient tensor is gauged on its own: halving any of them is caught, however
    small it is next to the example's largest gradient."""
    recipe = ALL_PATHS.replace(spec=ALL_PATHS.spec.replace(dtype=torch.float32))

    def change(actual, tols):
        actual[label] *= 0.5
    [problem] = problems_with(recipe, change)
    assert str(problem).startswith(f"d/d {label} differs")
