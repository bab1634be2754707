"""One sentence per candidate: which families of examples fail and which pass.

Best evidence: the features each failing example was measured to need (`probe`: with any
one of them turned off, it passes). Without that: the features of each failing test's
shrunk example against the feature combination of every example of the passing tests (each
plus the test's own columns, e.g. "backward"). Only passing tests from the same test files
as the failures count as counter-evidence: a passing invalid-input test says nothing about
the forward arithmetic. There, "fails only with X and Y" means: every failing example has X
and Y, and no passing example has both; smaller sets of rarer features are preferred.
"""
from __future__ import annotations

from itertools import combinations

from conformance.model.features import BASIC, COMMON, phrase

MAX_SET = 4  # longest conjunction tried


def summarize(groups: dict, passing_columns: list[str]) -> str | None:
    """The sentence, or None without failures.

    groups: {check name: (failing, passing, needs)}, one entry per check that failed
    ("check" is the forward check): failing holds each failing test's shrunk-example
    features, passing the feature set of each example of the passing tests that count, needs
    each failing test's measured needs (or None). passing_columns:
    columns that passed examples used and no failure is blamed on.
    """
    parts = {label: describe(*groups[label]) for label in sorted(groups) if groups[label][0]}
    if not parts:
        return None
    passes = f"; passes {', '.join(passing_columns)}" if passing_columns else ""
    if len(parts) == 1:
        return next(iter(parts.values())) + passes
    named = [f"{label_of(label)}: {part}" for label, part in parts.items()]
    return "; ".join(named) + passes


def label_of(check: str) -> str:
    """"check" -> "forward", "check_invalid" -> "invalid"."""
    return "forward" if check == "check" else check.removeprefix("check_")


def describe(failing: list[frozenset], passing: list[frozenset], needs=None) -> str:
    """One clause: what the failing examples need that no passing example has.

    needs: per failing test, the features measured as needed (see probe.py), or None where
    not measured; when measured for every failing test they decide the clause.
    """
    tests = f"{len(failing)} failing test{'s' if len(failing) > 1 else ''}"
    if needs and all(n is not None for n in needs):
        return _from_needs([frozenset(n) for n in needs], failing, tests)
    common = frozenset.intersection(*failing) - {BASIC}
    if not passing:  # nothing to contrast with: say what the failures share, claim no more
        rare = common - COMMON
        shared = f"; the failing examples share {phrase(rare)}" if rare else ""
        return f"no example passed ({tests}){shared}"
    separating = _separating(common, passing)
    if separating:
        return (f"fails only with {phrase(separating)} ({tests}; no passing example has "
                f"{'it' if len(separating) == 1 else 'them together'}, "
                f"{len(passing)} feature combinations passed)")
    if common - COMMON:
        also = sum(common - COMMON <= p for p in passing)
        return (f"every failing example has {phrase(common - COMMON)}, but {also} of "
                f"{len(passing)} passing feature combinations have that too: the failure "
                f"needs particular sizes or values ({tests})")
    if any(not (f - COMMON - {BASIC}) for f in failing):
        return f"fails even on plain single-layer examples ({tests})"
    minimal = sorted({phrase(f - COMMON - {BASIC}) for f in _minimal(failing)})
    return f"fails with any of: {'; '.join(minimal)} ({tests})"


def _from_needs(needs: list[frozenset], failing: list[frozenset], tests: str) -> str:
    """The clause from measured needs: each failing example passes without any one of them."""
    if any(not n for n in needs):
        return (f"fails even on plain single-layer examples ({tests}; with all their "
                "features turned off they still fail)")
    minimal = sorted({phrase(n) for n in needs if not any(o < n for o in needs)})
    how = ("each failing example still fails with every other feature turned off and "
           "passes with any one of these turned off")
    if len(minimal) == 1:
        return f"fails only with {minimal[0]} ({tests}; {how})"
    return f"fails with any of: {'; '.join(minimal)} ({tests}; {how})"


def _separating(common: frozenset, passing: list[frozenset]) -> frozenset | None:
    """The smallest subset of `common` that no passing example contains (rare ones first)."""
    ordered = sorted(common, key=lambda f: (f in COMMON, f))
    for size in range(1, min(len(ordered), MAX_SET) + 1):
        subsets = sorted(combinations(ordered, size),
                         key=lambda s: (sum(f in COMMON for f in s), s))
        for subset in subsets:
            if not any(set(subset) <= p for p in passing):
                return frozenset(subset)
    return None


def _minimal(sets: list[frozenset]) -> list[frozenset]:
    """The sets that contain no other set of the list."""
    reduced = [s - COMMON - {BASIC} for s in sets]
    return [s for s in set(reduced) if not any(o < s for o in reduced)]
