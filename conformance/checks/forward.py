"""The forward differential check: run a candidate and nn.LSTM on one recipe and compare.

`check` raises `ConformanceFailure` (an AssertionError, so Hypothesis shrinks it) carrying a
`Failure`: the candidate, the example, every difference found, and how to re-run it.
"""
from __future__ import annotations

from conformance.core.compare import TENSOR_NAMES, structure_problems, tensors, unpack, value_problem
from conformance.core import gauge
from conformance.core.invoke import Invocation, checker
from conformance.core.oracle import run_reference, run_truth
from conformance.core.tolerance import Tolerance
from conformance.model.cases import Case, CaseRecipe


@checker
def check(candidate, recipe: CaseRecipe) -> None:
    """Raise ConformanceFailure unless `candidate` matches nn.LSTM's forward on `recipe`.

    `candidate`: a Candidate, a registered name, or 'module:attr'.
    """
    invocation = Invocation(candidate, recipe, "check", __name__)
    case = recipe.build()
    expected = unpack(run_reference(case))  # before the candidate runs, in case it mutates its inputs
    truth = unpack(run_truth(recipe))
    actual = run_candidate(invocation, case)
    invocation.check(structure_problems(actual, expected)
                     or value_problems(recipe, actual, expected, truth))


check_forward = check  # the name the families and the diagnosis use


def run_candidate(invocation: Invocation, case: Case) -> tuple:
    """Build and call the candidate on `case` (eval mode): (output, h_n, c_n)."""
    return invocation.run_case(invocation.build(case=case), case)


def forward_tolerances(recipe: CaseRecipe, expected: tuple, truth: tuple,
                       reference=run_reference, moved: tuple | None = None,
                       model=None, spread=None, samples=None) -> list[Tolerance]:
    """Per tensor (output, h_n, c_n), the tolerance a candidate gets on `recipe` (tolerance.py,
    gauge.py): from nn.LSTM's own error in the candidate's dtype, the rounding model's error
    and the example's sensitivity.

    `reference`: how nn.LSTM is run on a case (default eval mode), the same way that produced
    `expected` and `truth`, so that the gauges measure rounding and nothing else; `model`: the
    rounding model run the same way (default `gauge.rounding_reference(recipe)`, eval mode).
    `moved`: its result on `gauge.perturbed_case(recipe)`, if already computed. `spread`: the
    model's root-mean-square error run the same way (default `gauge.model_spread(recipe)`,
    eval mode). `samples`: the model's samples run the same way (default
    `gauge.model_samples(recipe)`, eval mode)."""
    model = gauge.rounding_reference(recipe) if model is None else model
    spread = gauge.model_spread(recipe) if spread is None else spread
    samples = gauge.model_samples(recipe) if samples is None else samples
    return gauge.tolerances(recipe, tensors(truth), tensors(expected),
                            results=lambda case: tensors(unpack(reference(case))),
                            moved=None if moved is None else tensors(moved),
                            rounded=lambda case: tensors(unpack(model(case))), spread=spread,
                            samples=samples)


def value_problems(recipe: CaseRecipe, actual: tuple, expected: tuple, truth: tuple,
                   reference=run_reference, moved: tuple | None = None,
                   model=None, spread=None, samples=None) -> list:
    """One Problem per tensor of `actual` out of tolerance; `reference`, `moved`, `model`,
    `spread` and `samples` as in forward_tolerances."""
    problems = []
    tols = forward_tolerances(recipe, expected, truth, reference, moved, model, spread, samples)
    for name, got, want, true, tol in zip(TENSOR_NAMES, tensors(actual), tensors(expected),
                                          tensors(truth), tols):
        problem = value_problem(name, got, want, true, tol)
        if problem:
            problems.append(problem)
    return problems
