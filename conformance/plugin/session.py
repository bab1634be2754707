"""The conformance suite's session: registered as a plugin only when the suite runs.

`start` chooses the Hypothesis profile, fixes the ci seed, sets torch's threads, resolves
the candidates and turns isolation on; the hooks below parametrize tests by candidate,
apply declared limits, diagnose failures and collect the verdict table.
"""
from __future__ import annotations

import gc

import pytest
import torch
from hypothesis import settings

from conformance.core import sandbox
from conformance.core.invoke import Limits
from conformance.core.registry import (CandidateLoadError, UnavailableCandidate,
                                       default_exclusions, discover, resolve)
from conformance.model.features import available_devices
from conformance.plugin import fuzzing, on_failure
from conformance.plugin.profiles import (CI_SEED, default_profile, key_by_node_id,
                                         register_profiles, seed_tests)
from conformance.plugin.report import report_data, write_report
from conformance.plugin.run import ConformanceRun, Recording, is_broken
from conformance.plugin.verdict import PROPERTY

RUN_KEY = pytest.StashKey[ConformanceRun]()
SEED_KEY = pytest.StashKey[object]()
REQUESTED_KEY = pytest.StashKey[tuple]()
WRITTEN_KEY = pytest.StashKey[list]()
MARKER = "conformance"
CLAIMS_MARKER = "conformance_claims"  # tests of declared limits run on unsupported columns
ACTIVE: ConformanceRun | None = None  # the run of this process, for code without fixtures


def start(config) -> None:
    """Before Hypothesis' plugin configures: profile, seed, threads, candidates, isolation."""
    global ACTIVE
    config.addinivalue_line(
        "markers", f"{MARKER}(*columns): a conformance test about these verdict columns")
    config.addinivalue_line(
        "markers", f"{CLAIMS_MARKER}: checks declared limits; runs on unsupported columns")
    config.addinivalue_line(
        "filterwarnings", "ignore:LSTM with projections is not supported with oneDNN")
    register_profiles()
    profile = config.getoption("hypothesis_profile", None)
    if not profile:  # otherwise Hypothesis' own plugin loads it
        profile = default_profile()
        settings.load_profile(profile)
    # ci: derandomized by seeding each test (profiles.seed_tests), not --hypothesis-seed,
    # which would switch the example database off.
    config.stash[SEED_KEY] = (CI_SEED if profile == "ci" and
                              config.getoption("hypothesis_seed", None) is None else None)
    threads = config.getoption("conformance_torch_threads")
    if threads > 0:
        torch.set_num_threads(threads)
    Limits.timeout = config.getoption("conformance_example_timeout") or None
    sandbox.configure(config.getoption("conformance_isolation") == "process",
                      config.getoption("conformance_memory_limit"))
    try:
        candidates = resolve(config.getoption("conformance_impl"))
    except CandidateLoadError as exc:
        raise pytest.UsageError(str(exc)) from None
    reported = available_devices()
    requested = tuple(config.getoption("conformance_device"))
    devices = tuple(d for d in (requested or reported) if d in reported)
    ACTIVE = config.stash[RUN_KEY] = ConformanceRun(
        candidates, devices, fail_fast=config.getoption("conformance_fail_fast"),
        profile=profile)
    config.stash[REQUESTED_KEY] = requested
    config.stash[WRITTEN_KEY] = []


def pytest_report_header(config):
    run = config.stash[RUN_KEY]
    names = ", ".join(c.name for c in run.candidates) or "none registered"
    isolation = "worker processes" if sandbox.Settings.isolation else "in process"
    lines = [f"lstm-conformance: candidates {names}; devices {', '.join(run.devices) or 'none'}; "
             f"hypothesis profile {run.profile}; torch {torch.__version__}, "
             f"{torch.get_num_threads()} thread(s); candidates run {isolation}"]
    if not config.getoption("conformance_impl"):
        lines += [f"lstm-conformance: left out {name}: {why}"
                  for name, why in default_exclusions(discover()).items()]
    return lines


def pytest_generate_tests(metafunc):
    if "candidate" in metafunc.fixturenames and metafunc.definition.get_closest_marker(MARKER):
        run = metafunc.config.stash[RUN_KEY]
        # The run's state (`conformance_run.check_forward(candidate, recipe)` in a test) is a
        # parameter, not a fixture: HypoFuzz holds a test for hours and re-enters its
        # fixtures, which a session fixture does not survive (plugin/fuzzing.py).
        names = ["candidate"] + (["conformance_run"] if "conformance_run" in
                                 metafunc.fixturenames else [])
        metafunc.parametrize(names, [(c, run)[:len(names)] for c in run.candidates],
                             ids=[c.name for c in run.candidates])


