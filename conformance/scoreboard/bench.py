"""Speed next to nn.LSTM from a pytest-benchmark JSON (`python -m benchmarks.run --json`).

Each benchmark names its target (extra_info["target"], else the first part of its
parameter id) and its group (e.g. "fwd N32-T100-I128-H128"); a candidate's speed is its
minimum time over nn.LSTM's minimum in the same group.
"""
from __future__ import annotations

import json
from pathlib import Path

REFERENCE = "nn.LSTM"
DEFAULT_GROUP = "fwd N32-T100-I128-H128"


def target_of(bench: dict) -> str:
    target = (bench.get("extra_info") or {}).get("target")
    if target:
        return target
    param = bench.get("param") or bench.get("name", "")
    return param.split("[")[-1].split("-N")[0]


def ratios(path: str | Path, group: str | None = None) -> tuple[str, dict[str, float]]:
    """(group used, {target: time / nn.LSTM's time}) for one group of the benchmark file."""
    benches = json.loads(Path(path).read_text())["benchmarks"]
    groups = {b["group"] for b in benches}
    if group is None:
        group = DEFAULT_GROUP if DEFAULT_GROUP in groups else sorted(groups)[0]
    times = {target_of(b): b["stats"]["min"] for b in benches if b["group"] == group}
    if REFERENCE not in times:
        raise ValueError(f"{path}: group {group!r} has no {REFERENCE} benchmark")
    return group, {t: s / times[REFERENCE] for t, s in times.items()}
