"""Installing the package changes nothing in a pytest session that did not ask for the suite.

A small foreign project, written the way PyTorch projects are (its own `--device` option,
its own Hypothesis profile, its own torch thread count), runs with the plugin installed
exactly as with it blocked (`-p no:lstm_conformance`).
"""
import json
import sys


pytest_plugins = ["pytester"]

CONFTEST = '''
import torch
from hypothesis import settings

settings.register_profile("theirs", max_examples=7, deadline=123)
settings.load_profile("theirs")
torch.set_num_threads(3)


def pytest_addoption(parser):
    parser.addoption("--device", default="cpu")
'''

TEST = '''
import json, sys

import torch
from hypothesis import given, settings, strategies as st


def test_their_world(request):
    seen = {
        "device": request.config.getoption("device"),
        "max_examples": settings().max_examples,
        "deadline_ms": settings().deadline.total_seconds() * 1000,
        "threads": torch.get_num_threads(),
        # The two pytest11 modules (conformance.plugin, conformance.bench.plugin) load in
        # every session; nothing else of the package may.
        "suite_modules": sorted(m for m in sys.modules if m.startswith((
            "conformance.model", "conformance.core", "conformance.checks",
            "conformance.diagnosis", "conformance.suite", "conformance.impls",
            "conformance.adapters", "conformance.scoreboard", "conformance.plugin.",
            "impls", "tests.catalog")) or m.startswith("conformance.bench.")
            and m != "conformance.bench.plugin"),
        "plugins": sorted(name for name, _ in request.config.pluginmanager.list_name_plugin()
                          if name and "conformance" in name),
        "markers": [line for line in request.config.getini("markers") if "conformance" in line],
    }
    with open("seen.json", "w") as f:
        json.dump(seen, f)


@given(st.integers())
def test_their_property(n):
    assert isinstance(n, int)
'''


def run_foreign(pytester, *extra):
    pytester.makeconftest(CONFTEST)
    pytester.makepyfile(test_theirs=TEST)
    result = pytester.runpytest_subprocess("--device", "gpu0", "-p", "no:cacheprovider", *extra)
    seen = json.loads((pytester.path / "seen.json").read_text())
    return result, seen


def test_a_foreign_project_runs_as_without_the_plugin(pytester):
    with_plugin, seen = run_foreign(pytester)
    with_plugin.assert_outcomes(passed=2)
    without, seen_without = run_foreign(pytester, "-p", "no:lstm_conformance")
    without.assert_outcomes(passed=2)
    assert seen["device"] == "gpu0"  # no clash with a --device of the suite's
    assert (seen["max_examples"], seen["deadline_ms"]) == (7, 123)  # their profile
    assert seen["threads"] == 3  # their thread count
    assert seen["suite_modules"] == [], "the plugin imported the suite or a candidate"
    assert seen["markers"] == []
    assert "lstm-conformance-run" not in seen["plugins"]
    for key in ("device", "max_examples", "deadline_ms", "threads", "suite_modules", "markers"):
        assert seen[key] == seen_without[key], key


def test_the_plugin_adds_only_prefixed_options(pytester):
    config = pytester.parseconfig()
    group = config._parser.getgroup("lstm-conformance")
    names = [name for option in group.options for name in option.names()]
    assert names and all(name.startswith("--conformance-") for name in names), names


def test_the_suite_turns_the_plugin_on(pytester):
    """Collecting the suite (or giving one of its options) is what asks for it."""
    result = pytester.runpytest_subprocess("--pyargs", "conformance.suite", "-p",
                                           "no:cacheprovider", "--conformance-impl", "numpy",
                                           "-k", "candidate_loads")
    result.assert_outcomes(passed=1)
    result.stdout.fnmatch_lines(["*LSTM conformance verdict*", "numpy *"])


def test_the_command_keeps_its_short_options():
    from conformance.cli import pytest_arguments

    assert pytest_arguments(["--impl", "x", "--device=cpu", "--impl-fail-fast", "-k", "t",
                             "--example-timeout", "3", "--torch-threads", "2"]) == [
        "--conformance-impl", "x", "--conformance-device=cpu", "--conformance-fail-fast",
        "-k", "t", "--conformance-example-timeout", "3", "--conformance-torch-threads", "2"]


def test_the_wheel_holds_no_generic_top_level_package(tmp_path):
    """The built-ins ship as conformance.impls: a user's own `impls` stays theirs."""
    import subprocess
    import zipfile
    from pathlib import Path

    import shutil

    repo = Path(__file__).resolve().parent.parent
    source = tmp_path / "source"  # a copy: building writes build/ and *.egg-info beside it
    shutil.copytree(repo, source, ignore=shutil.ignore_patterns(
        ".git", ".venv", "build", "*.egg-info", ".hypothesis", "__pycache__", "docs"))
    subprocess.run([sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
                    "-q", "-w", str(tmp_path), str(source)], check=True, timeout=300)
    [wheel] = tmp_path.glob("lstm_conformance-*.whl")
    names = zipfile.ZipFile(wheel).namelist()
    tops = {name.split("/")[0] for name in names if not name.split("/")[0].endswith(".dist-info")}
    assert tops == {"conformance"}, tops
    assert "conformance/impls/numpy_lstm.py" in names
    assert "conformance/suite/test_all_axes.py" in names
