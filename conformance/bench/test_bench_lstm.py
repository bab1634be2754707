"""Benchmarks: every target (the baselines, every candidate) at every size, forward and
forward+backward, float32: time (pytest-benchmark) and peak memory (in `extra_info`).
Grouped by direction and size.

Each benchmark first checks the target against nn.LSTM at that size (output, and gradients
before timing forward+backward) and fails instead of timing a wrong result.

Without a timing option (--benchmark-only, --benchmark-enable, --benchmark-json, ...) every
benchmark runs once, untimed, at the smallest size: the default test run of this repository
collects this module, so a benchmark that broke fails there. Run it from anywhere with
`pytest --pyargs conformance.bench.test_bench_lstm --benchmark-only ...`, or through
`lstm-conformance bench` (one process per target).
"""
from __future__ import annotations

import pytest
import torch

from conformance.bench import checks, memory, timing
from conformance.bench import targets as bt
from conformance.bench._internal import is_broken, run_candidates
from conformance.bench.environment import environment_info
from conformance.bench.plugin import USED_KEY, timing_requested
from conformance.bench.sizes import Size, parse_sizes

pytestmark = pytest.mark.filterwarnings("ignore:TF32 acceleration on top of oneDNN")
TARGETS_KEY = pytest.StashKey[dict]()


def pytest_generate_tests(metafunc):
    """Parametrize (target, size) by name and size id: plain strings in the JSON's params."""
    if "target" not in metafunc.fixturenames:
        return
    config = metafunc.config
    device = config.getoption("conformance_bench_device")
    config.stash[USED_KEY] = device
    chosen = bt.targets(run_candidates(config), device)
    wanted = config.getoption("conformance_bench_target")
    if wanted:
        unknown = sorted(set(wanted) - {t.name for t in chosen})
        if unknown:
            raise pytest.UsageError(
                f"--conformance-bench-target {', '.join(unknown)}: no such target on {device}; known: "
                f"{', '.join(t.name for t in chosen)} (--impl adds candidates)")
        chosen = [t for t in chosen if t.name in wanted]
    config.stash[TARGETS_KEY] = {t.name: t for t in chosen}
    sizes_text = config.getoption("conformance_bench_sizes") or (
        "all" if timing_requested(config) else "smallest")
    try:
        sizes = parse_sizes(sizes_text)
    except ValueError as exc:
        raise pytest.UsageError(f"--conformance-bench-sizes: {exc}") from None
    pairs = [(t.name, s.id) for t in chosen for s in sizes]
    metafunc.parametrize("target, size", pairs, ids=[f"{t}-{s}" for t, s in pairs],
                         indirect=True)


@pytest.fixture
def target(request) -> bt.Target:
    return request.config.stash[TARGETS_KEY][request.param]


@pytest.fixture
def size(request) -> Size:
    return Size.from_id(request.param)


@pytest.fixture(scope="session")
def bench_device(request) -> str:
    device = request.config.getoption("conformance_bench_device")
    if device == "cuda" and not torch.cuda.is_available():
        pytest.skip("--conformance-bench-device cuda: torch reports no cuda device")
    return device


def _usable(target: bt.Target, device: str, direction: str) -> None:
    """Fail for a candidate that did not load; skip what the target cannot run."""
    if is_broken(target.candidate):
        pytest.fail(target.candidate.error, pytrace=False)
    needs = {"float32", "seq_first", bt.device_type(device)}
    if direction == "fwd+bwd":
        needs.add("backward")
    declared = needs & target.candidate.unsupported
    if declared:
        pytest.skip(f"{target.name} declares {', '.join(sorted(declared))} unsupported")


def _run(benchmark, config, step, target: bt.Target, size: Size, device: str,
         direction: str, check: str) -> None:
    timed = timing_requested(config)
    if not timed:
        benchmark.disabled = True  # this module's items only: one untimed call each
    benchmark.group = f"{direction} {size.id}"
    benchmark.extra_info.update(
        target=target.name, direction=direction, **size.as_dict(),
        onednn=target.onednn if bt.device_type(device) == "cpu" else None,
        cudnn=target.cudnn if bt.device_type(device) == "cuda" else None, check=check,
        **environment_info(device))
    if timed:
        timing.warm_up(step)  # oneDNN/cuDNN primitives, the allocator, lazy initialisation
    benchmark(step)
    # After the timing (which it must not disturb), on the warmed-up step.
    repeats = config.getoption("conformance_bench_memory_repeats") if timed else 1
    benchmark.extra_info.update(memory.measure(step, device, max(1, repeats)).as_extra_info())


def test_forward(benchmark, request, target, size, bench_device):
    device = bench_device
    _usable(target, device, "fwd")
    check = checks.check_output(target, size, device)
    _run(benchmark, request.config, timing.forward_step(target, size, device), target, size,
         device, "fwd", check)


def test_forward_backward(benchmark, request, target, size, bench_device):
    device = bench_device
    _usable(target, device, "fwd+bwd")
    checks.check_output(target, size, device)
    check = checks.check_gradients(target, size, device)
    if check is None:
        pytest.skip(f"{target.name}: its output has no autograd history, no backward to time")
    _run(benchmark, request.config, timing.forward_backward_step(target, size, device),
         target, size, device, "fwd+bwd", check)
