"""State of one conformance run: the candidates, the devices, and what each test exercised."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest

from conformance.model.cases import CaseRecipe
from conformance.checks.forward import DEFAULT_TIMEOUT, ConformanceFailure, check_forward
from conformance.core.guard import CandidateTimeout
from conformance.core.registry import BrokenCandidate, Candidate
from conformance.model.restrict import restrict
from conformance.plugin.verdict import Verdicts


@dataclass
class Recording:
    """What one test item did: the examples per feature, and the last example's features."""

    candidate: str
    columns: tuple[str, ...]
    counts: Counter = field(default_factory=Counter)
    last_features: tuple[str, ...] | None = None
    last_recipe: CaseRecipe | None = None  # after a Hypothesis failure: the shrunk example
    combos: set = field(default_factory=set)  # each example's features, for the summary

    def as_property(self) -> dict:
        return {"candidate": self.candidate, "columns": list(self.columns),
                "counts": dict(self.counts), "failing_features": self.last_features,
                "combos": sorted(list(c) for c in self.combos)}


class ConformanceRun:
    def __init__(self, candidates: list, devices: tuple[str, ...], fail_fast: bool = False,
                 profile: str = "dev", example_timeout: float | None = DEFAULT_TIMEOUT):
        self.profile = profile
        self.example_timeout = example_timeout
        self.hung: dict[str, str] = {}  # candidate -> the timeout message
        self.candidates = candidates
        self.devices = devices
        self.fail_fast = fail_fast
        self.failed_candidates: set[str] = set()
        self.verdicts = Verdicts(candidates)
        self.current: Recording | None = None

    def adapt(self, candidate: Candidate, recipe: CaseRecipe) -> CaseRecipe:
        """`recipe` restricted to the candidate's features and this run's devices (or skip).

        Features the candidate expects to fail (xfail) are kept out of every test except the
        tests about that feature, which run them under a strict xfail.
        """
        own = set(self.current.columns) if self.current else set()
        avoided = candidate.unsupported | (set(getattr(candidate, "xfail", {})) - own)
        adapted = restrict(recipe, frozenset(avoided), self.devices)
        if adapted is None:
            pytest.skip(f"candidate {candidate.name!r} supports no layout, dtype or device "
                        f"available in this run (devices: {', '.join(self.devices)})")
        return adapted

    def record(self, recipe: CaseRecipe) -> None:
        if self.current is not None:
            features = recipe.features()
            self.current.counts.update(features)
            self.current.last_features = tuple(sorted(features))
            if recipe.batch != 0:  # an empty batch computes nothing: no evidence either way
                self.current.combos.add(self.current.last_features)
            self.current.last_recipe = recipe

    def prepare(self, candidate: Candidate, recipe: CaseRecipe) -> CaseRecipe:
        """The recipe as this candidate and run allow it, counted for the verdict table.

        Every check of every family starts here.
        """
        recipe = self.adapt(candidate, recipe)
        self.record(recipe)
        return recipe

    def check_forward(self, candidate, recipe: CaseRecipe) -> None:
        """The forward differential check, on the recipe as this candidate and run allow."""
        recipe = self.prepare(candidate, recipe)
        self.guarded(candidate, check_forward, candidate, recipe, timeout=self.example_timeout)

    def guarded(self, candidate, check, *args, **kwargs):
        """Run a check; once a candidate has hung, fail at once instead of hanging again."""
        if candidate.name in self.hung:
            raise ConformanceFailure(
                f"candidate {candidate.name!r} hung earlier in this run and is not called "
                f"again: {self.hung[candidate.name]}")
        try:
            return check(*args, **kwargs)
        except ConformanceFailure as failure:
            if isinstance(failure.__cause__, CandidateTimeout):
                self.hung[candidate.name] = str(failure.__cause__)
            raise


def is_broken(candidate) -> bool:
    return isinstance(candidate, BrokenCandidate)
