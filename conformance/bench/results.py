"""Reading a benchmark JSON (pytest-benchmark's format, our `extra_info`) back."""
from __future__ import annotations

import json
import math
from dataclasses import dataclass
from pathlib import Path

REFERENCE = "nn.LSTM"  # = targets.REFERENCE; not imported, to keep plotting free of torch
OTHER_BASELINES = ("nn.LSTM-no-oneDNN", "nn.LSTM-no-cuDNN")
DIRECTIONS = ("fwd", "fwd+bwd")
DIMS = ("N", "T", "I", "H")
METRICS = ("time", "memory")


@dataclass(frozen=True)
class Result:
    target: str
    direction: str
    N: int
    T: int
    I: int  # noqa: E741
    H: int
    seconds: float
    size_sets: tuple[str, ...] = ()
    peak_bytes: int | None = None

    @property
    def size(self) -> tuple[int, int, int, int]:
        return (self.N, self.T, self.I, self.H)

    def value(self, metric: str) -> float | None:
        """seconds for "time", peak bytes for "memory" (None when not measured)."""
        return self.seconds if metric == "time" else self.peak_bytes


def size_label(size) -> str:
    return "N{}-T{}-I{}-H{}".format(*size)


def load(path, stat: str = "min") -> list[Result]:
    """The results of a benchmark JSON (entries without our extra_info are ignored)."""
    data = json.loads(Path(path).read_text())
    results = []
    for bench in data.get("benchmarks", []):
        info = bench.get("extra_info", {})
        if "target" not in info or "direction" not in info:
            continue
        peak = info.get("peak_memory_bytes")
        results.append(Result(info["target"], info["direction"],
                              *(int(info[d]) for d in DIMS), float(bench["stats"][stat]),
                              tuple(info.get("size_sets", ())),
                              None if peak is None else int(peak)))
    return results


def header(path) -> dict:
    """Environment of the run: torch build, threads, machine (from the JSON)."""
    data = json.loads(Path(path).read_text())
    env = dict(data.get("machine_info", {}).get("lstm_conformance", {}))
    for bench in data.get("benchmarks", []):  # a plain pytest run: take the first extra_info
        env = env or {k: v for k, v in bench.get("extra_info", {}).items()
                      if k not in ("target", "direction", *DIMS, "size_sets", "check", "onednn",
                                   "cudnn") and not k.startswith("peak_memory")}
        break
    env["python"] = data.get("machine_info", {}).get("python_version")
    env["commit"] = data.get("commit_info", {}).get("id")
    env["datetime"] = data.get("datetime")
    env["run"] = data.get("lstm_conformance_run", {})
    for bench in data.get("benchmarks", []):
        if "memory_method" in bench.get("extra_info", {}):
            env.setdefault("memory_method", bench["extra_info"]["memory_method"])
            env.setdefault("memory_samples", len(bench["extra_info"].get(
                "peak_memory_samples") or []))
            break
    return env


def targets_in_order(results) -> list[str]:
    names = sorted({r.target for r in results})
    baselines = [n for n in (REFERENCE, *OTHER_BASELINES) if n in names]
    return baselines + [n for n in names if n not in baselines]


def ladder(results) -> list[tuple]:
    """Sizes for the ladder tables and figures: those tagged 'ladder' (when two or more
    are), or else every size, smallest first."""
    tagged = {r.size for r in results if "ladder" in r.size_sets}
    sizes = tagged if len(tagged) >= 2 else {r.size for r in results}
    return sorted(sizes, key=lambda s: (math.prod(s), s))


def table(results, metric: str = "time") -> dict:
    """{(target, direction, size): value}, without unmeasured values."""
    return {(r.target, r.direction, r.size): r.value(metric) for r in results
            if r.value(metric) is not None}
