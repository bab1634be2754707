"""Known answers: hand-set weights whose results are derived by hand, compared unrounded.
See conformance.checks.known_answers."""
import pytest

from conformance.checks.known_answers import KNOWN_ANSWERS, check_known_answer, recipe_for

pytestmark = pytest.mark.conformance()  # columns come from each parameter's own mark

COLUMN = {"float64": "basic", "float32": "basic", "bfloat16": "bfloat16", "float16": "float16"}
KEYS = [pytest.param(f"{name}@{dtype}", marks=pytest.mark.conformance(column),
                     id=f"{name}@{dtype}")
        for name in KNOWN_ANSWERS for dtype, column in COLUMN.items()]


@pytest.mark.parametrize("key", KEYS)
def test_known_answer(candidate, key, conformance_run):
    check_known_answer(candidate, key, conformance_run.prepare(candidate, recipe_for(key)))
