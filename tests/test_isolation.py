"""Candidates that crash, hang in C or eat memory get a verdict, and the run goes on.

Each runs beside the correct `good` candidate on the families that need the offending
feature and on others that do not; the JSON report must show FAIL in exactly the offending
feature's column, with the example and what happened, and `good` must pass.

One suite run holds every case of this module (one interpreter start, and `good` checked
once): each bad candidate runs only its own selection of tests, as if alone with `good` under
`-k` (tests/candidate_selection.py), and each gets its own worker process, so that one
candidate's crash cannot reach another's verdict.
"""
import json
import os
import sys
from pathlib import Path

import pytest

from tests import background

REPO = Path(__file__).resolve().parent.parent
BAD = "tests.crash_candidates"
GOOD = "numpy"  # a correct candidate in the same run
COMMON = ["--pyargs", "conformance.suite", "-p", "no:cacheprovider", "--hypothesis-profile",
          "dev", "--conformance-example-timeout", "2", "--conformance-impl", GOOD,
          # for allocates_without_bound; far above what any other candidate's worker grows by
          "--conformance-memory-limit", "512"]

CASES = [
    # candidate, its registered name, the tests run, the column that must fail, what the
    # failure must say
    ("aborts_on_empty_batch", "aborts-on-empty-batch",
     "test_empty_batch or test_single_layer_cell or test_batch_first",
     "empty_batch", "signal 6 (SIGABRT)"),
    ("segfaults_on_bidirectional", "segfaults-on-bidirectional",
     "test_bidirectional or test_single_layer_cell or test_seq_first",
     "bidirectional", "signal 11 (SIGSEGV)"),
    ("hangs_in_c_on_packed", "hangs-in-c-on-packed",
     "test_packed or test_single_layer_cell or test_seq_first",
     "packed", "hangs in native code"),
    ("allocates_without_bound", "allocates-without-bound-on-projection",
     "test_projection or test_single_layer_cell or test_seq_first",
     "proj_size", "resident memory"),
]
# candidate, its registered name, the tests run
VERDICTS = [
    ("ignores_proj_size", "ignores-proj-size", "test_projection or test_all_axes or "
     "test_stacking or test_initial_state or test_gradients"),
    ("raises_on_empty_batch", "raises-on-empty-batch", "test_empty_batch or test_all_axes or "
     "test_single_layer_cell or test_stacking or test_batch_first"),
    ("declares_empty_batch_unsupported", "declares-empty-batch-unsupported",
     "test_empty_batch or test_all_axes or test_single_layer_cell or "
     "test_unsupported_feature_is_rejected"),
]


_running = {}  # "run": (process, output file, report path), once started
EARLY_FIXTURE = "rows"  # tests/conftest.py starts the run after collection


def start_early(tmp_path_factory) -> None:
    """Start the one suite run (once): right after collection (tests/conftest.py), so that
    it runs beside the rest of the session; the fixture below waits for it."""
    if "run" in _running:
        return
    work = tmp_path_factory.mktemp("isolation")
    report = work / "report"
    selection = {name: tests for _, name, tests, *_ in CASES + VERDICTS}
    # The good candidate beside the ones that crash, in the tests where they crash (not in
    # the verdict cases' gradients and stacking: the main job checks it there).
    selection[GOOD] = " or ".join(f"({tests})" for _, _, tests, *_ in CASES)
    cmd = [sys.executable, "-m", "pytest", *COMMON, "-p", "tests.candidate_selection",
           "-k", " or ".join(f"({tests})" for tests in selection.values()),
           "--conformance-report", str(report)]
    for attr, *_ in CASES + VERDICTS:
        cmd += ["--conformance-impl", f"{BAD}:{attr}"]
    env = dict(os.environ, LSTM_CONFORMANCE_SELECT=json.dumps(selection),
               PYTHONPATH=os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    for var in ("PYTEST_ADDOPTS", "PYTEST_XDIST_WORKER", "PYTEST_XDIST_TESTRUNUID",
                "PYTEST_CURRENT_TEST"):  # the outer pytest run's, not this run's
        env.pop(var, None)
    output = work / "output.txt"
    _running["run"] = (background.start(cmd, work, env, output), output,
                       report / "conformance-report.json")


def stop_early() -> None:
    """Kill the run if the session ends before a test waited for it."""
    if "run" in _running:
        background.kill(_running["run"][0])


@pytest.fixture(scope="module")
def rows(tmp_path_factory):
    """The report rows of the one suite run, by candidate name; and the run's output."""
    start_early(tmp_path_factory)
    process, output_path, path = _running["run"]
    returncode = process.wait(timeout=900)
    output = output_path.read_text()
    assert path.exists(), f"the suite wrote no report (exit {returncode}):\n{output[-4000:]}"
    assert "LSTM conformance verdict" in output, output[-4000:]  # the run completed
    data = json.loads(path.read_text())
    return {row["name"]: row for row in data["candidates"]}, output


def statuses(row):
    return {column: cell["status"] for column, cell in row["features"].items()}


def assert_only_failing(row, column):
    failing = {c for c, s in statuses(row).items() if s == "fail"}
    assert failing == {column}, statuses(row)
    assert statuses(row)["basic"] == "pass"


def test_the_good_candidate_passes_beside_them(rows):
    rows, _ = rows
    assert "fail" not in statuses(rows[GOOD]).values(), statuses(rows[GOOD])


@pytest.mark.parametrize("attr, name, tests, column, says", CASES, ids=[c[0] for c in CASES])
def test_a_lost_process_is_a_fail_of_the_feature_that_caused_it(rows, attr, name, tests,
                                                                column, says):
    rows, _ = rows
    bad = rows[name]
    assert_only_failing(bad, column)
    messages = " ".join(f.get("message", "") + " ".join(f.get("problems", []))
                        for f in bad["failures"])
    assert says in messages, messages
    assert all(f.get("shrunk") for f in bad["failures"]), bad["failures"]
    assert "fail" not in statuses(rows[GOOD]).values(), statuses(rows[GOOD])


def test_each_candidate_ran_only_its_own_selection(rows):
    """The shared run stands for one run per case: no bad candidate ran a test outside its
    own `-k`, and each ran some."""
    rows, _ = rows
    for _, name, tests, *_ in CASES + VERDICTS:
        wanted = [t.strip() for t in tests.split(" or ")]
        ran = list(rows[name]["tests"])
        assert ran, name
        for test in ran:
            assert any(w in test for w in wanted), (name, test)


def test_ignoring_proj_size_fails_proj_size_only(rows):
    rows, _ = rows
    assert_only_failing(rows["ignores-proj-size"], "proj_size")


def test_raising_on_an_empty_batch_fails_empty_batch_only(rows):
    rows, _ = rows
    assert_only_failing(rows["raises-on-empty-batch"], "empty_batch")


def test_declaring_empty_batch_unsupported_passes_everything(rows):
    rows, _ = rows
    row = statuses(rows["declares-empty-batch-unsupported"])
    assert "fail" not in row.values(), row
    assert row["empty_batch"] == "unsupported"
