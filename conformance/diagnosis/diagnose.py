"""Diagnosis of one failing example: where the candidate first leaves nn.LSTM, and why.

`diagnose(candidate, recipe)` runs the candidate on the (shrunk) example and compares what
it returns with a float64 step-by-step reference (`stepwise`):

- *where*: the first divergence, localized to tensor, layer, direction, time step and batch
  element (`localize`).
- *why*: every single known mistake in `stepwise.HYPOTHESES` (two gates swapped, a bias
  dropped, no tanh on c, ...) is run on the reference side; those whose results equal the
  candidate's, within the check's tolerance, are reported. When several match the shrunk
  example, a wider example of the same features tells them apart.
- *what it needs*: each feature of the example turned off in turn (`probe`); those whose
  removal makes it pass.

The result is a `Diagnosis`: plain values (it travels through pytest-xdist) and `text()`.
"""
from __future__ import annotations

import importlib
import time
from dataclasses import dataclass, field

from conformance.model.cases import CaseRecipe
from conformance.model.features import phrase
from conformance.diagnosis.localize import (Divergence, Observed, OutOfTime, check_time, first_divergence, observe,
                       out_of_tolerance)
from conformance.checks.forward import check_forward
from conformance.core import sandbox
from conformance.core.invoke import Limits
from conformance.core.failures import ConformanceFailure
from conformance.diagnosis.probe import Unknown, fails, needed_features
from conformance.diagnosis.stepwise import HYPOTHESES, REFERENCE, Inputs, trace
from conformance.core.tolerance import Tolerance


@dataclass
class Diagnosis:
    recipe: str  # repr of the shrunk example
    features: list
    outcome: str  # "diverges", "matches", "structure", "raised", "skipped"
    detail: str = ""  # structure problems, the exception, or why it was skipped
    divergence: Divergence | None = None
    explained_by: list = field(default_factory=list)  # names of matching hypotheses
    confirmed_on: str | None = None  # the wider example that told hypotheses apart
    needs: list | None = None  # features whose removal makes the example pass (probe.py)
    probed: list = field(default_factory=list)  # features turned off to find `needs`
    probe_check: str = "check"  # the check whose needs were measured

    def text(self) -> str:
        lines = [f"shrunk example: {self.recipe}", f"  features: {', '.join(self.features)}"]
        if self.outcome == "diverges":
            lines.append("first divergence: " + self.divergence.text())
            lines.append("explanation: " + explanation(self.explained_by))
            if self.confirmed_on:
                lines.append(f"  (told apart on a wider example: {self.confirmed_on})")
        elif self.outcome == "matches":
            lines.append("forward output, h_n and c_n match nn.LSTM on this example: the "
                         "failure is specific to this test's check (see its message)")
        else:
            lines.append(f"no localization ({self.outcome}): {self.detail}")
        if self.needs:
            lines.append(f"needs: {phrase(self.needs)} (it still fails with every other "
                         f"feature turned off, and passes with "
                         f"{'that' if len(self.needs) == 1 else 'any one of these'} "
                         "turned off too)")
        elif self.needs is not None and self.probed:
            lines.append(f"needs: no particular feature (it still fails with "
                         f"{phrase(self.probed)} all turned off)")
        elif self.needs is not None:
            lines.append("needs: nothing beyond a plain example")
        return "\n".join(lines)


def explanation(names: list[str]) -> str:
    if not names:
        return "no single known mistake reproduces the candidate's results"
    if len(names) == 1:
        return f"the candidate's results equal nn.LSTM's with one change: {names[0]}"
    return ("the candidate's results equal nn.LSTM's with any one of these changes: "
            + "; ".join(names))


# -- explanation ---------------------------------------------------------------------------

def matching_hypotheses(observed: Observed, inputs: Inputs, tols: list[Tolerance],
                        deadline: float, candidates=HYPOTHESES) -> list[str]:
    """Names of the single mistakes whose float64 results equal the candidate's."""
    L = inputs.spec.num_layers
    names = []
    for variant in candidates:
        check_time(deadline)
        ref = trace(variant, inputs)
        if ref is None:
            continue
        pairs = [(observed.layer_outputs.get(L - 1), ref.layer_outputs[-1], tols[0]),
                 (observed.h_n, ref.h_n, tols[1]), (observed.c_n, ref.c_n, tols[2])]
        if all(got is not None and got.shape == want.shape
               and not bool(out_of_tolerance(got, want, tol).any())
               for got, want, tol in pairs):
            names.append(variant.name)
    return names


