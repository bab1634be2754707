"""The pytest plugin (entry point `pytest11`): it turns on only for the conformance suite.

Installed, this module is loaded by every pytest session of the environment, so at import it
does nothing but define hooks, and `pytest_addoption` adds only options whose names carry
the plugin's prefix (`--conformance-*`), so they cannot collide with a project's own. The
suite's machinery (profiles, seed, torch threads, candidates, isolation, the verdict table)
is switched on in `pytest_configure` only when the run asks for it: the conformance suite is
among the paths or packages collected, or one of the plugin's options is given.
"""
from __future__ import annotations

from pathlib import Path

import pytest

SUITE = Path(__file__).resolve().parent.parent / "suite"
PLUGIN_NAME = "lstm-conformance-run"
DEFAULT_TIMEOUT = 60.0  # seconds per candidate call (conformance.core.invoke.DEFAULT_TIMEOUT)
DEFAULT_MEMORY_MIB = 4096  # conformance.core.sandbox.DEFAULT_MEMORY_LIMIT_MIB
# option dest -> the value meaning "not given" (any other value turns the plugin on)
OPTIONS = {"conformance_impl": [], "conformance_device": [], "conformance_fail_fast": False,
           "conformance_example_timeout": DEFAULT_TIMEOUT, "conformance_report": None,
           "conformance_torch_threads": 1, "conformance_isolation": "process",
           "conformance_memory_limit": DEFAULT_MEMORY_MIB,
           "conformance_diagnosis_budget": 30.0}


def pytest_addoption(parser):
    group = parser.getgroup("lstm-conformance", "lstm-conformance (the LSTM conformance suite)")
    group.addoption("--conformance-impl", action="append", default=[], metavar="NAME|module:attr",
                    help="candidate to check (repeatable): a registered name or module:attr; "
                         "default: every registered candidate (lstm-conformance: --impl)")
    group.addoption("--conformance-device", action="append", default=[],
                    choices=("cpu", "cuda", "mps"),
                    help="restrict examples to these devices (repeatable); default: all "
                         "devices torch reports (lstm-conformance: --device)")
    group.addoption("--conformance-fail-fast", action="store_true",
                    help="after a candidate's first failure, skip its remaining tests "
                         "(lstm-conformance: --impl-fail-fast)")
    group.addoption("--conformance-example-timeout", type=float, default=DEFAULT_TIMEOUT,
                    metavar="SECONDS",
                    help="fail a candidate whose build or forward call takes longer than this "
                         f"(default {DEFAULT_TIMEOUT:g}; 0 disables; lstm-conformance: "
                         "--example-timeout)")
    group.addoption("--conformance-report", metavar="DIR", default=None,
                    help="write conformance-report.json, conformance-report.md and repro "
                         "scripts for each failure into DIR")
    group.addoption("--conformance-torch-threads", type=int, default=1, metavar="N",
                    help="torch.set_num_threads for the run (default 1: small examples run "
                         "fastest single-threaded; 0 keeps torch's; lstm-conformance: "
                         "--torch-threads)")
    group.addoption("--conformance-isolation", choices=("process", "none"), default="process",
                    help="process (default): each candidate runs in a worker process that a "
                         "crash, native hang or memory blow-up cannot take the run down with; "
                         "none: in the test process (for a debugger)")
    group.addoption("--conformance-diagnosis-budget", type=float, default=30.0,
                    metavar="SECONDS",
                    help="time the diagnosis (localization, explanation, needed features) "
                         "may spend per failure (default 30; 0: no diagnosis, and the verdict "
                         "cannot tell which features a failure needs)")
    group.addoption("--conformance-memory-limit", type=float, default=DEFAULT_MEMORY_MIB,
                    metavar="MiB",
                    help="fail a candidate whose worker grows by more resident memory than "
                         f"this (default {DEFAULT_MEMORY_MIB}; 0 disables)")


def wanted(config) -> bool:
    """Whether this session runs the conformance suite (or asks for the plugin)."""
    if any(config.getoption(dest, default) != default for dest, default in OPTIONS.items()):
        return True
    pyargs = config.getoption("pyargs", False)
    for arg in config.args:
        target = str(arg).split("::")[0]
        if pyargs and (target == "conformance" or target.startswith("conformance.suite")):
            return True
        if _covers_suite(Path(target)):
            return True
    return False


def _covers_suite(path: Path) -> bool:
    """The path is in the suite, or holds it other than inside an environment's packages."""
    try:
        path = path.resolve()
    except OSError:
        return False
    if path == SUITE or SUITE in path.parents:
        return True
    if path not in SUITE.parents:
        return False
    between = SUITE.relative_to(path).parts
    if "site-packages" in between or "dist-packages" in between:
        return False
    here = path
    for part in between:  # pytest does not collect inside a virtualenv either
        if (here / "pyvenv.cfg").exists():
            return False
        here = here / part
    return True


@pytest.hookimpl(tryfirst=True)
def pytest_configure(config):
    """Before Hypothesis' plugin: when wanted, start the run (profile, seed, candidates)."""
    if not wanted(config):
        return
    from conformance.plugin import session  # here: nothing loads unless wanted

    session.start(config)
    config.pluginmanager.register(session, PLUGIN_NAME)
