"""One differential check: run a candidate and nn.LSTM on one recipe and compare.

`check_forward` raises `ConformanceFailure` (an AssertionError, so Hypothesis shrinks it) with
a message that names the candidate, the spec, the input, every difference found, and a
snippet that reproduces the failure.
"""
from __future__ import annotations

import torch

from conformance.core import gauge
from conformance.core import guard
from conformance.core import registry
from conformance.model.cases import Case, CaseRecipe
from conformance.core.compare import ResultShapeError, structure_problems, tensors, unpack, value_problem, TENSOR_NAMES
from conformance.core.oracle import run_reference, run_truth
from conformance.core.tolerance import Tolerance


class ConformanceFailure(AssertionError):
    """A candidate does not behave like nn.LSTM on one example."""


DEFAULT_TIMEOUT = 60.0  # seconds per build or forward call; --example-timeout changes it


def check_forward(candidate: registry.Candidate, recipe: CaseRecipe,
                  timeout: float | None = DEFAULT_TIMEOUT) -> None:
    """Raise ConformanceFailure unless `candidate` matches nn.LSTM's forward on `recipe`."""
    case = recipe.build()
    expected = unpack(run_reference(case))  # before the candidate runs, in case it mutates its inputs
    truth = unpack(run_truth(recipe))
    actual = run_candidate(candidate, recipe, case, timeout)
    problems = structure_problems(actual, expected)
    if not problems:
        problems = value_problems(recipe, actual, expected, truth)
    if problems:
        raise ConformanceFailure(failure_message(candidate, recipe, problems))


def run_candidate(candidate, recipe: CaseRecipe, case: Case,
                  timeout: float | None = DEFAULT_TIMEOUT) -> tuple:
    """Build and call the candidate; any exception, hang or malformed result becomes a failure.

    Returns (output, h_n, c_n).
    """
    forward = build_candidate(candidate, recipe, case, timeout)
    try:
        with torch.no_grad(), guard.captured_output(candidate.name), \
                guard.time_limit(timeout, "forward(input, hx)"):
            result = case.call(forward)
    except Exception as exc:
        raise ConformanceFailure(failure_message(
            candidate, recipe, [f"forward raised {type(exc).__name__}: {exc}"])) from exc
    try:
        return unpack(result)
    except ResultShapeError as exc:
        raise ConformanceFailure(failure_message(candidate, recipe, [str(exc)])) from None


def build_candidate(candidate, recipe: CaseRecipe, case: Case,
                    timeout: float | None = DEFAULT_TIMEOUT):
    """`candidate.build(spec, params)`, in eval mode when the forward has modes."""
    try:
        with guard.captured_output(candidate.name), guard.time_limit(timeout, "build(spec, params)"):
            forward = candidate.build(case.spec, case.params)
    except Exception as exc:
        raise ConformanceFailure(failure_message(
            candidate, recipe, [f"build(spec, params) raised {type(exc).__name__}: {exc}"])) from exc
    if not callable(forward):
        raise ConformanceFailure(failure_message(
            candidate, recipe, [f"build(spec, params) returned {type(forward).__name__}, "
                                "not a callable forward(input, hx=None)"]))
    if callable(getattr(forward, "eval", None)):
        forward.eval()  # the forward checks are eval-mode semantics (dropout off)
    return forward


def forward_tolerances(recipe: CaseRecipe, expected: tuple, truth: tuple,
                       reference=run_reference, moved: tuple | None = None,
                       model=None) -> list[Tolerance]:
    """Per tensor (output, h_n, c_n), the tolerance a candidate gets on `recipe` (tolerance.py,
    gauge.py): from nn.LSTM's own error in the candidate's dtype, the rounding model's error
    and the example's sensitivity.

    `reference`: how nn.LSTM is run on a case (default eval mode), the same way that produced
    `expected` and `truth`, so that the gauges measure rounding and nothing else; `model`: the
    rounding model run the same way (default `gauge.rounding_reference(recipe)`, eval mode).
    `moved`: its result on `gauge.perturbed_case(recipe)`, if already computed."""
    model = gauge.rounding_reference(recipe) if model is None else model
    return gauge.tolerances(recipe, tensors(truth), tensors(expected),
                            results=lambda case: tensors(unpack(reference(case))),
                            moved=None if moved is None else tensors(moved),
                            rounded=lambda case: tensors(unpack(model(case))))


def value_problems(recipe: CaseRecipe, actual: tuple, expected: tuple, truth: tuple,
                   reference=run_reference, moved: tuple | None = None,
                   model=None) -> list[str]:
    """One line per tensor of `actual` out of tolerance; `reference`, `moved` and `model` as
    in forward_tolerances."""
    problems = []
    tols = forward_tolerances(recipe, expected, truth, reference, moved, model)
    for name, got, want, true, tol in zip(TENSOR_NAMES, tensors(actual), tensors(expected),
                                          tensors(truth), tols):
        problem = value_problem(name, got, want, true, tol)
        if problem:
            problems.append(problem)
    return problems


def failure_message(candidate, recipe: CaseRecipe, problems: list[str],
                    checker: str = "check", checker_args: str = "") -> str:
    """The one failure format of every family: what differed, the case, how to reproduce.

    `checker` is the public function of `conformance` that re-runs this family's check,
    called as `checker(candidate, recipe<checker_args>)`.
    """
    features = ", ".join(sorted(recipe.features()))
    lines = [f"candidate {candidate.name!r} does not match torch.nn.LSTM:"]
    lines += [f"  - {p}" for p in problems]
    lines += [
        f"  spec:     {recipe.spec!r}",
        f"  input:    {recipe.describe()}",
        f"  features: {features}",
        "  reproduce with:",
        *("      " + line for line in reproduction(candidate, recipe, checker, checker_args).splitlines()),
    ]
    return "\n".join(lines)


def reproduction(candidate, recipe: CaseRecipe, checker: str = "check",
                 checker_args: str = "") -> str:
    """Python that rebuilds this example and re-runs the check (raises with the diff)."""
    return (
        "import torch\n"
        "from conformance import CaseRecipe, LSTMSpec\n"
        f"from {_home_of(checker)} import {checker}\n"
        f"{checker}({loadable_name(candidate)!r}, {recipe!r}{checker_args})"
    )


# Modules that define the families' public checkers, searched in this order.
CHECKER_MODULES = ("conformance", "conformance.checks.gradients", "conformance.checks.capabilities",
                   "conformance.checks.metamorphic", "conformance.checks.dropout", "conformance.checks.invalid",
                   "conformance.checks.known_answers")


def _home_of(checker: str) -> str:
    """The module a reproduction snippet imports `checker` from."""
    import importlib  # here: the family modules import this one

    for name in CHECKER_MODULES:
        if hasattr(importlib.import_module(name), checker):
            return name
    raise ValueError(f"no conformance module defines {checker!r}")


def loadable_name(candidate) -> str:
    """What `registry.resolve` finds this candidate by: its entry-point name or module:attr."""
    return candidate.name if candidate.name in registry.discover() else candidate.origin


def load(candidate) -> registry.Candidate:
    """A Candidate from a Candidate, a registered name, or 'module:attr'."""
    if isinstance(candidate, registry.Candidate):
        return candidate
    [loaded] = registry.resolve([candidate])
    if isinstance(loaded, registry.BrokenCandidate):
        raise registry.CandidateLoadError(loaded.error)
    return loaded


def check(candidate, recipe: CaseRecipe) -> None:
    """Re-run the forward check on one recipe; `candidate` as for `load`."""
    check_forward(load(candidate), recipe)
