"""pytest configuration of the benchmarks: their options, and the untimed default run.

A plain `pytest` (benchmarks/ is in testpaths) runs every benchmark once, untimed, at the
smallest size only: a few seconds, and a benchmark that broke still fails. Timing happens
when it is asked for, with any of --benchmark-only, --benchmark-enable, --benchmark-json,
--benchmark-save, --benchmark-autosave or --benchmark-compare; then every size is timed
unless --bench-sizes says otherwise. `python -m benchmarks.run` does that per target, each
in its own process (see docs/benchmarks.md).
"""
from __future__ import annotations

import pytest

from benchmarks.targets import SIZE_SETS, environment_info

TIMING_OPTIONS = ("benchmark_enable", "benchmark_only", "benchmark_json", "benchmark_save",
                  "benchmark_autosave", "benchmark_compare")


def pytest_addoption(parser):
    group = parser.getgroup("lstm-conformance benchmarks")
    group.addoption("--bench-target", action="append", default=[], metavar="NAME",
                    help="time only this target (repeatable): nn.LSTM, nn.LSTM-no-oneDNN or a "
                         "candidate's name; default: the baselines and every candidate "
                         "(--impl chooses the candidates)")
    group.addoption("--bench-sizes", default=None, metavar="SIZES",
                    help="comma-separated: " + ", ".join(SIZE_SETS) + " or NxTxIxH; default: "
                         "all when timing, smallest otherwise")
    group.addoption("--bench-device", default="cpu", choices=("cpu", "cuda"),
                    help="device the benchmarks run on (default cpu)")


def timing_requested(config) -> bool:
    return any(config.getoption(name, None) for name in TIMING_OPTIONS)


@pytest.hookimpl(tryfirst=True)  # before pytest-benchmark's own (trylast) pytest_configure
def pytest_configure(config):
    config.addinivalue_line("filterwarnings", "ignore:TF32 acceleration on top of oneDNN")
    if not timing_requested(config):
        config.option.benchmark_disable = True  # run each benchmark once, untimed
        session = getattr(config, "_benchmarksession", None)
        if session is not None:  # this conftest was loaded late: pytest-benchmark is set up
            session.disabled = True


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config, machine_info):
    machine_info["lstm_conformance"] = environment_info(config.getoption("bench_device"))
