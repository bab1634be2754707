"""`lstm-conformance-plot BENCH.json -o DIR`: plots and tables from a benchmark JSON.

Reads a pytest-benchmark JSON written by the benchmarks (`lstm-conformance bench`, or
pytest with --benchmark-json) and writes into DIR:

    time_vs_T.png     time against sequence length T, one line per target   (sweep over T)
    time_vs_H.png     time against hidden size H                             (sweep over H)
    time_vs_N.png     time against batch size N                              (sweep over N)
    ratio.png         each target's time divided by nn.LSTM's, at every ladder size
    memory_vs_T.png   peak memory against T (and _H, _N), as the time figures
    memory_ratio.png  each target's peak memory divided by nn.LSTM's, at every ladder size
    summary.md        the same numbers as markdown tables, with the scaling exponents

Each figure has a forward panel and a forward+backward panel. A sweep figure is written only
when the JSON holds a sweep (sizes that differ in that one dimension), a memory figure only
when it holds memory. Times are each benchmark's minimum by default (the least disturbed
round on a shared machine); --stat chooses another of pytest-benchmark's statistics.
"""
from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path

from .results import (DIMS, DIRECTIONS, OTHER_BASELINES, REFERENCE, header, ladder, load,
                      table, targets_in_order)
from .scaling import AXES, sweep
from .summary import markdown

NO_ONEDNN = OTHER_BASELINES[0]
DIRECTION_TITLES = {"fwd": "forward (no_grad)", "fwd+bwd": "forward + backward"}
AXIS_TITLES = {"T": "sequence length T", "H": "hidden size H", "N": "batch size N"}
METRIC_TITLES = {"time": "Time", "memory": "Peak memory"}
METRIC_LABELS = {"time": "time per call (ms, log scale)",
                 "memory": "peak memory above baseline (MiB, log scale)"}
METRIC_SCALE = {"time": 1e3, "memory": 1 / 2**20}
FIGURE_PREFIX = {"time": "time", "memory": "memory"}
RATIO_FIGURE = {"time": "ratio.png", "memory": "memory_ratio.png"}


def _style(names):
    import matplotlib.pyplot as plt

    colors = plt.get_cmap("tab10").colors
    styles, k = {}, 0
    for name in names:
        if name == REFERENCE:
            styles[name] = dict(color="black", linewidth=2.2, marker="o")
        elif name in OTHER_BASELINES:
            styles[name] = dict(color="0.45", linestyle="--", linewidth=1.8, marker="s")
        else:
            styles[name] = dict(color=colors[k % len(colors)], marker="^v<>Dph*"[k % 8])
            k += 1
    return styles


def _figure(title: str):
    import matplotlib.pyplot as plt

    fig, panels = plt.subplots(1, 2, figsize=(12, 4.6), constrained_layout=True)
    fig.suptitle(title, fontsize=12)
    return fig, panels


def _close(fig):
    import matplotlib.pyplot as plt

    plt.close(fig)


def plot_sweep(results, axis: str, path: Path, subtitle: str, metric: str = "time") -> bool:
    points = [r for r in sweep(results, axis) if r.value(metric)]
    if not points:
        return False
    names = targets_in_order(points)
    styles = _style(names)
    fixed = ", ".join(f"{d}={getattr(points[0], d)}" for d in DIMS if d != axis)
    fig, panels = _figure(f"{METRIC_TITLES[metric]} against {AXIS_TITLES[axis]} ({fixed}); "
                          f"{subtitle}")
    for panel, direction in zip(panels, DIRECTIONS):
        for name in names:
            line = sorted((getattr(r, axis), r.value(metric) * METRIC_SCALE[metric])
                          for r in points if r.target == name and r.direction == direction)
            if line:
                panel.plot(*zip(*line), label=name, **styles[name])
        panel.set_xscale("log", base=2)
        panel.set_yscale("log")
        values = sorted({getattr(r, axis) for r in points})
        panel.set_xticks(values, [str(v) for v in values])
        panel.minorticks_off()
        panel.set_xlabel(AXIS_TITLES[axis])
        panel.set_ylabel(METRIC_LABELS[metric])
        panel.set_title(DIRECTION_TITLES[direction])
        panel.grid(True, which="major", alpha=0.3)
    panels[0].legend(fontsize=9)
    fig.savefig(path, dpi=80)
    _close(fig)
    return True


