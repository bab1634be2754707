"""Gradients: does the candidate's backward pass compute what nn.LSTM's computes?

`check_gradients(candidate, recipe)` backpropagates a random weighted sum of (output, h_n, c_n)
(fixed weights drawn from the recipe's seed) through the candidate, through nn.LSTM in the same
dtype, and through nn.LSTM in float64 (the truth), and compares the gradients with respect to
the input (a PackedSequence's `.data`), h0, c0 and every parameter.

Each run gets its own fresh leaf copies of the recipe's tensors. The candidate must use the
`params` tensors it is given in its graph (views are fine): a parameter that gets no gradient
while nn.LSTM's gets a nonzero one is a failure.

Tolerance, per gradient tensor, with the model of `conformance.core.tolerance`:

    allowed = GRADIENT_MULTIPLE * max(reference error, rounding error, sensitivity)
              + VALUE_ULPS * eps * |truth gradient element|,  at most half the tensor's
              largest |truth gradient| entry

    reference error = max |nn.LSTM's gradient in the dtype - float64 gradient| on this tensor
    rounding error  = max |the rounding model's gradient - float64 gradient| on this tensor
                      (conformance.core.rounding: autograd through nn.LSTM written op by op,
                      every operation one ulp off forward and every back-propagated gradient
                      one ulp off backward, random signs)
    sensitivity     = max movement of the float64 gradient of this tensor when every input,
                      hx and parameter value moves by one ulp

Each gauge is measured on this tensor of this example, so it carries the gradient's own
conditioning: a gradient entry is a sum over time steps and batch elements whose rounding
follows the size of its terms, not of the (possibly cancelled) sum, and the gauges see those
terms. For float64 the gauges are measured at float32 precision and scaled by
eps(float64)/eps(float32), as the forward check does. Each gradient tensor also takes the
forward check's whole-tensor test (Tolerance.rms_allowed): its root-mean-square error within
GRADIENT_RMS_MULTIPLE of the gauges' largest root-mean-square error, as a bound on one draw
(tolerance.draw_gauge; the model's: its largest sample's, GRADIENT_SAMPLES). Both tests read
samples with arithmetic results half an ulp off in float32 and float64 on the cpu
(gauge.arithmetic_ulps), else a full ulp; the forward values' element-wise test keeps a
full-ulp model. Its backward sums (over every step and batch element for d/dW and the bias,
over the gates for d/dx) carry accumulation error as the forward's products do
(rounding_backward._Product, pins.LONG_GRADIENT_SUM).

`check_gradcheck` (gradcheck.py) checks the candidate's backward against finite differences
of its own forward.
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence

from conformance.model.cases import Case, CaseRecipe
from conformance.checks.forward import value_problems
from conformance.core.invoke import Invocation, checker
from conformance.core.compare import structure_problems, tensors, unpack, value_problem
from conformance.core.oracle import reference_module
from conformance.core import rounding
from conformance.core.gauge import (arithmetic_ulps, gauge_precision,
                                    perturbation_seed, perturbed_case)
from conformance.core.tolerance import (GRADIENT_MULTIPLE, GRADIENT_RMS_MULTIPLE, Tolerance, eps,
                                        max_abs_diff, max_and_rms_diff, tolerance_for)
from conformance.checks.gradient_samples import (gradient_rounding_errors, maxima,
                                                 gradient_samples, rms_gauges)

def __getattr__(name: str):
    """check_gradcheck lives in gradcheck.py; reproduction snippets printed before the move
    import it from here (gradcheck imports this module, so not at the top)."""
    if name == "check_gradcheck":
        from conformance.checks.gradcheck import check_gradcheck
        return check_gradcheck
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")


WEIGHT_SEED = 0x67726164  # mixed into the recipe seed for the weights of the weighted sum


GradientTolerance = Tolerance  # allowed |candidate gradient - float64 gradient|, one tensor


def gradient_tolerance(dtype: torch.dtype, depth: int | None, reference_error: float,
                       truth: torch.Tensor | None = None, sensitivity: float = 0.0,
                       scale: float | None = None, rounding_error: float = 0.0,
                       rms_gauge: float = math.inf) -> Tolerance:
    """The tolerance of one gradient tensor from its gauges, capped at half its largest
    |truth| entry unless the gauges reach that (`depth` and `scale` are accepted for old
    callers and unused).

    A gradient in a low-precision dtype can be past the dtype's resolution: a sum over steps
    and batch whose terms are much larger than the sum. Where GRADIENT_MULTIPLE times the
    gauges reach the cap, a correct candidate's error does too
    (pins.BFLOAT16_UNRESOLVED_GRADIENT: fused-torch in bfloat16 is 75% off on the largest
    entry of a gradient, where the model's gauge is 4x that entry), so the cap is dropped
    there and only the gauges bound the error. rms_gauge: the whole-tensor gauge (rms_gauges,
    tolerance.draw_gauge; inf: no whole-tensor test)."""
    return tolerance_for(dtype, None, reference_error, sensitivity, rounding_error, truth,
                         uncap_unresolved=True, multiple=GRADIENT_MULTIPLE, rms_gauge=rms_gauge,
                         rms_multiple=GRADIENT_RMS_MULTIPLE, rms_entries_margin=False)


# -- leaves and backward -------------------------------------------------------------------

@dataclass
class GradientRun:
    """One forward + backward: the (detached) result and the gradient of every leaf.

    grads maps a label ("input" or "input.data", "h0", "c0", then parameter names in
    state_dict order) to the leaf's .grad, None where none arrived.
    """

    result: tuple  # (output, h_n, c_n), output possibly a PackedSequence
    grads: dict[str, torch.Tensor | None]
    weights: list  # of the weighted sum that was backpropagated


def _leaf(tensor: torch.Tensor) -> torch.Tensor:
    return tensor.detach().clone().requires_grad_(True)


def with_leaves(case: Case, params: dict[str, torch.Tensor] | None = None):
    """(case with fresh leaf tensors that require grad, {label: leaf}).

    `params`: use these (already leaves, e.g. an nn.LSTM's parameters) instead of copies.
    """
    leaves: dict[str, torch.Tensor] = {}
    if isinstance(case.input, PackedSequence):
        data = leaves["input.data"] = _leaf(case.input.data)
        lstm_input = PackedSequence(data, case.input.batch_sizes, case.input.sorted_indices,
                                    case.input.unsorted_indices)
    else:
        lstm_input = leaves["input"] = _leaf(case.input)
    hx = case.hx
    if hx is not None:
        leaves["h0"], leaves["c0"] = _leaf(hx[0]), _leaf(hx[1])
        hx = type(hx)((leaves["h0"], leaves["c0"]))
    if params is None:
        params = {name: _leaf(p) for name, p in case.params.items()}
    leaves.update((name, params[name]) for name in case.params)
    leafed = Case(spec=case.spec, params=params, input=lstm_input, hx=hx, pass_hx=case.pass_hx)
    return leafed, leaves


def output_weights(recipe: CaseRecipe, shapes) -> list[torch.Tensor]:
    """The fixed weights of the weighted sum of (output, h_n, c_n): float64 values drawn from
    the recipe's seed, rounded to the recipe's dtype (so that every run uses the same numbers)."""
    rng = np.random.default_rng([recipe.seed, WEIGHT_SEED])
    return [torch.from_numpy(rng.standard_normal(tuple(shape))).to(recipe.spec.dtype)
            .to(torch.float64) for shape in shapes]


def backward(result: tuple, weights) -> None:
    """d(sum_k <weights[k], result[k]>): grad_tensors instead of a summed scalar, so no
    rounding of the sum itself. Results that do not require grad contribute nothing."""
    outs, grads = [], []
    for tensor, weight in zip(tensors(result), weights):
        if isinstance(tensor, torch.Tensor) and tensor.requires_grad:
            outs.append(tensor)
            grads.append(weight.to(dtype=tensor.dtype, device=tensor.device))
    if outs:
        torch.autograd.backward(outs, grads)


def run_reference_gradients(case: Case, weights) -> GradientRun:
    """nn.LSTM's forward and backward on `case`, gradients on its own (copied) parameters.

    weights: a list, or a function of the shapes of (output, h_n, c_n) that returns one."""
    lstm = reference_module(case.spec, case.params)
    leafed, leaves = with_leaves(case, dict(lstm.named_parameters()))
    with torch.enable_grad():
        result = unpack(leafed.call(lstm))
        if callable(weights):
            weights = weights([t.shape for t in tensors(result)])
        backward(result, weights)
    return GradientRun(_detached(result), {k: v.grad for k, v in leaves.items()}, weights)


def _detached(result: tuple) -> tuple:
    out, h_n, c_n = result
    if isinstance(out, PackedSequence):
        out = out._replace(data=out.data.detach())
    else:
        out = out.detach() if isinstance(out, torch.Tensor) else out
    return tuple(t.detach() if isinstance(t, torch.Tensor) else t for t in (out, h_n, c_n))


def run_candidate(invocation: Invocation, case: Case):
    """Build and run the candidate with grad enabled on fresh leaves: (result, leaves)."""
    leafed, leaves = with_leaves(case)
    forward = invocation.build(leafed.spec, leafed.params)
    result = invocation.run_case(forward, leafed, "forward (with grad enabled)", grad=True)
    return result, leaves


# -- the check ------------------------------------------------------------------------------

NOT_DIFFERENTIABLE = (
    "no gradient reached the input, hx or any parameter: the candidate's outputs do not "
    "require grad (declare 'backward' unsupported if it has no backward pass)")


def _missing_problem(label: str) -> str:
    if label in ("input", "input.data", "h0", "c0"):
        return (f"{label} got no gradient: the output does not depend on it in the candidate's "
                "autograd graph (detached, or copied before use)")
    return (f"params[{label!r}] got no gradient: the candidate does not use the given tensors "
            "in its graph (use them or views of them, not copies)")


def gradient_tolerances(recipe: CaseRecipe, truth: dict, reference_errors: dict,
                        sensitivities: dict | None = None, rounding_errors: dict | None = None,
                        rms_gauges: dict | None = None) -> dict[str, Tolerance]:
    """Per gradient label with a truth, its tolerance (see the module docstring)."""
    sensitivities = sensitivities or {}
    rounding_errors = rounding_errors or {}
    rms_gauges = rms_gauges or {}
    return {label: gradient_tolerance(recipe.spec.dtype, None, reference_errors[label],
                                      true.to("cpu", torch.float64),
                                      sensitivities.get(label, 0.0),
                                      rounding_error=rounding_errors.get(label, 0.0),
                                      rms_gauge=rms_gauges.get(label, math.inf))
            for label, true in truth.items() if true is not None}


def gradient_problems_of(recipe: CaseRecipe, actual: dict, reference: dict, truth: dict,
                         reference_errors: dict, sensitivities: dict | None = None,
                         rounding_errors: dict | None = None,
                         rms_gauges: dict | None = None) -> list[str]:
    """One line per gradient out of tolerance (or missing). All dicts keyed by leaf label."""
    tols = gradient_tolerances(recipe, truth, reference_errors, sensitivities, rounding_errors,
                               rms_gauges)
    missing = [label for label in truth
               if actual.get(label) is None and truth[label] is not None
               and bool(truth[label].ne(0).any())]
    if missing and all(actual.get(label) is None for label in truth):
        return [NOT_DIFFERENTIABLE]
    problems = [_missing_problem(label) for label in missing]
    for label, true in truth.items():
        got = actual.get(label)
        if true is None or got is None:
            continue  # a missing zero gradient is a zero gradient
        true64 = true.to("cpu", torch.float64)
        problem = value_problem(f"d/d {label}", got, reference[label], true64, tols[label])
        if problem:
            problems.append(problem)
    return problems


def _errors(got: dict, truth: dict, scale: float, with_rms: bool) -> dict:
    """Per label: max |got - truth| * scale (0 where either is None), or (that, the root mean
    square * scale)."""
    errors = {}
    for label, true in truth.items():
        if true is None or got.get(label) is None:
            errors[label] = (0.0, 0.0) if with_rms else 0.0
        elif with_rms:
            errors[label] = max_and_rms_diff(got[label], true, scale)
        else:
            errors[label] = max_abs_diff(got[label], true) * scale
    return errors


def reference_gradient_errors(recipe: CaseRecipe, reference: GradientRun, truth: GradientRun,
                              weights, with_rms: bool = False) -> dict:
    """nn.LSTM's own max error per gradient: in the recipe's dtype, or (float64) measured in
    float32 and scaled by the eps ratio; with_rms: (max, root mean square)."""
    if recipe.spec.dtype == torch.float64:
        coarse = run_reference_gradients(recipe.build(dtype=torch.float32, device="cpu"), weights)
        scale = eps(torch.float64) / eps(torch.float32)
    else:
        coarse, scale = reference, 1.0
    return _errors(coarse.grads, truth.grads, scale, with_rms)


def gradient_sensitivities(recipe: CaseRecipe, truth: GradientRun, weights,
                           moved: GradientRun | None = None, with_rms: bool = False) -> dict:
    """Per gradient: how far the float64 gradient moves when every parameter, input and hx value
    moves by one ulp of the recipe's dtype (float64: of float32, scaled; see gauge.py).
    `moved`: nn.LSTM's run on `gauge.perturbed_case(recipe)`, if already made. with_rms:
    (max, root mean square)."""
    _, scale = gauge_precision(recipe.spec.dtype)
    if moved is None:
        moved = run_reference_gradients(perturbed_case(recipe), weights)
    return _errors(moved.grads, truth.grads, scale, with_rms)


def run_model_gradients(recipe: CaseRecipe, weights, sample: int = 0) -> GradientRun:
    """The rounding model's forward and backward on the float64 build of `recipe`, at the
    gauge precision (see conformance.core.rounding), seeded from the recipe and `sample`."""
    precision, _ = gauge_precision(recipe.spec.dtype)
    case = recipe.build(dtype=torch.float64, device="cpu")
    leafed, leaves = with_leaves(case)
    seed = perturbation_seed(recipe)
    with torch.enable_grad():
        output, (h_n, c_n) = rounding.run(leafed, eps(precision),
                                          seed if sample == 0 else (*seed, sample),
                                          arithmetic=arithmetic_ulps(recipe))
        result = (output, h_n, c_n)
        backward(result, weights)
    return GradientRun(_detached(result), {k: v.grad for k, v in leaves.items()}, weights)


def gradient_problems(invocation: Invocation, recipe: CaseRecipe) -> list:
    """Every difference found (forward structure and values first, then gradients)."""
    case = recipe.build()
    truth_case = recipe.build(dtype=torch.float64, device="cpu")
    with torch.enable_grad():
        reference = run_reference_gradients(case, lambda shapes: output_weights(recipe, shapes))
        weights = reference.weights
        if recipe.spec.dtype == torch.float64 and torch.device(recipe.spec.device).type == "cpu":
            truth = reference
        else:
            truth = run_reference_gradients(truth_case, weights)
        result, leaves = run_candidate(invocation, case)
        problems = structure_problems(result, reference.result)
        if problems:
            return problems
        invocation.guarded("backward", backward, result, weights)
        errors = reference_gradient_errors(recipe, reference, truth, weights, with_rms=True)
        moved = run_reference_gradients(perturbed_case(recipe), weights)  # one run, both gauges
        sensitivities = gradient_sensitivities(recipe, truth, weights, moved, with_rms=True)
        model = run_model_gradients(recipe, weights)  # one run, both gauges
        others = [run_model_gradients(recipe, weights, k)
                  for k in range(1, gradient_samples(recipe))]
        rounding_errors = gradient_rounding_errors(recipe, truth, model, *others, with_rms=True)
    out, h_n, c_n = model.result
    full = arithmetic_ulps(recipe) == 1.0  # else forward.py runs a full-ulp model
    problems = value_problems(recipe, _detached(result), reference.result, truth.result,
                              moved=moved.result,
                              model=(lambda case: (out, (h_n, c_n))) if full else None)
    actual = {label: leaf.grad for label, leaf in leaves.items()}
    problems += gradient_problems_of(recipe, actual, reference.grads, truth.grads,
                                     maxima(errors), maxima(sensitivities),
                                     maxima(rounding_errors),
                                     rms_gauges(recipe, truth.grads, errors, sensitivities,
                                                rounding_errors))
    return problems


@checker
def check_gradients(candidate, recipe: CaseRecipe) -> None:
    """Raise ConformanceFailure unless the candidate's gradients match nn.LSTM's on `recipe`.

    `candidate`: a Candidate, a registered name, or 'module:attr'.
    """
    invocation = Invocation(candidate, recipe, "check_gradients", __name__)
    invocation.check(gradient_problems(invocation, recipe))
