"""The one place where conformance.bench imports the suite's internals (not public API).

Everything else in this subpackage imports `conformance` (public names) or this module, so
that a reorganisation of the suite's modules touches only these lines.
"""
from conformance.checks.forward import check_forward  # noqa: F401
from conformance.core.failures import ConformanceFailure, Failure
from conformance.core.oracle import reference_module  # noqa: F401
from conformance.core.registry import (BrokenCandidate, Candidate, CandidateLoadError,  # noqa: F401
                                       loadable_name, resolve)
from conformance.core.tolerance import max_abs_diff, recurrence_depth  # noqa: F401

__all__ = ["check_forward", "reference_module", "Candidate", "CandidateLoadError", "loadable_name",
           "resolve", "max_abs_diff", "recurrence_depth", "is_broken", "failure",
           "run_candidates"]


def is_broken(candidate) -> bool:
    return isinstance(candidate, BrokenCandidate)


def failure(candidate, recipe, problems) -> ConformanceFailure:
    """A failure of the pre-timing check, in the suite's format (re-run with `check`)."""
    return ConformanceFailure(Failure(candidate.name, loadable_name(candidate), recipe, "check",
                                      "conformance.checks.forward", {}, list(problems)))


def run_candidates(config) -> list:
    """The candidates of this pytest run: as the conformance suite's session resolved them
    when it runs too, else from --conformance-impl (default: every registered one)."""
    from conformance.plugin.session import RUN_KEY

    run = config.stash.get(RUN_KEY, None)
    if run is not None:
        return run.candidates
    return resolve(config.getoption("conformance_impl"))