def plot_ratio(results, path: Path, subtitle: str, reference: str = REFERENCE,
               metric: str = "time") -> bool:
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    values = table(results, metric)
    sizes = ladder(results)
    names = [n for n in targets_in_order(results) if n != reference]
    if not names or not any((reference, d, s) in values for d in DIRECTIONS for s in sizes):
        return False
    styles = _style([reference, *names])
    what = METRIC_TITLES[metric].lower()
    fig, panels = _figure(f"{what.capitalize()} relative to {reference} (lower is better); "
                          f"{subtitle}")
    width = 0.8 / len(names)
    for panel, direction in zip(panels, DIRECTIONS):
        for k, name in enumerate(names):
            xs, ys = [], []
            for i, size in enumerate(sizes):
                mine, ref = values.get((name, direction, size)), values.get((reference, direction, size))
                if mine and ref:
                    xs.append(i - 0.4 + width * (k + 0.5))
                    ys.append(mine / ref)
            panel.bar(xs, ys, width=width * 0.92, label=name, color=styles[name]["color"],
                      hatch="//" if name in OTHER_BASELINES else None, edgecolor="white")
            for x, y in zip(xs, ys):
                panel.annotate(f"{y:.1f}", (x, y), ha="center", va="bottom", fontsize=6,
                               xytext=(0, 1), textcoords="offset points")
        panel.axhline(1.0, color="black", linewidth=1)
        panel.set_yscale("log")
        panel.yaxis.set_major_formatter(ScalarFormatter())  # 2, 5, not 2x10^0
        panel.yaxis.set_minor_formatter(NullFormatter())
        panel.set_xticks(range(len(sizes)), ["N{}-T{}\nI{}-H{}".format(*s) for s in sizes],
                         fontsize=8)
        panel.set_ylabel(f"{what} / {reference} {what} (log scale)")
        panel.set_title(DIRECTION_TITLES[direction])
        panel.grid(True, axis="y", alpha=0.3)
    panels[0].legend(fontsize=9)
    fig.savefig(path, dpi=80)
    _close(fig)
    return True


def write(json_path, output, stat: str = "min", reference: str = REFERENCE,
          figures: bool = True) -> tuple[str, list[str]]:
    """Write summary.md (and, with matplotlib and `figures`, the PNGs) into `output`.
    Returns (the summary's text, the names written). Raises ValueError without results."""
    results = load(json_path, stat)
    if not results:
        raise ValueError(f"{json_path}: no LSTM benchmark results in it (was it timed? an "
                         "untimed run writes none)")
    env = header(json_path)
    out = Path(output)
    out.mkdir(parents=True, exist_ok=True)
    written = []
    if figures:
        import matplotlib

        matplotlib.use("Agg")
        subtitle = (f"{stat}, {env.get('torch_threads')} threads, "
                    f"torch {env.get('torch_version')}")
        for metric in ("time", "memory"):
            for axis in AXES:
                name = f"{FIGURE_PREFIX[metric]}_vs_{axis}.png"
                if plot_sweep(results, axis, out / name, subtitle, metric):
                    written.append(name)
            if plot_ratio(results, out / RATIO_FIGURE[metric], subtitle, reference, metric):
                written.append(RATIO_FIGURE[metric])
    summary = markdown(results, env, stat, reference)
    (out / "summary.md").write_text(summary)
    written.append("summary.md")
    return summary, written


def matplotlib_available() -> bool:
    try:
        importlib.import_module("matplotlib")
    except ImportError:
        return False
    return True


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="lstm-conformance-plot", description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("json", help="pytest-benchmark JSON of the LSTM benchmarks")
    parser.add_argument("-o", "--output", default="bench-plots", metavar="DIR",
                        help="directory for the PNGs and summary.md (default: %(default)s)")
    parser.add_argument("--stat", default="min", choices=("min", "median", "mean", "max"),
                        help="statistic of each benchmark to plot (default: %(default)s)")
    parser.add_argument("--reference", default=REFERENCE,
                        help="target the ratios are relative to (default: %(default)s)")
    args = parser.parse_args(sys.argv[1:] if argv is None else argv)
    if not matplotlib_available():
        parser.error("needs matplotlib: python -m pip install matplotlib "
                     "(or install this package with its [plot] extra)")
    try:
        summary, written = write(args.json, args.output, args.stat, args.reference)
    except ValueError as exc:
        parser.error(str(exc))
    print(summary)
    print(f"wrote {', '.join(written)} in {args.output}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
