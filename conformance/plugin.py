"""The pytest plugin (entry point `pytest11`): options, candidate parametrization, verdicts."""
from __future__ import annotations

import pytest
import torch
from hypothesis import settings

from . import on_failure
from .profiles import CI_SEED, default_profile, register_profiles
from .check import DEFAULT_TIMEOUT
from .registry import CandidateLoadError, UnavailableCandidate, default_exclusions, discover, resolve
from .report import report_data, write_report
from .restrict import available_devices
from .run import ConformanceRun, Recording, is_broken
from .verdict import PROPERTY

register_profiles()  # at import, before Hypothesis' own plugin loads --hypothesis-profile

RUN_KEY = pytest.StashKey[ConformanceRun]()
REQUESTED_KEY = pytest.StashKey[tuple]()
MARKER = "conformance"
CLAIMS_MARKER = "conformance_claims"  # tests of declared limits run on unsupported columns


def pytest_addoption(parser):
    group = parser.getgroup("lstm-conformance")
    group.addoption("--impl", action="append", default=[], metavar="NAME|module:attr",
                    help="candidate to check (repeatable): a registered name or module:attr; "
                         "default: every registered candidate")
    group.addoption("--device", action="append", default=[], choices=("cpu", "cuda", "mps"),
                    help="restrict examples to these devices (repeatable); default: all "
                         "devices torch reports")
    group.addoption("--impl-fail-fast", action="store_true",
                    help="after a candidate's first failure, skip its remaining tests")
    group.addoption("--example-timeout", type=float, default=DEFAULT_TIMEOUT, metavar="SECONDS",
                    help="fail a candidate whose build or forward call takes longer than this "
                         f"(default {DEFAULT_TIMEOUT:g}; 0 disables)")
    group.addoption("--conformance-report", metavar="DIR", default=None,
                    help="write conformance-report.json, conformance-report.md and repro "
                         "scripts for each failure into DIR")
    group.addoption("--torch-threads", type=int, default=1, metavar="N",
                    help="torch.set_num_threads for the run (default 1: small examples run "
                         "fastest single-threaded)")


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Before Hypothesis' plugin: choose the profile, fix the ci seed, resolve candidates."""
    config.addinivalue_line(
        "markers", f"{MARKER}(*columns): a conformance test about these verdict columns")
    config.addinivalue_line(
        "markers", f"{CLAIMS_MARKER}: checks declared limits; runs on unsupported columns")
    config.addinivalue_line(
        "filterwarnings", "ignore:LSTM with projections is not supported with oneDNN")
    profile = config.getoption("hypothesis_profile", None)
    if not profile:  # otherwise Hypothesis' own plugin has loaded it
        profile = default_profile()
        settings.load_profile(profile)
    if profile == "ci" and config.getoption("hypothesis_seed", None) is None:
        config.option.hypothesis_seed = CI_SEED
    if config.getoption("torch_threads") > 0:
        torch.set_num_threads(config.getoption("torch_threads"))
    try:
        candidates = resolve(config.getoption("impl"))
    except CandidateLoadError as exc:
        raise pytest.UsageError(str(exc)) from None
    reported = available_devices()
    requested = tuple(config.getoption("device"))
    devices = tuple(d for d in (requested or reported) if d in reported)
    config.stash[RUN_KEY] = ConformanceRun(
        candidates, devices, fail_fast=config.getoption("impl_fail_fast"), profile=profile,
        example_timeout=config.getoption("example_timeout") or None)
    config.stash[REQUESTED_KEY] = requested
    config.pluginmanager.register(VerdictCollector(config.stash[RUN_KEY]), "lstm-conformance-verdicts")


def pytest_report_header(config):
    run = config.stash[RUN_KEY]
    names = ", ".join(c.name for c in run.candidates) or "none registered"
    lines = [f"lstm-conformance: candidates {names}; devices {', '.join(run.devices) or 'none'}; "
             f"hypothesis profile {run.profile}; torch {torch.__version__}, "
             f"{torch.get_num_threads()} thread(s)"]
    if not config.getoption("impl"):
        lines += [f"lstm-conformance: left out {name}: {why}"
                  for name, why in default_exclusions(discover()).items()]
    return lines


