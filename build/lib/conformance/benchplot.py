"""`lstm-conformance-plot BENCH.json -o DIR`: plots and tables from a benchmark JSON.

Reads a pytest-benchmark JSON written by the benchmarks (`python -m benchmarks.run`, or
pytest with --benchmark-json) and writes into DIR:

    time_vs_T.png   time against sequence length T, one line per target   (sweep over T)
    time_vs_H.png   time against hidden size H                             (sweep over H)
    time_vs_N.png   time against batch size N                              (sweep over N)
    ratio.png       each target's time divided by nn.LSTM's, at every ladder size
    summary.md      the same numbers as markdown tables, with growth exponents

Each figure has a forward panel and a forward+backward panel. A sweep figure is written only
when the JSON holds a sweep (sizes that differ in that one dimension). Times are each
benchmark's minimum by default (the least disturbed round on a shared machine); --stat
chooses another of pytest-benchmark's statistics.
"""
from __future__ import annotations

import argparse
import json
import math
import sys
from collections import defaultdict
from dataclasses import dataclass
from pathlib import Path

REFERENCE = "nn.LSTM"
NO_ONEDNN = "nn.LSTM-no-oneDNN"
DIRECTIONS = ("fwd", "fwd+bwd")
DIRECTION_TITLES = {"fwd": "forward (no_grad)", "fwd+bwd": "forward + backward"}
AXES = ("T", "H", "N")
AXIS_TITLES = {"T": "sequence length T", "H": "hidden size H", "N": "batch size N"}
DIMS = ("N", "T", "I", "H")


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

    @property
    def size(self) -> tuple[int, int, int, int]:
        return (self.N, self.T, self.I, self.H)


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
        results.append(Result(info["target"], info["direction"],
                              *(int(info[d]) for d in DIMS), float(bench["stats"][stat]),
                              tuple(info.get("size_sets", ()))))
    return results


def header(path) -> dict:
    """Environment of the run: torch build, threads, machine (from the JSON)."""
    data = json.loads(Path(path).read_text())
    env = dict(data.get("machine_info", {}).get("lstm_conformance", {}))
    for bench in data.get("benchmarks", []):  # a plain pytest run: take the first extra_info
        env = env or {k: v for k, v in bench.get("extra_info", {}).items()
                      if k not in ("target", "direction", *DIMS, "size_sets", "check", "onednn")}
        break
    env["python"] = data.get("machine_info", {}).get("python_version")
    env["commit"] = data.get("commit_info", {}).get("id")
    env["datetime"] = data.get("datetime")
    return env


def targets_in_order(results) -> list[str]:
    names = sorted({r.target for r in results})
    baselines = [n for n in (REFERENCE, NO_ONEDNN) if n in names]
    return baselines + [n for n in names if n not in baselines]


def sweep(results, axis: str) -> list[Result]:
    """The results of the sweep along `axis`: tagged sweep-<axis>, or else the largest set of
    sizes that agree in every other dimension (at least 3 values of `axis`)."""
    tagged = [r for r in results if f"sweep-{axis}" in r.size_sets]
    if len({getattr(r, axis) for r in tagged}) >= 2:
        return tagged
    others = [d for d in DIMS if d != axis]
    groups = defaultdict(list)
    for r in results:
        groups[tuple(getattr(r, d) for d in others)].append(r)
    best = max(groups.values(), key=lambda rs: len({getattr(r, axis) for r in rs}), default=[])
    return best if len({getattr(r, axis) for r in best}) >= 3 else []


def ladder(results) -> list[tuple]:
    """Sizes for the ratio figure: those tagged 'ladder' (when two or more are), or else every
    size, smallest first."""
    tagged = {r.size for r in results if "ladder" in r.size_sets}
    sizes = tagged if len(tagged) >= 2 else {r.size for r in results}
    return sorted(sizes, key=lambda s: (math.prod(s), s))


