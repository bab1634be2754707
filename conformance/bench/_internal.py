"""The one place where conformance.bench imports the suite's internals (not public API).

Everything else in this subpackage imports `conformance` (public names) or this module, so
that a reorganisation of the suite's modules touches only these lines.
"""
from ..check import check_forward, failure_message  # noqa: F401
from ..oracle import reference_module  # noqa: F401
from ..registry import BrokenCandidate, Candidate, CandidateLoadError, resolve  # noqa: F401
from ..run import is_broken  # noqa: F401
from ..tolerance import max_abs_diff, recurrence_depth, tolerance_for  # noqa: F401


def run_candidates(config) -> list:
    """The candidates of this pytest run, as the conformance plugin resolved them (--impl)."""
    from ..plugin import RUN_KEY

    return config.stash[RUN_KEY].candidates
