"""The candidate loads, and its declarations are usable."""
import pytest

from conformance.model.features import FEATURES
from conformance.core.registry import BrokenCandidate


@pytest.mark.conformance()
def test_candidate_loads(candidate):
    if isinstance(candidate, BrokenCandidate):
        pytest.fail(candidate.error, pytrace=False)
    assert callable(candidate.build), f"candidate {candidate.name!r}: build is not callable"
    assert candidate.unsupported <= FEATURES.keys()