def pytest_generate_tests(metafunc):
    if "candidate" in metafunc.fixturenames and metafunc.definition.get_closest_marker(MARKER):
        run = metafunc.config.stash[RUN_KEY]
        metafunc.parametrize("candidate", run.candidates, ids=[c.name for c in run.candidates])


@pytest.fixture(scope="session")
def conformance_run(request) -> ConformanceRun:
    """The run's state: `conformance_run.check_forward(candidate, recipe)` in a test."""
    return request.config.stash[RUN_KEY]


def pytest_collection_modifyitems(config, items):
    """Tests about a feature the candidate declared xfail run under a strict xfail."""
    for item in items:
        candidate = _candidate_of(item)
        xfail = getattr(candidate, "xfail", None)
        if not xfail or item.get_closest_marker(MARKER) is None:
            continue
        reasons = [f"{column}: {xfail[column]}" for column in _columns_of(item) if column in xfail]
        if reasons:
            item.add_marker(pytest.mark.xfail(
                strict=True, reason=f"candidate {candidate.name!r} declares " + "; ".join(reasons)))


def _candidate_of(item):
    callspec = getattr(item, "callspec", None)
    return callspec.params.get("candidate") if callspec else None


def _columns_of(item) -> tuple[str, ...]:
    marker = item.get_closest_marker(MARKER)
    return tuple(marker.args) if marker else ()


def pytest_runtest_setup(item):
    candidate = _candidate_of(item)
    if candidate is None or item.get_closest_marker(MARKER) is None:
        return
    run = item.config.stash[RUN_KEY]
    run.current = Recording(candidate.name, _columns_of(item))
    if isinstance(candidate, UnavailableCandidate):
        pytest.skip(f"candidate {candidate.name!r} is not available: {candidate.reason}")
    if is_broken(candidate):
        if "candidate_loads" not in item.name:
            pytest.skip(f"candidate {candidate.name!r} did not load (see test_candidate_loads)")
        return
    if candidate.name in run.hung:
        pytest.skip(f"candidate {candidate.name!r} hung in an earlier test and is not called "
                    f"again: {run.hung[candidate.name]}")
    if run.fail_fast and candidate.name in run.failed_candidates:
        pytest.skip(f"candidate {candidate.name!r} already failed (--impl-fail-fast)")
    for column in _columns_of(item):
        if column in candidate.unsupported and not item.get_closest_marker(CLAIMS_MARKER):
            pytest.skip(f"candidate {candidate.name!r} declares {column!r} unsupported")
        if column in ("cuda", "mps", "cpu") and column not in run.devices:
            requested = item.config.stash[REQUESTED_KEY]
            why = ("excluded by --device" if requested and column not in requested
                   else "torch reports no such device here")
            pytest.skip(f"device {column}: {why}")


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport(item, call):
    outcome = yield
    run = item.config.stash[RUN_KEY]
    if call.when == "call" and run.current is not None:
        report, data = outcome.get_result(), run.current.as_property()
        if report.failed:  # diagnosis, repro script, report section (never raises)
            on_failure.attach(item, call, report, run, data)
        report.user_properties.append((PROPERTY, data))
        run.current = None


class VerdictCollector:
    """Folds every test report into the verdicts and prints the table at the end.

    Under xdist the controller receives every worker's reports (with their user_properties),
    so its table covers the whole run.
    """

    def __init__(self, run: ConformanceRun):
        self.run = run
        self.written: list = []

    def pytest_runtest_logreport(self, report):
        self.run.verdicts.add(report)
        if report.failed:
            for key, data in report.user_properties:
                if key == PROPERTY:
                    self.run.failed_candidates.add(data["candidate"])

    @pytest.hookimpl(trylast=True)
    def pytest_terminal_summary(self, terminalreporter):
        if self.run.candidates and self.run.verdicts.seen:
            terminalreporter.write_sep("=", "LSTM conformance verdict")
            terminalreporter.write_line(self.run.verdicts.render())
            for path in self.written:
                terminalreporter.write_line(f"conformance report: {path}")

    def pytest_sessionfinish(self, session):
        config = session.config
        directory = config.getoption("conformance_report")
        if directory and not hasattr(config, "workerinput"):  # the xdist controller writes it
            data = report_data(self.run.verdicts, self.run.candidates, self.run.profile,
                               self.run.devices)
            self.written = write_report(directory, data)
