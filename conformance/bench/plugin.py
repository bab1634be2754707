"""pytest plugin of the benchmarks (entry point pytest11 `lstm_conformance_bench`).

Adds the `--bench-*` options of `conformance/bench/test_bench_lstm.py` and, when
$LSTM_CONFORMANCE_BENCH_EVENTS names a file, writes the per-item events that
`lstm-conformance bench` shows as progress. Nothing else happens in a pytest run that does
not collect the benchmark module: in particular, pytest-benchmark is left alone for other
projects' benchmarks (the benchmark module disables timing for its own items only).
"""
from __future__ import annotations

import os

import pytest

TIMING_OPTIONS = ("benchmark_enable", "benchmark_only", "benchmark_json", "benchmark_save",
                  "benchmark_autosave", "benchmark_compare")
USED_KEY = pytest.StashKey[str]()  # set (to the device) when the benchmark module is collected


SIZE_SET_NAMES = ("smallest", "ladder", "sweeps", "all")  # sizes.SIZE_SETS (imports torch)


def pytest_addoption(parser):
    group = parser.getgroup("lstm-conformance benchmarks")
    group.addoption("--conformance-bench-target", action="append", default=[], metavar="NAME",
                    help="time only this target (repeatable): nn.LSTM, nn.LSTM-no-oneDNN, "
                         "nn.LSTM-no-cuDNN or a candidate's name; default: the baselines and "
                         "every candidate (--impl chooses the candidates)")
    group.addoption("--conformance-bench-sizes", default=None, metavar="SIZES",
                    help="comma-separated: " + ", ".join(SIZE_SET_NAMES) + " or NxTxIxH; default: "
                         "all when timing, smallest otherwise")
    group.addoption("--conformance-bench-device", default="cpu", choices=("cpu", "cuda"),
                    help="device the benchmarks run on (default cpu)")
    group.addoption("--conformance-bench-memory-repeats", type=int, default=3, metavar="K",
                    help="peak memory: the least of K calls (default 3; 1 when not timing)")


def timing_requested(config) -> bool:
    """Whether this run times the benchmarks; otherwise each runs once, untimed."""
    return any(config.getoption(name, None) for name in TIMING_OPTIONS)


def pytest_configure(config):
    path = os.environ.get("LSTM_CONFORMANCE_BENCH_EVENTS")
    if path:
        from .progress import EventWriter

        config.pluginmanager.register(EventWriter(path), "lstm-conformance-bench-events")


@pytest.hookimpl(optionalhook=True)
def pytest_benchmark_update_machine_info(config, machine_info):
    device = config.stash.get(USED_KEY, None)
    if device is not None:
        from .environment import environment_info

        machine_info["lstm_conformance"] = environment_info(device)
