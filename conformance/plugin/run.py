"""State of one conformance run: the candidates, the devices, and what each test exercised."""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

import pytest
import torch

from conformance.checks.forward import check_forward
from conformance.checks.gradients import check_gradients
from conformance.core.registry import BrokenCandidate, Candidate
from conformance.model.cases import CaseRecipe
from conformance.model.features import restrict
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
                 profile: str = "dev"):
        self.profile = profile
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
        check_forward(candidate, self.prepare(candidate, recipe))

    def check_backward(self, candidate, recipe: CaseRecipe, check=check_gradients,
                       float64_only: bool = False) -> None:
        """`check(candidate, recipe)` of the gradient family, counted under "backward" too."""
        recipe = self.prepare(candidate, recipe)
        if float64_only and recipe.spec.dtype != torch.float64:
            pytest.skip(f"candidate {candidate.name!r} does not support float64 here, which "
                        "gradcheck needs")
        if self.current is not None:
            self.current.counts["backward"] += 1
        check(candidate, recipe)


def is_broken(candidate) -> bool:
    return isinstance(candidate, BrokenCandidate)