def wider(recipe: CaseRecipe) -> CaseRecipe:
    """The same features on more sizes and steps, so that hypotheses that coincide on a
    minimal example (hidden_size 1, one step) differ."""
    spec = recipe.spec
    hidden = max(spec.hidden_size, 4)
    proj = min(max(spec.proj_size, 2), hidden - 1) if spec.proj_size else 0
    spec = spec.replace(hidden_size=hidden, input_size=max(spec.input_size, 3), proj_size=proj)
    changes = {"spec": spec, "gate_scales": (1.0, 1.5, 0.7, 1.2), "seed": recipe.seed + 1}
    if not recipe.packed:
        changes["seq_len"] = max(recipe.seq_len, 3)
        if recipe.batch is not None:
            changes["batch"] = max(recipe.batch, 2)
    return recipe.replace(**changes)


# -- the whole diagnosis ---------------------------------------------------------------------

def diagnose(candidate, recipe: CaseRecipe, budget: float = 30.0, failure=None) -> Diagnosis:
    """Localize and explain `candidate`'s divergence on `recipe` within `budget` seconds.

    `failure`: the Failure being diagnosed, whose check measures the needs when the forward
    check passes on the example (see probe.py)."""
    previous = Limits.timeout  # a call that hangs cannot outlast the budget
    Limits.timeout = min(previous or budget, budget) or None
    try:
        return _diagnose(candidate, recipe, budget, failure)
    finally:
        Limits.timeout = previous


def _diagnose(candidate, recipe: CaseRecipe, budget: float, failure) -> Diagnosis:
    deadline = time.monotonic() + budget
    diagnosis = Diagnosis(repr(recipe), sorted(recipe.features()), "skipped")
    try:
        seen = sandbox.call(observe, candidate, recipe, deadline)
        if isinstance(seen[0], str):
            diagnosis.outcome, diagnosis.detail = seen
        else:
            observed, inputs, tols = seen
            divergence = first_divergence(observed, trace(REFERENCE, inputs), inputs, tols)
            if divergence is None:
                diagnosis.outcome = "matches"
            else:
                diagnosis.outcome, diagnosis.divergence = "diverges", divergence
                names = matching_hypotheses(observed, inputs, tols, deadline)
                diagnosis.explained_by = names
                if len(names) > 1:
                    diagnosis.explained_by, diagnosis.confirmed_on = _tell_apart(
                        candidate, recipe, names, deadline)
        check, kwargs = _probing_check(candidate, recipe, failure, diagnosis, deadline)
        diagnosis.probe_check = check.__name__
        diagnosis.needs, diagnosis.probed = needed_features(candidate, recipe, deadline,
                                                            check, kwargs)
    except (OutOfTime, Unknown):
        diagnosis.detail = f"diagnosis stopped after {budget:g} s"
        if diagnosis.outcome == "skipped":
            diagnosis.outcome = "timeout"
    except ConformanceFailure as lost:  # the candidate's process was lost while observed
        diagnosis.outcome = "raised"
        diagnosis.detail = "; ".join(p.render() for p in lost.failure.problems)
        check, kwargs = _probing_check(candidate, recipe, failure, diagnosis, deadline)
        diagnosis.probe_check = check.__name__
        diagnosis.needs, diagnosis.probed = needed_features(candidate, recipe, deadline,
                                                            check, kwargs)
    return diagnosis


def _probing_check(candidate, recipe, failure, diagnosis, deadline):
    """The check whose needs are measured: the forward check when it fails on the example
    (then the defect is in the forward computation, whichever family found it), else the
    failing family's own (when it takes the recipe as its argument)."""
    if failure is None or failure.checker == check_forward.__name__ or \
            failure.arguments not in (None, (recipe,)):
        return check_forward, {}
    if diagnosis.outcome in ("diverges", "structure", "raised") or \
            fails(candidate, recipe, deadline):
        return check_forward, {}
    module = importlib.import_module(failure.checker_module)
    return getattr(module, failure.checker), dict(failure.checker_args)


def _tell_apart(candidate, recipe, names, deadline) -> tuple[list, str | None]:
    """Keep the hypotheses that also explain a wider example (if the candidate fails it)."""
    wide = wider(recipe)
    seen = sandbox.call(observe, candidate, wide, deadline)
    if isinstance(seen[0], str):
        return names, None
    observed, inputs, tols = seen
    if first_divergence(observed, trace(REFERENCE, inputs), inputs, tols) is None:
        return names, None
    kept = matching_hypotheses(observed, inputs, tols, deadline,
                               [v for v in HYPOTHESES if v.name in names])
    return (kept, repr(wide)) if kept else (names, None)
