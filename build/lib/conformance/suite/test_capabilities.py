"""Declared limits are true: a feature declared unsupported is rejected, never computed."""
import pytest

from conformance.checks.capabilities import base_recipe, check_rejects
from conformance.model.features import FEATURES, requiring

# Columns come from each parameter's own mark; conformance_claims: run although the column
# is declared unsupported (that is the point).
pytestmark = [pytest.mark.conformance(), pytest.mark.conformance_claims]

FEATURE_PARAMS = [pytest.param(f, marks=pytest.mark.conformance(f), id=f) for f in FEATURES]


@pytest.mark.parametrize("feature", FEATURE_PARAMS)
def test_unsupported_feature_is_rejected(candidate, feature, conformance_run):
    if feature not in candidate.unsupported:
        pytest.skip(f"{feature!r} is supported: its own tests check it")
    recipe = requiring(feature, conformance_run.prepare(candidate, base_recipe()))
    if feature in ("cuda", "mps") and feature not in conformance_run.devices:
        pytest.skip(f"device {feature}: torch reports no such device here")
    check_rejects(candidate, recipe, feature=feature)
