"""The markdown tables of a benchmark run: time and peak memory per target and size, ratios
to nn.LSTM, the sweeps, and the fitted scaling exponents."""
from __future__ import annotations

from .results import DIMS, DIRECTIONS, REFERENCE, ladder, size_label, table, targets_in_order
from .scaling import AXES, exponents, sweep

UNITS = {"time": "ms", "memory": "MiB"}


def fmt(metric: str, value: float | None) -> str:
    if value is None:
        return "–"
    if metric == "memory":
        mib = value / 2**20
        return f"{mib:.3g}" if mib < 1000 else f"{mib:.0f}"
    ms = value * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def _row(cells) -> str:
    return "| " + " | ".join(cells) + " |"


def ladder_table(results, metric: str, reference: str = REFERENCE) -> list[str]:
    values = table(results, metric)
    sizes = ladder(results)
    head = ["target"] + [f"{d} {size_label(s)}" for s in sizes for d in DIRECTIONS]
    lines = [_row(head), "|" + "---|" * len(head)]
    for name in targets_in_order(results):
        cells = [name]
        for size in sizes:
            for direction in DIRECTIONS:
                mine = values.get((name, direction, size))
                ref = values.get((reference, direction, size))
                if mine is None:
                    cells.append("–")
                elif ref and name != reference:
                    cells.append(f"{fmt(metric, mine)} ({mine / ref:.2f}x)")
                else:
                    cells.append(fmt(metric, mine))
        lines.append(_row(cells))
    return lines


def sweep_table(results, axis: str, metric: str) -> list[str]:
    points = sweep(results, axis)
    if not points:
        return []
    values = sorted({getattr(r, axis) for r in points})
    fits = exponents(points, metric)
    fixed = ", ".join(f"{d}={getattr(points[0], d)}" for d in DIMS if d != axis)
    what = "Time" if metric == "time" else "Peak memory"
    lines = ["", f"### {what} ({UNITS[metric]}) against {axis} ({fixed})", "",
             f"{what} grows like {axis}^k; k is the least-squares slope on a log-log scale.", ""]
    head = ["target", "direction"] + [f"{axis}={v}" for v in values] + ["k"]
    lines += [_row(head), "|" + "---|" * len(head)]
    for name in targets_in_order(points):
        for direction in DIRECTIONS:
            row = {getattr(r, axis): r.value(metric) for r in points
                   if r.target == name and r.direction == direction}
            if not row:
                continue
            k = fits.get((name, direction, axis))
            lines.append(_row([name, direction] + [fmt(metric, row.get(v)) for v in values]
                              + ["–" if k is None else f"{k:.2f}"]))
    return lines


def exponent_table(results) -> list[str]:
    """One row per target and direction: the time and memory exponents of every sweep."""
    fits = {metric: exponents(results, metric) for metric in UNITS}
    fits = {metric: fit for metric, fit in fits.items() if fit}
    axes = [a for a in AXES if any(key[2] == a for f in fits.values() for key in f)]
    if not axes:
        return []
    head = ["target", "direction"] + [f"{m} ~ {a}^k" for m in fits for a in axes]
    lines = ["", "### Scaling exponents", "",
             "k fitted to each sweep (log-log least squares): time or peak memory grows like "
             "size^k along that axis.", "", _row(head), "|" + "---|" * len(head)]
    for name in targets_in_order(results):
        for direction in DIRECTIONS:
            cells = [fits[m].get((name, direction, a)) for m in fits for a in axes]
            if all(c is None for c in cells):
                continue
            lines.append(_row([name, direction] + ["–" if c is None else f"{c:.2f}"
                                                  for c in cells]))
    return lines


def failures(env: dict) -> list[str]:
    failed = (env.get("run") or {}).get("failures") or {}
    if not failed:
        return []
    lines = ["", "### Targets that failed (not timed where they failed)", ""]
    for name, problems in sorted(failed.items()):
        lines.append(f"- **{name}**: " + "; ".join(problems))
    return lines


def markdown(results, env: dict, stat: str = "min", reference: str = REFERENCE) -> str:
    memory_method = env.get("memory_method")
    samples = env.get("memory_samples")
    least = f" (least of {samples} calls)" if samples and samples > 1 else ""
    lines = [
        f"Statistic: {stat} time per call, in ms; peak memory in MiB above what was allocated "
        f"before the call{least}. Torch {env.get('torch_version')}, "
        f"{env.get('torch_threads')} thread(s), oneDNN available: "
        f"{env.get('mkldnn_available')}; CPU: {env.get('cpu')} ({env.get('cpu_count')} "
        f"cores); device {env.get('device')}."
        + (f" Memory: {memory_method}." if memory_method else ""),
        "",
        f"### Time (ms) and ratio to {reference}",
        "",
        *ladder_table(results, "time", reference),
    ]
    if table(results, "memory"):
        lines += ["", f"### Peak memory (MiB) and ratio to {reference}", "",
                  *ladder_table(results, "memory", reference)]
    for metric in UNITS:
        if metric == "memory" and not table(results, "memory"):
            continue
        for axis in AXES:
            lines += sweep_table(results, axis, metric)
    lines += exponent_table(results)
    lines += failures(env)
    return "\n".join(lines) + "\n"


def ratios(results, size, reference: str = REFERENCE, metric: str = "time") -> dict:
    """{(target, direction): value / reference value} at one size."""
    values = table(results, metric)
    out = {}
    for (name, direction, s), value in values.items():
        ref = values.get((reference, direction, s))
        if s == size and ref:
            out[(name, direction)] = value / ref
    return out
