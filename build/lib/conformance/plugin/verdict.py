"""The verdict table: one row per candidate, one column per feature.

Each test reports, through its `user_properties` (which also travel from xdist workers), the
candidate, the feature columns the test is about, and how many examples exercised each
feature. A column is FAIL when a test about it failed; a failing test about no column in
particular (the all-axes test) blames the unusual features of its shrunk example.
"""
from __future__ import annotations

from collections import Counter
from dataclasses import dataclass, field

from conformance.diagnosis.summary import summarize
from conformance.model.features import BASIC, COLUMNS, OFF_SWITCHES, SHORT

PROPERTY = "lstm_conformance"
# Features every example has one of; a failure is not blamed on them unless nothing else.
ORDINARY = frozenset({BASIC, "seq_first", "float64", "float32", "cpu"})


@dataclass
class Row:
    unsupported: frozenset[str] = frozenset()
    xfail: frozenset[str] = frozenset()
    xfailed: set = field(default_factory=set)  # columns whose tests failed as declared
    examples: Counter = field(default_factory=Counter)
    failed: set = field(default_factory=set)
    sure: set = field(default_factory=set)  # failed, and a failing example needs it
    unsure: set = field(default_factory=set)  # failed, but what the failure needs is unknown
    broken: str | None = None
    failures: list = field(default_factory=list)  # one dict per failed test
    tests: list = field(default_factory=list)  # (test id, columns, outcome, failing features)
    examples_of: dict = field(default_factory=dict)  # passed test id -> its examples' features


