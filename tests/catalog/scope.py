"""pytest plugin for catalog runs (`-p tests.catalog.scope`): keep the invalid-input family
away from candidates that validate nothing by design.

`BaseLSTM` (the control of `bugs.py` and `bugs_gradients.py`) implements the forward
computation only and accepts any input, so it fails every invalid-input test. Running those
tests on its bugs would "catch" every forward bug for a reason that has nothing to do with the
bug; they are deselected for `catalog-base` and its subclasses' bugs. The bugs of
`bugs_beyond.py` (built on `ValidatingLSTM`, which rejects what nn.LSTM rejects) run every
family.
"""
from __future__ import annotations

from pathlib import Path

from . import bugs, bugs_gradients

INVALID_INPUT_MODULE = "test_invalid_input.py"
NON_VALIDATING = frozenset({"catalog-base"} | {b.name for b in bugs.CATALOG + bugs_gradients.CATALOG})


def _candidate_name(item) -> str | None:
    callspec = getattr(item, "callspec", None)
    return getattr(callspec.params.get("candidate"), "name", None) if callspec else None


def pytest_collection_modifyitems(config, items):
    keep, drop = [], []
    for item in items:
        name = _candidate_name(item)
        out_of_scope = name in NON_VALIDATING and Path(str(item.fspath)).name == INVALID_INPUT_MODULE
        (drop if out_of_scope else keep).append(item)
    if drop:
        config.hook.pytest_deselected(items=drop)
        items[:] = keep
