"""The candidate loads, and its declarations are usable."""
import pytest

from conformance.model.features import FEATURES
from conformance.plugin.run import is_broken


@pytest.mark.conformance()
def test_candidate_loads(candidate):
    if is_broken(candidate):
        pytest.fail(candidate.error, pytrace=False)
    assert callable(candidate.build), f"candidate {candidate.name!r}: build is not callable"
    assert candidate.unsupported <= FEATURES.keys()