def table(results) -> dict:
    return {(r.target, r.direction, r.size): r.seconds for r in results}


def growth_exponent(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(time) against log(x): time grows like x**slope."""
    if len(points) < 2:
        return None
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(t) for _, t in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else None


# -- figures ------------------------------------------------------------------------------

def _style(names):
    import matplotlib.pyplot as plt

    colors = plt.get_cmap("tab10").colors
    styles, k = {}, 0
    for name in names:
        if name == REFERENCE:
            styles[name] = dict(color="black", linewidth=2.2, marker="o")
        elif name == NO_ONEDNN:
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


def plot_sweep(results, axis: str, path: Path, subtitle: str) -> bool:
    points = sweep(results, axis)
    if not points:
        return False
    names = targets_in_order(points)
    styles = _style(names)
    fixed = ", ".join(f"{d}={getattr(points[0], d)}" for d in DIMS if d != axis)
    fig, panels = _figure(f"Time against {AXIS_TITLES[axis]} ({fixed}); {subtitle}")
    for panel, direction in zip(panels, DIRECTIONS):
        for name in names:
            line = sorted((getattr(r, axis), r.seconds * 1e3) for r in points
                          if r.target == name and r.direction == direction)
            if line:
                panel.plot(*zip(*line), label=name, **styles[name])
        panel.set_xscale("log", base=2)
        panel.set_yscale("log")
        values = sorted({getattr(r, axis) for r in points})
        panel.set_xticks(values, [str(v) for v in values])
        panel.minorticks_off()
        panel.set_xlabel(AXIS_TITLES[axis])
        panel.set_ylabel("time per call (ms, log scale)")
        panel.set_title(DIRECTION_TITLES[direction])
        panel.grid(True, which="major", alpha=0.3)
    panels[0].legend(fontsize=9)
    fig.savefig(path, dpi=80)
    _close(fig)
    return True


def plot_ratio(results, path: Path, subtitle: str, reference: str = REFERENCE) -> bool:
    from matplotlib.ticker import NullFormatter, ScalarFormatter

    times = table(results)
    sizes = ladder(results)
    names = [n for n in targets_in_order(results) if n != reference]
    if not names or not any((reference, d, s) in times for d in DIRECTIONS for s in sizes):
        return False
    styles = _style([reference, *names])
    fig, panels = _figure(f"Time relative to {reference} (lower is faster); {subtitle}")
    width = 0.8 / len(names)
    for panel, direction in zip(panels, DIRECTIONS):
        for k, name in enumerate(names):
            xs, ys = [], []
            for i, size in enumerate(sizes):
                mine, ref = times.get((name, direction, size)), times.get((reference, direction, size))
                if mine and ref:
                    xs.append(i - 0.4 + width * (k + 0.5))
                    ys.append(mine / ref)
            panel.bar(xs, ys, width=width * 0.92, label=name, color=styles[name]["color"],
                      hatch="//" if name == NO_ONEDNN else None, edgecolor="white")
            for x, y in zip(xs, ys):
                panel.annotate(f"{y:.1f}", (x, y), ha="center", va="bottom", fontsize=6,
                               xytext=(0, 1), textcoords="offset points")
        panel.axhline(1.0, color="black", linewidth=1)
        panel.set_yscale("log")
        panel.yaxis.set_major_formatter(ScalarFormatter())  # 2, 5, not 2x10^0
        panel.yaxis.set_minor_formatter(NullFormatter())
        panel.set_xticks(range(len(sizes)), ["N{}-T{}\nI{}-H{}".format(*s) for s in sizes],
                         fontsize=8)
        panel.set_ylabel(f"time / {reference} time (log scale)")
        panel.set_title(DIRECTION_TITLES[direction])
        panel.grid(True, axis="y", alpha=0.3)
    panels[0].legend(fontsize=9)
    fig.savefig(path, dpi=80)
    _close(fig)
    return True


def _close(fig):
    import matplotlib.pyplot as plt

    plt.close(fig)


# -- markdown -----------------------------------------------------------------------------

def _ms(seconds: float | None) -> str:
    if seconds is None:
        return "–"
    ms = seconds * 1e3
    return f"{ms:.3g}" if ms < 100 else f"{ms:.0f}"


def markdown(results, env: dict, stat: str, reference: str = REFERENCE) -> str:
    times = table(results)
    names = targets_in_order(results)
    lines = [
        f"Statistic: {stat} time per call, in ms. Torch {env.get('torch_version')}, "
        f"{env.get('torch_threads')} thread(s), oneDNN available: "
        f"{env.get('mkldnn_available')}; CPU: {env.get('cpu')} ({env.get('cpu_count')} "
        f"cores); device {env.get('device')}.",
        "",
        f"### Time and ratio to {reference}",
        "",
    ]
    sizes = ladder(results)
    head = ["target"] + [f"{d} {size_label(s)}" for s in sizes for d in DIRECTIONS]
    lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name in names:
        cells = [name]
        for size in sizes:
            for direction in DIRECTIONS:
                mine = times.get((name, direction, size))
                ref = times.get((reference, direction, size))
                if mine is None:
                    cells.append("–")
                elif ref and name != reference:
                    cells.append(f"{_ms(mine)} ({mine / ref:.2f}x)")
                else:
                    cells.append(_ms(mine))
        lines.append("| " + " | ".join(cells) + " |")
    for axis in AXES:
        points = sweep(results, axis)
        if not points:
            continue
        values = sorted({getattr(r, axis) for r in points})
        fixed = ", ".join(f"{d}={getattr(points[0], d)}" for d in DIMS if d != axis)
        lines += ["", f"### Growth with {axis} ({fixed})", "",
                  "Time grows like " + axis + "^k; k is the least-squares slope on a log-log "
                  "scale.", ""]
        head = ["target", "direction"] + [f"{axis}={v}" for v in values] + ["k"]
        lines += ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
        for name in names:
            for direction in DIRECTIONS:
                row = {getattr(r, axis): r.seconds for r in points
                       if r.target == name and r.direction == direction}
                if not row:
                    continue
                k = growth_exponent(sorted(row.items()))
                lines.append("| " + " | ".join(
                    [name, direction] + [_ms(row.get(v)) for v in values]
                    + ["–" if k is None else f"{k:.2f}"]) + " |")
    return "\n".join(lines) + "\n"


def ratios(results, size, reference: str = REFERENCE) -> dict:
    """{(target, direction): time / reference time} at one size."""
    times = table(results)
    out = {}
    for (name, direction, s), seconds in times.items():
        ref = times.get((reference, direction, s))
        if s == size and ref:
            out[(name, direction)] = seconds / ref
    return out


# -- command line -------------------------------------------------------------------------

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

    try:
        import matplotlib
    except ImportError:
        parser.error("needs matplotlib: python -m pip install matplotlib "
                     "(or install this package with its [plot] extra)")
    matplotlib.use("Agg")

    results = load(args.json, args.stat)
    if not results:
        parser.error(f"{args.json}: no LSTM benchmark results in it (was it timed? an untimed "
                     "run writes none)")
    env = header(args.json)
    out = Path(args.output)
    out.mkdir(parents=True, exist_ok=True)
    subtitle = (f"{args.stat}, {env.get('torch_threads')} threads, "
                f"torch {env.get('torch_version')}")
    written = []
    for axis in AXES:
        if plot_sweep(results, axis, out / f"time_vs_{axis}.png", subtitle):
            written.append(f"time_vs_{axis}.png")
    if plot_ratio(results, out / "ratio.png", subtitle, args.reference):
        written.append("ratio.png")
    summary = markdown(results, env, args.stat, args.reference)
    (out / "summary.md").write_text(summary)
    written.append("summary.md")
    print(summary)
    print(f"wrote {', '.join(written)} in {out}")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
