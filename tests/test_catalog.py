"""Self-test of the suite: the `ci` profile catches every bug of the catalog, and passes the
correct implementations the bugs are derived from.

Subprocesses at once (each control with its bugs, the bugs grouped by the family that catches
them) run the conformance suite under the `ci` profile (every family; for beyond-control, the
families of its bugs), each with a fresh example database, on every bug of
`tests/catalog`, with `--impl-fail-fast` so that a bug stops costing time at its first failing
test. Their merged report says, per candidate, which tests failed.

The modules that catch most bugs run first (pytest runs files in the order given), in an
order of their own for each control's bugs: with fail-fast, the order decides only how much
runs before a bug's first failure, never whether some test of the profile fails on it. The
controls run every test of their groups.
"""
from __future__ import annotations

from collections import Counter

import pytest

from tests.catalog import bugs, bugs_beyond, bugs_gradients
from tests.catalog.runner import (CONTROLS, all_bugs, control_of, failed_tests, generic_id,
                                  groups_by_first, start_suites)

# The families that catch a control's bugs first, cheapest catch first. Forward bugs fail the
# all-axes test; gradient-only bugs (bugs_gradients.py, with the forward ones) fail the
# gradient family, which therefore comes next (bug-bf16-accumulation names its own first,
# test_dtypes_devices.py: only its wide pins expose it). Each bug of bugs_beyond.py names the family
# that catches it (`first`), which its group runs first: dropout, invalid input, metamorphic
# (mutation, determinism).
FIRST = {
    "catalog-base": ("test_all_axes.py", "test_gradients.py", "test_dropout.py",
                     "test_invalid_input.py", "test_metamorphic.py"),
    "beyond-control": ("test_dropout.py", "test_invalid_input.py", "test_metamorphic.py"),
}
# Controls that run only the families of their FIRST: beyond-control computes what
# catalog-base computes (BaseLSTM, which runs every test) and adds nn.LSTM's input checks,
# which these families are about. The rest would cost a fifth of the self-test's time.
ONLY_FIRST = frozenset({"beyond-control"})
MIN_PASSED = {"catalog-base": 50, "beyond-control": 15}  # tests a control must pass
MIN_FORWARD_BUGS = 30


_running = {}  # "run": the catalog's subprocesses, once started
EARLY_FIXTURE = "catalog_run"  # tests/conftest.py starts the run after collection


def start_early(tmp_path_factory) -> None:
    """Start the catalog's suite runs (once): right after collection (tests/conftest.py), so
    that they run beside the rest of the session; the fixture below waits for them."""
    if "run" in _running:
        return
    # One process per group at once: each control with the bugs derived from it that name no
    # family, and the bugs that name one, per family (groups_by_first). In process (--conformance-isolation none): no catalog bug crashes, hangs in C or
    # exhausts memory (tests/test_isolation.py checks those), and a worker per candidate
    # would cost a fork and the first-call warm-up of torch eighty times over. Unshrunk:
    # caught or not is all that is asked (tests/catalog/unshrunk.py).
    groups = groups_by_first(FIRST, ONLY_FIRST)
    _running["run"] = start_suites(
        [refs for _, refs in groups], tmp_path_factory.mktemp("catalog"),
        group_files=[files for files, _ in groups],
        extra=("--conformance-fail-fast", "--conformance-isolation", "none",
               "-p", "tests.catalog.unshrunk"))


def stop_early() -> None:
    """Kill the catalog's runs if the session ends before a test waited for them."""
    running = _running.get("run")
    if running is not None and running.result is None:
        running.kill()


@pytest.fixture(scope="module")
def catalog_run(tmp_path_factory):
    start_early(tmp_path_factory)
    return _running["run"].wait(timeout=1200)


def _outcomes(row) -> Counter:
    return Counter(row["tests"].values())


@pytest.mark.parametrize("control", [name for name, _ in CONTROLS])
def test_control_passes_every_test(catalog_run, control):
    """Every test of the suite (of its families, for a control in ONLY_FIRST)."""
    row = catalog_run.candidate(control)
    assert row["load_error"] is None, f"control {control} did not load: {row['load_error']}"
    outcomes = _outcomes(row)
    assert not failed_tests(row), (
        f"control {control} (a correct LSTM) failed: {failed_tests(row)}\n"
        + "\n".join(f["message"][:2000] for f in row["failures"]))
    assert outcomes["passed"] >= MIN_PASSED[control], \
        f"control {control} ran too few tests: {dict(outcomes)}"


def test_every_catalog_bug_is_caught(catalog_run):
    escaped = [b for b in all_bugs() if not failed_tests(catalog_run.candidate(b.name))]
    assert not escaped, (
        f"the ci profile missed {len(escaped)} of {len(all_bugs())} catalog bugs:\n"
        + "\n".join(f"  {b.name} ({b.ref}): needs {b.needs}" for b in escaped))


def test_each_catch_is_a_test_its_control_passes(catalog_run):
    """A bug counts as caught only by a test its correct control passed: a failure the control
    shares would say nothing about the bug."""
    passed = {name: {generic_id(test, name) for test, outcome
                     in catalog_run.candidate(name)["tests"].items() if outcome == "passed"}
              for name, _ in CONTROLS}
    unexplained = []
    for b in all_bugs():
        control = control_of(b)
        for test in failed_tests(catalog_run.candidate(b.name)):
            if generic_id(test, b.name) not in passed[control]:
                unexplained.append(f"  {b.name}: {test} (not passed by {control})")
    assert not unexplained, "failures not matched by a passing control test:\n" + \
        "\n".join(unexplained)


def test_catalog_is_large_distinct_and_documented():
    forward = bugs.CATALOG
    assert len(forward) >= MIN_FORWARD_BUGS, \
        f"{len(forward)} forward bugs in tests/catalog/bugs.py, at least {MIN_FORWARD_BUGS} needed"
    everything = all_bugs()
    names = Counter(b.name for b in everything)
    assert not [n for n, k in names.items() if k > 1], f"duplicate bug names: {names}"
    assert all(b.name.startswith("bug-") for b in everything)
    for b in everything:
        assert b.needs.strip(), f"{b.name}: empty Needs line"
        assert b.doc.strip(), f"{b.name}: no description"
    # Distinct mistakes, not one mistake under several names: no two share a description.
    docs = Counter(b.doc for b in everything)
    assert not [d for d, k in docs.items() if k > 1], "two bugs share a description"
    # Each entry loads the way the brief says: --impl module:build_<slug>.
    for module in (bugs, bugs_beyond, bugs_gradients):
        for b in module.CATALOG:
            assert getattr(module, b.attr).name == b.name, b.ref
