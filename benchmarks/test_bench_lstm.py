"""Benchmarks: every target (nn.LSTM, nn.LSTM without oneDNN, every candidate) at every
size, forward and forward+backward, float32. Grouped by direction and size.

Each benchmark first checks the target against nn.LSTM at that size (output, and gradients
before timing forward+backward) and fails instead of timing a wrong result.
"""
from __future__ import annotations

import pytest
import torch

from benchmarks import targets as bt
from benchmarks.conftest import timing_requested
from conformance.plugin import RUN_KEY
from conformance.run import is_broken


TARGETS_KEY = pytest.StashKey[dict]()


def pytest_generate_tests(metafunc):
    """Parametrize (target, size) by name and size id: plain strings in the JSON's params."""
    if "target" not in metafunc.fixturenames:
        return
    config = metafunc.config
    chosen = bt.targets(config.stash[RUN_KEY].candidates)
    wanted = config.getoption("bench_target")
    if wanted:
        unknown = sorted(set(wanted) - {t.name for t in chosen})
        if unknown:
            raise pytest.UsageError(
                f"--bench-target {', '.join(unknown)}: no such target; known: "
                f"{', '.join(t.name for t in chosen)} (--impl adds candidates)")
        chosen = [t for t in chosen if t.name in wanted]
    config.stash[TARGETS_KEY] = {t.name: t for t in chosen}
    sizes_text = config.getoption("bench_sizes") or (
        "all" if timing_requested(config) else "smallest")
    try:
        sizes = bt.parse_sizes(sizes_text)
    except ValueError as exc:
        raise pytest.UsageError(f"--bench-sizes: {exc}") from None
    pairs = [(t.name, s.id) for t in chosen for s in sizes]
    metafunc.parametrize("target, size", pairs, ids=[f"{t}-{s}" for t, s in pairs],
                         indirect=True)


@pytest.fixture
def target(request) -> bt.Target:
    return request.config.stash[TARGETS_KEY][request.param]


@pytest.fixture
def size(request) -> bt.Size:
    return bt.Size.from_id(request.param)


@pytest.fixture(scope="session")
def bench_device(request) -> str:
    device = request.config.getoption("bench_device")
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("--bench-device cuda: torch reports no cuda device")
    return device


def _usable(target: bt.Target, device: str, direction: str) -> None:
    """Fail for a candidate that did not load; skip what the target cannot run."""
    if is_broken(target.candidate):
        pytest.fail(target.candidate.error, pytrace=False)
    if target.name == bt.NO_ONEDNN and device != "cpu":
        pytest.skip("oneDNN is a CPU library: nothing to disable on " + device)
    needs = {"float32", "seq_first", torch.device(device).type}
    if direction == bt.FORWARD_BACKWARD:
        needs.add("backward")
    declared = needs & target.candidate.unsupported
    if declared:
        pytest.skip(f"{target.name} declares {', '.join(sorted(declared))} unsupported")


def _run(benchmark, step, target: bt.Target, size: bt.Size, device: str, direction: str,
         check: str) -> None:
    benchmark.group = f"{direction} {size.id}"
    benchmark.extra_info.update(
        target=target.name, direction=direction, **size.as_dict(), onednn=target.onednn,
        check=check, **bt.environment_info(device))
    if benchmark.enabled:
        step()  # warm-up: oneDNN primitives, the allocator, lazy initialisation
        step()
    benchmark(step)


def test_forward(benchmark, target, size, bench_device):
    device = bench_device
    _usable(target, device, bt.FORWARD)
    check = bt.check_output(target, size, device)
    _run(benchmark, bt.forward_step(target, size, device), target, size, device, bt.FORWARD,
         check)


def test_forward_backward(benchmark, target, size, bench_device):
    device = bench_device
    _usable(target, device, bt.FORWARD_BACKWARD)
    bt.check_output(target, size, device)
    check = bt.check_gradients(target, size, device)
    if check is None:
        pytest.skip(f"{target.name}: its output has no autograd history, no backward to time")
    _run(benchmark, bt.forward_backward_step(target, size, device), target, size, device,
         bt.FORWARD_BACKWARD, check)
