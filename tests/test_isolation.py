"""Candidates that crash, hang in C or eat memory get a verdict, and the run goes on.

Each runs beside the correct `good` candidate in one suite run of the families that need
the offending feature and of others that do not; the JSON report must show FAIL in exactly
the offending feature's column, with the example and what happened, and `good` must pass.
"""
import json

import pytest

pytest_plugins = ["pytester"]

BAD = "tests.crash_candidates"
GOOD = "numpy"  # a correct candidate in the same run
COMMON = ["--pyargs", "conformance.suite", "-p", "no:cacheprovider", "--hypothesis-profile",
          "dev", "--conformance-example-timeout", "2", "--conformance-impl", GOOD]


def suite_run(pytester, tmp_path, attr, tests, *extra):
    report = tmp_path / "report"
    result = pytester.runpytest_subprocess(*COMMON, "--conformance-impl", f"{BAD}:{attr}",
                                           "-k", tests, "--conformance-report", str(report),
                                           *extra, timeout=600)
    data = json.loads((report / "conformance-report.json").read_text())
    rows = {row["name"]: row for row in data["candidates"]}
    return result, rows


def statuses(row):
    return {column: cell["status"] for column, cell in row["features"].items()}


def assert_only_failing(row, column):
    failing = {c for c, s in statuses(row).items() if s == "fail"}
    assert failing == {column}, statuses(row)
    assert statuses(row)["basic"] == "pass"


@pytest.fixture
def run(pytester, tmp_path, monkeypatch):
    import os
    from pathlib import Path

    repo = Path(__file__).resolve().parent.parent
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(repo), os.environ.get("PYTHONPATH", "")]))
    return lambda *args: suite_run(pytester, tmp_path, *args)


CASES = [
    # candidate, the tests run, the column that must fail, what the failure must say
    ("aborts_on_empty_batch", "test_empty_batch or test_single_layer_cell or test_batch_first",
     "empty_batch", "signal 6 (SIGABRT)"),
    ("segfaults_on_bidirectional", "test_bidirectional or test_single_layer_cell "
     "or test_seq_first", "bidirectional", "signal 11 (SIGSEGV)"),
    ("hangs_in_c_on_packed", "test_packed or test_single_layer_cell "
     "or test_seq_first", "packed", "hangs in native code"),
    ("allocates_without_bound", "test_projection or test_single_layer_cell or test_seq_first",
     "proj_size", "resident memory"),
]


@pytest.mark.parametrize("attr, tests, column, says", CASES, ids=[c[0] for c in CASES])
def test_a_lost_process_is_a_fail_of_the_feature_that_caused_it(run, attr, tests, column, says):
    extra = ("--conformance-memory-limit", "512") if "allocates" in attr else ()
    result, rows = run(attr, tests, *extra)
    bad = next(row for name, row in rows.items() if name != "numpy")
    assert_only_failing(bad, column)
    messages = " ".join(f.get("message", "") + " ".join(f.get("problems", []))
                        for f in bad["failures"])
    assert says in messages, messages
    assert all(f.get("shrunk") for f in bad["failures"]), bad["failures"]
    assert "fail" not in statuses(rows["numpy"]).values(), statuses(rows["numpy"])
    result.stdout.fnmatch_lines(["*LSTM conformance verdict*"])  # the run completed


def test_ignoring_proj_size_fails_proj_size_only(run):
    _, rows = run("ignores_proj_size", "test_projection or test_all_axes or test_stacking "
                  "or test_initial_state or test_gradients")
    assert_only_failing(rows["ignores-proj-size"], "proj_size")


def test_raising_on_an_empty_batch_fails_empty_batch_only(run):
    _, rows = run("raises_on_empty_batch", "test_empty_batch or test_all_axes or "
                  "test_single_layer_cell or test_stacking or test_batch_first")
    assert_only_failing(rows["raises-on-empty-batch"], "empty_batch")


def test_declaring_empty_batch_unsupported_passes_everything(run):
    _, rows = run("declares_empty_batch_unsupported", "test_empty_batch or test_all_axes or "
                  "test_single_layer_cell or test_unsupported_feature_is_rejected")
    row = statuses(rows["declares-empty-batch-unsupported"])
    assert "fail" not in row.values(), row
    assert row["empty_batch"] == "unsupported"