class Verdicts:
    def __init__(self, candidates):
        self.rows: dict[str, Row] = {}
        self.seen = False  # any conformance test reported: only then is a table worth printing
        for c in candidates:
            self.rows[c.name] = Row(unsupported=frozenset(getattr(c, "unsupported", ())),
                                    xfail=frozenset(getattr(c, "xfail", {})),
                                    broken=getattr(c, "error", None))

    def add(self, report) -> None:
        """Fold in one test report (any phase) carrying our user property."""
        for key, data in getattr(report, "user_properties", ()):
            if key != PROPERTY:
                continue
            self.seen = True
            row = self.rows.setdefault(data["candidate"], Row())
            row.examples.update(data.get("counts", {}))
            columns = data.get("columns", ())
            outcome = "xfailed" if hasattr(report, "wasxfail") else report.outcome
            row.tests.append((report.nodeid, tuple(columns), outcome,
                              tuple(data.get("failing_features") or ())))
            if report.passed:
                row.examples_of[report.nodeid] = [frozenset(c) | set(columns)
                                                  for c in data.get("combos", ())]
            if report.failed and data.get("xpass"):
                row.failed.update(set(columns) & row.xfail)
            elif report.failed:
                blamed, unsure = blame(columns, data)
                row.failures.append({"test": report.nodeid, "columns": sorted(blamed),
                                     "needs_measured": not unsure,
                                     "message": crash_message(report),
                                     **data.get("failure", {})})
                row.failed.update(blamed)
                (row.unsure if unsure else row.sure).update(blamed)
            elif hasattr(report, "wasxfail"):
                row.xfailed.update(set(columns) & row.xfail)

    def status(self, name: str, column: str) -> tuple[str, int]:
        """(status word, examples) for the JSON report."""
        words = {"ERROR": "error", "XPASS": "xpass", "FAIL": "fail", "FAIL?": "fail",
                 "xfail": "xfail",
                 "unsup": "unsupported", "-": "not run"}
        cell = self.cell(name, column)
        return words.get(cell, "pass"), self.rows[name].examples.get(column, 0)

    def cell(self, name: str, column: str) -> str:
        row = self.rows[name]
        if row.broken:
            return "ERROR"
        if column in row.failed:
            if column in row.xfail:
                return "XPASS"
            return "FAIL?" if column in row.unsure - row.sure else "FAIL"
        if column in row.xfailed:
            return "xfail"
        if column in row.unsupported:
            return "unsup"
        n = row.examples.get(column, 0)
        return f"ok {n}" if n else "-"

    def render(self) -> str:
        widths = {c: max(len(SHORT[c]), 6) for c in COLUMNS}
        name_width = max([9] + [len(n) for n in self.rows])
        lines = ["candidate".ljust(name_width) + " " + " ".join(SHORT[c].rjust(widths[c]) for c in COLUMNS)]
        for name in self.rows:
            cells = (self.cell(name, c).rjust(widths[c]) for c in COLUMNS)
            lines.append(name.ljust(name_width) + " " + " ".join(cells))
        lines.append("ok N: passed, N examples used the feature; FAIL: a failing example needs "
                     "it; FAIL?: a test of it failed, and what the failure needs could not be "
                     "measured; "
                     "unsup: declared unsupported; xfail: failed as declared; XPASS: declared "
                     "xfail but passed (strict); -: not run; ERROR: candidate did not load")
        lines += [f"{name}: {text}" for name in self.rows if (text := self.summary(name))]
        return "\n".join(lines)

    def summary(self, name: str) -> str | None:
        """Which families fail and which pass, in words (see families.py); None if none fail.

        Failures are grouped by the check that failed; a group's counter-evidence is the
        passing tests in the same test files.
        """
        row = self.rows[name]
        by_test = {f["test"]: f for f in row.failures}
        failing: dict = {}
        for test, columns, outcome, features in sorted(row.tests):
            if outcome == "failed" and features:
                failure = by_test.get(test, {})
                measured = failure.get("localization", {}).get("needs")
                # Needs measured with the forward check, whatever check failed, make such
                # failures one family: that of the forward divergence.
                check = (failure["localization"].get("probe_check", "check")
                         if measured is not None else failure.get("check", "other"))
                files, sets, needs = failing.setdefault(check, (set(), [], []))
                files.add(test.split("::")[0])
                sets.append(frozenset(features) | set(columns))
                needs.append(measured)
        groups = {}
        for check, (files, sets, needs) in failing.items():
            passing = {combo for test, combos in row.examples_of.items()
                       if test.split("::")[0] in files for combo in combos}
            groups[check] = (sets, sorted(passing, key=sorted), needs)
        used = set().union(*(c for combos in row.examples_of.values() for c in combos))
        passing_columns = [c for c in COLUMNS if c in used and self.status(name, c)[0] == "pass"]
        return summarize(groups, passing_columns)

    def failed_any(self) -> bool:
        return any(r.failed or r.broken for r in self.rows.values())


def crash_message(report) -> str:
    """The failure's own message (first lines), without the traceback."""
    crash = getattr(getattr(report, "longrepr", None), "reprcrash", None)
    text = crash.message if crash is not None else str(report.longrepr)
    return "\n".join(text.splitlines()[:6])


def blame(columns, data: dict) -> tuple[set[str], bool]:
    """(columns a failure is attributed to, whether that is a guess).

    A failing example's measured needs (probe.py) decide: a column fails when the example
    needs it, and the other features of that example keep their ok. Edges (T=1, sizes of 1)
    are not columns: a failure that needs only them is the basic arithmetic's. When the
    failing family's own check measured the needs, the test's columns that cannot be turned
    off (backward, basic, ...) are needed by construction. Without a measurement: the test's
    own columns that the example has, else its unusual features, marked as a guess.
    """
    localization = (data.get("failure") or {}).get("localization") or {}
    needs = localization.get("needs")
    features = set(data.get("failing_features") or ())
    if needs is None:
        guess = set(columns) & (features | {BASIC}) or (features - ORDINARY) or {BASIC}
        return guess, True
    blamed = {n for n in needs if n in COLUMNS}
    if localization.get("probe_check", "check") != "check":
        blamed |= {c for c in columns if c not in OFF_SWITCHES}
    return blamed or {BASIC}, False
