"""Running the conformance suite under HypoFuzz (`hypothesis fuzz -- --pyargs conformance.suite`).

HypoFuzz collects the suite with pytest, then calls each test's Hypothesis inner function for
as long as it runs, switching between tests and setting up and tearing down their fixtures
itself, without pytest's per-test hooks. Two things follow for the plugin:

- the run's state reaches a test as a *parameter* (`conformance_run`, parametrized together
  with `candidate`), not as a fixture: HypoFuzz re-enters a test's fixtures after tearing them
  down, and a session fixture's value is then gone ("The fixture value for "conformance_run"
  is not available");
- what `pytest_runtest_setup` skips at run time (a candidate that did not load, a declared
  unsupported column, a device torch does not report) is marked `skip` at collection instead,
  which HypoFuzz honours by not fuzzing the test.

A failure HypoFuzz finds is shrunk and saved in the test's example database under the key
Hypothesis itself uses (the test's node id), so the next ordinary run (`lstm-conformance`,
same profile and database, run from the same directory) replays it first and reports it with
the usual diagnosis and verdict.
"""
from __future__ import annotations

import pytest


def active() -> bool:
    """True inside `hypothesis fuzz` (its collection and its workers)."""
    try:
        from hypofuzz.detection import in_hypofuzz_run
    except ImportError:  # HypoFuzz not installed: never fuzzing
        return False
    return bool(in_hypofuzz_run())


def mark_skips(items, run, requested: tuple) -> None:
    """HypoFuzz calls no setup hook: skip at collection what the setup hook would skip."""
    from conformance.plugin.session import skip_reason

    for item in items:
        reason = skip_reason(item, run, requested)
        if reason:
            item.add_marker(pytest.mark.skip(reason=reason))


# -- progress of a fuzzing campaign, read back from the example database ----------------------

def progress(pytest_args) -> dict:
    """{node id: {"examples", "seconds", "workers", "failures"}} for the tests that
    `hypothesis fuzz -- PYTEST_ARGS` fuzzes, from what HypoFuzz saved in their database.

    examples: inputs run, summed over the workers that fuzzed the test (each worker's last
    report); seconds: the longest of those workers' fuzzing times; failures: shrunk failing
    examples saved for the test (the ones the next ordinary run replays).
    """
    from hypofuzz import detection
    from hypofuzz.collection import collect_tests
    from hypofuzz.database import FailureState

    detection._in_hypofuzz_run = True  # collect exactly what `hypothesis fuzz` collects
    targets = collect_tests(list(pytest_args)).fuzz_targets
    result = {}
    for target in targets:
        db, key = target.database, target.database_key
        last = {}
        for report in db.reports.fetch(key):
            seen = last.get(report.worker_uuid)
            if seen is None or report.elapsed_time >= seen.elapsed_time:
                last[report.worker_uuid] = report
        result[target.nodeid] = {
            "examples": sum(sum(r.status_counts.values()) for r in last.values()),
            "seconds": max((r.elapsed_time for r in last.values()), default=0.0),
            "workers": len(last),
            "failures": len(list(db.failures(state=FailureState.SHRUNK).fetch(key))),
        }
    return result


def keys(pytest_args) -> dict:
    """{node id: database key (hex)} of the tests `hypothesis fuzz -- PYTEST_ARGS` fuzzes: the
    key under which HypoFuzz saves a test's shrunk failures, and Hypothesis replays them."""
    from hypofuzz import detection
    from hypofuzz.collection import collect_tests

    detection._in_hypofuzz_run = True
    return {t.nodeid: t.database_key.hex() for t in collect_tests(list(pytest_args)).fuzz_targets}


def main(argv=None) -> int:
    """`python -m conformance.plugin.fuzzing [--keys] [--] [PYTEST_ARGS]`: print progress()
    (or keys()) of the tests `hypothesis fuzz -- PYTEST_ARGS` fuzzes, as JSON."""
    import contextlib
    import io
    import json
    import sys

    args = sys.argv[1:] if argv is None else list(argv)
    what = progress
    if args[:1] == ["--keys"]:
        what, args = keys, args[1:]
    if args[:1] == ["--"]:
        args = args[1:]
    with contextlib.redirect_stdout(io.StringIO()):
        data = what(args)
    json.dump(data, sys.stdout, indent=1, sort_keys=True)
    sys.stdout.write("\n")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
