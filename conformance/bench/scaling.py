"""How time and memory grow with T, N and H: exponents fitted to the sweeps.

The exponent k of an axis is the least-squares slope of log(value) against log(axis value)
over a sweep (the other dimensions fixed): the value grows like T^k, H^k, N^k.
"""
from __future__ import annotations

import math
from collections import defaultdict

from .results import DIMS, DIRECTIONS, targets_in_order

AXES = ("T", "H", "N")


def growth_exponent(points: list[tuple[float, float]]) -> float | None:
    """Least-squares slope of log(y) against log(x): y grows like x**slope. Points with a
    value <= 0 (a memory peak below one page) are left out; None below two points."""
    points = [(x, y) for x, y in points if x > 0 and y and y > 0]
    if len(points) < 2:
        return None
    xs = [math.log(x) for x, _ in points]
    ys = [math.log(y) for _, y in points]
    mx, my = sum(xs) / len(xs), sum(ys) / len(ys)
    sxx = sum((x - mx) ** 2 for x in xs)
    return sum((x - mx) * (y - my) for x, y in zip(xs, ys)) / sxx if sxx else None


def sweep(results, axis: str) -> list:
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


def exponents(results, metric: str = "time") -> dict:
    """{(target, direction, axis): k} for every sweep the results hold."""
    out = {}
    for axis in AXES:
        points = sweep(results, axis)
        for name in targets_in_order(points):
            for direction in DIRECTIONS:
                row = sorted((getattr(r, axis), r.value(metric)) for r in points
                             if r.target == name and r.direction == direction)
                k = growth_exponent(row)
                if k is not None:
                    out[(name, direction, axis)] = k
    return out
