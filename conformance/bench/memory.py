"""Peak memory of one call of a step, above what was allocated before the call.

cuda: `torch.cuda.max_memory_allocated` after `reset_peak_memory_stats`, minus
`memory_allocated` before the call (synchronised on both sides). It sees what goes through
torch's caching allocator — every torch tensor — but not memory a candidate allocates
through another library (CuPy, JAX).

cpu: the process' peak resident set size during the call, above its RSS just before it.
`ru_maxrss` only grows, so it cannot give one call's peak in a process that has already run
a larger size; instead (Linux) writing "5" to /proc/self/clear_refs resets the kernel's
peak-RSS counter VmHWM to the current RSS, and VmHWM read after the call is that call's
peak. Before the reset, `gc.collect()` and glibc's `malloc_trim(0)` hand the heap's free
pages back to the kernel: memory that malloc kept from an earlier call would otherwise be
reused without being counted. RSS sees everything the candidate allocates — torch, NumPy,
its own C code — which torch's profiler (torch allocations only) would not. Resolution: one
page (4 KiB); what a call caches for later calls (oneDNN's scratchpad, lazy initialisation)
counts only in the first call, so the step is warmed up first and the least of
`repeats` calls is kept. One process per target (as for the timing), no subprocess per
measurement: cheap enough to measure every (target, size, direction).
"""
from __future__ import annotations

import ctypes
import ctypes.util
import gc
from dataclasses import dataclass
from typing import Callable

import torch

from .targets import device_type

CLEAR_REFS = "/proc/self/clear_refs"
STATUS = "/proc/self/status"
CPU_METHOD = "peak RSS above RSS before the call (/proc/self/clear_refs 5, VmHWM)"
CUDA_METHOD = "torch.cuda.max_memory_allocated above memory_allocated before the call"


@dataclass(frozen=True)
class Peak:
    bytes: int | None  # least of the samples; None when this platform cannot measure it
    samples: tuple[int, ...]
    method: str

    def as_extra_info(self) -> dict:
        return {"peak_memory_bytes": self.bytes, "peak_memory_samples": list(self.samples),
                "memory_method": self.method}


def _status_bytes(field: str) -> int:
    with open(STATUS) as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1]) * 1024  # kB
    raise OSError(f"{STATUS} has no {field}")


def _reset_peak_rss() -> None:
    with open(CLEAR_REFS, "w") as f:
        f.write("5")


_TRIM = None


def _malloc_trim() -> None:
    global _TRIM
    if _TRIM is None:
        try:
            libc = ctypes.CDLL(ctypes.util.find_library("c") or None)
            _TRIM = libc.malloc_trim
            _TRIM.argtypes = [ctypes.c_size_t]
        except (OSError, AttributeError):  # not glibc
            _TRIM = False
    if _TRIM:
        _TRIM(0)


def cpu_peak_available() -> bool:
    try:
        _reset_peak_rss()
        _status_bytes("VmHWM")
        return True
    except OSError:
        return False


def cpu_peak(step: Callable[[], None]) -> int:
    """Peak RSS during one call of `step`, above the RSS before it (bytes)."""
    gc.collect()
    _malloc_trim()
    _reset_peak_rss()
    before = _status_bytes("VmRSS")
    step()
    return max(0, _status_bytes("VmHWM") - before)


def cuda_peak(step: Callable[[], None], device: str) -> int:
    """Peak of torch's cuda allocations during one call of `step`, above those before it."""
    dev = torch.device(device)
    torch.cuda.synchronize(dev)
    torch.cuda.reset_peak_memory_stats(dev)
    before = torch.cuda.memory_allocated(dev)
    step()
    torch.cuda.synchronize(dev)
    return max(0, torch.cuda.max_memory_allocated(dev) - before)


def measure(step: Callable[[], None], device: str, repeats: int = 3) -> Peak:
    """The least peak of `repeats` calls of an already warmed-up step."""
    if device_type(device) == "cuda":
        samples = tuple(cuda_peak(step, device) for _ in range(repeats))
        return Peak(min(samples), samples, CUDA_METHOD)
    if device_type(device) == "cpu" and cpu_peak_available():
        samples = tuple(cpu_peak(step) for _ in range(repeats))
        return Peak(min(samples), samples, CPU_METHOD)
    return Peak(None, (), f"unavailable on {device} here (needs Linux /proc/self/clear_refs)")