def pytest_collection_modifyitems(config, items):
    """Seeds (ci), static skips (under HypoFuzz), and a strict xfail for the tests about a
    feature the candidate declared xfail."""
    if config.stash[SEED_KEY] is not None:
        seed_tests(items, config.stash[SEED_KEY])
    if fuzzing.active():
        fuzzing.mark_skips(items, config.stash[RUN_KEY], config.stash[REQUESTED_KEY])
    for item in items:
        candidate = _candidate_of(item)
        xfail = getattr(candidate, "xfail", None)
        if not xfail or item.get_closest_marker(MARKER) is None:
            continue
        reasons = [f"{column}: {xfail[column]}" for column in _columns_of(item) if column in xfail]
        if reasons:
            item.add_marker(pytest.mark.xfail(
                strict=True, reason=f"candidate {candidate.name!r} declares " + "; ".join(reasons)))


def pytest_collection_finish(session):
    """torch, Hypothesis, the suite and its collected tests live until the run ends: out of
    the garbage collector's sight, each full collection during the run (and pytest's five at
    its end) no longer walks them, and a candidate's worker forked from here does not copy
    their pages by touching them."""
    gc.freeze()


def _candidate_of(item):
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("candidate") if callspec else None


def _columns_of(item) -> tuple[str, ...]:
    marker = item.get_closest_marker(MARKER)
    return tuple(marker.args) if marker else ()


def skip_reason(item, run, requested: tuple) -> str | None:
    """Why `item` is skipped before it runs (None: it runs), from what is known at
    collection: a candidate that did not load, a declared-unsupported column, a device."""
    candidate = _candidate_of(item)
    if candidate is None or item.get_closest_marker(MARKER) is None:
        return None
    if isinstance(candidate, UnavailableCandidate):
        return f"candidate {candidate.name!r} is not available: {candidate.reason}"
    if is_broken(candidate):
        if "candidate_loads" in item.name:
            return None
        return f"candidate {candidate.name!r} did not load (see test_candidate_loads)"
    for column in _columns_of(item):
        if column in candidate.unsupported and not item.get_closest_marker(CLAIMS_MARKER):
            return f"candidate {candidate.name!r} declares {column!r} unsupported"
        if column in ("cuda", "mps", "cpu") and column not in run.devices:
            why = ("excluded by --conformance-device" if requested and column not in requested
                   else "torch reports no such device here")
            return f"device {column}: {why}"
    return None


def pytest_runtest_setup(item):
    candidate = _candidate_of(item)
    if candidate is None or item.get_closest_marker(MARKER) is None:
        return
    run = item.config.stash[RUN_KEY]
    run.current = Recording(candidate.name, _columns_of(item))
    sandbox.new_test()
    reason = skip_reason(item, run, item.config.stash[REQUESTED_KEY])
    if reason:
        pytest.skip(reason)
    if run.fail_fast and candidate.name in run.failed_candidates:
        pytest.skip(f"candidate {candidate.name!r} already failed (--impl-fail-fast)")


@pytest.hookimpl(tryfirst=True)
def pytest_runtest_call(item):
    if item.get_closest_marker(MARKER) is not None:
        key_by_node_id(item)  # the example-database key HypoFuzz uses too


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    run = item.config.stash[RUN_KEY]
    if call.when == "call" and run.current is not None:
        report, data = outcome.get_result(), run.current.as_property()
        if report.failed and call.excinfo is None:  # a strict xfail that passed
            data["xpass"] = True
        elif report.failed:  # diagnosis, repro script, report section (never raises)
            on_failure.attach(item, call, report, run, data)
        report.user_properties.append((PROPERTY, data))
        run.current = None


def pytest_runtest_logreport(report):
    """Fold every test report into the verdicts (under xdist, the controller gets every
    worker's reports with their user_properties, so its table covers the whole run)."""
    run = ACTIVE
    if run is None:
        return
    run.verdicts.add(report)
    if report.failed:
        for key, data in report.user_properties:
            if key == PROPERTY:
                run.failed_candidates.add(data["candidate"])


@pytest.hookimpl(trylast=True)
def pytest_terminal_summary(terminalreporter, config):
    run = config.stash[RUN_KEY]
    if run.candidates and run.verdicts.seen:
        terminalreporter.write_sep("=", "LSTM conformance verdict")
        terminalreporter.write_line(run.verdicts.render())
        for path in config.stash[WRITTEN_KEY]:
            terminalreporter.write_line(f"conformance report: {path}")


def pytest_sessionfinish(session):
    config = session.config
    sandbox.shutdown()
    directory = config.getoption("conformance_report")
    if directory and not hasattr(config, "workerinput"):  # the xdist controller writes it
        run = config.stash[RUN_KEY]
        data = report_data(run.verdicts, run.candidates, run.profile, run.devices)
        config.stash[WRITTEN_KEY] = write_report(directory, data)
