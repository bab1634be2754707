"""pytest plugin (`-p tests.candidate_selection`): a `-k` expression per candidate, so that one
suite run can stand for several runs that differ only in the tests they select.

LSTM_CONFORMANCE_SELECT holds a JSON object {candidate name: -k expression}. A test of a
candidate named there runs only if the expression matches it, exactly as `-k` would match
it (pytest's own expression and keyword matcher); the tests of other candidates are left to
the run's own `-k`, which should be the union of the expressions.
"""
from __future__ import annotations

import json
import os

import pytest
from _pytest.mark import KeywordMatcher
from _pytest.mark.expression import Expression

ENV = "LSTM_CONFORMANCE_SELECT"


def _candidate_name(item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return getattr(callspec.params.get("candidate"), "name", None) if callspec else None


@pytest.hookimpl(trylast=True)
def pytest_collection_modifyitems(config, items):
    selection = {name: Expression.compile(expr)
                 for name, expr in json.loads(os.environ.get(ENV, "{}")).items()}
    keep, drop = [], []
    for item in items:
        expr = selection.get(_candidate_name(item))
        (keep if expr is None or expr.evaluate(KeywordMatcher.from_item(item)) else drop).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
