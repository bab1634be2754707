"""Meta-tests of the power scan (tests/power.py) on a made-up check: each example is caught
above a threshold of its own, so the answers are known."""
import math

import pytest
import torch

from tests import power

THRESHOLDS = [1e-3 * 1.1 ** k for k in range(20)]  # example k caught where d >= THRESHOLDS[k]


def made_up_scan():
    recipes = list(range(len(THRESHOLDS)))
    caught = lambda cls, d, k: d >= THRESHOLDS[k]  # noqa: E731
    effect = lambda cls, d, k: 2 * d  # noqa: E731
    owns = [1e-4] * len(recipes)
    return power.scan("forward", "float32", "made up", None, recipes, owns, caught, effect,
                      1.0, log=lambda s: None)


def test_smallest_size_caught_is_bisected_to_the_grid_step():
    row = made_up_scan()
    needed = sorted(THRESHOLDS)[math.ceil(0.9 * len(THRESHOLDS)) - 1]  # 18 of 20 caught
    assert needed <= row.d90 < needed * power.STEP * 1.0001
    missed = max(d for d, rate in row.curve if d < row.d90 and rate < power.CAUGHT)
    assert row.d90 / missed <= power.STEP * 1.0001  # the bracket: one grid step, not a coarse one
    assert row.effect90 == pytest.approx(2 * row.d90)


def test_per_example_ratio_is_each_examples_own_threshold():
    row = made_up_scan()
    for threshold, ratio in zip(THRESHOLDS, row.per_example):
        caught_at = ratio * 1e-4 / 2  # effect / own = 2 d / 1e-4
        assert threshold <= caught_at < threshold * power.STEP * 1.0001  # bisected per example
    assert row.per_example90 == sorted(row.per_example)[17]  # 18 of 20 reach or beat it


def test_catch_rate_curve_counts_the_examples_caught_at_each_size():
    row = made_up_scan()
    for d, rate in row.curve:
        assert rate == sum(d * 1.0001 >= t for t in THRESHOLDS) / len(THRESHOLDS)
    assert max(rate for _, rate in row.curve) == 1.0 and min(rate for _, rate in row.curve) == 0.0


def test_a_non_monotonic_example_counts_from_its_largest_miss():
    # caught above 1e-2 and in a window around 4**-6 (a size the search runs) only
    assert 2e-4 <= 4.0 ** -6 <= 3e-4
    caught = lambda cls, d, k: d >= 1e-2 or 2e-4 <= d <= 3e-4  # noqa: E731
    t = power.threshold(caught, None, 0, 1.0)
    assert 1e-2 <= t < 1e-2 * power.STEP * 1.0001


def test_smallest_size_caught_on_90_percent_is_measured_not_inferred():
    # Every example caught from its threshold up, except examples 0-2, which are also missed
    # in a band just above the 90% size the thresholds suggest: there only 17 of 20 are
    # caught, so the size read must move above the band.
    band = (THRESHOLDS[17], THRESHOLDS[17] * 1.5)

    def caught(cls, d, k):
        return d >= THRESHOLDS[k] and not (k < 3 and band[0] <= d <= band[1])

    recipes = list(range(len(THRESHOLDS)))
    row = power.scan("forward", "float32", "made up", None, recipes, [1e-4] * len(recipes),
                     caught, lambda cls, d, k: 2 * d, 1.0, log=lambda s: None)
    truth = lambda d: sum(caught(None, d, k) for k in recipes) / len(recipes)  # noqa: E731
    assert truth(row.d90) >= power.CAUGHT and row.d90 > band[1]
    assert row.d90 / power.STEP <= band[1] * 1.0001 or truth(row.d90 / power.STEP) < power.CAUGHT
    for d, rate in row.curve:  # every point of the curve is a measured rate
        assert rate == truth(d), d


def test_examples_never_caught_count_as_beyond_every_ratio():
    row = made_up_scan()
    row.per_example[3] = None  # one of 20: the 90% value is still read, one rank higher
    assert row.per_example90 == sorted(r for r in row.per_example if r is not None)[17]
    row.per_example[4] = row.per_example[5] = None  # three of 20: fewer than 90% caught
    assert row.per_example90 is None


@pytest.mark.parametrize("dtype", [torch.float32, torch.float64])
def test_gradient_errors_inject_the_size_they_are_measured_at(dtype):
    # The effect of a size d is measured in float64; the candidate must inject that d in its
    # own dtype too, not 1 + d rounded to the dtype (a third off at d = 1.8e-7 in float32).
    d = 1.5 * torch.finfo(dtype).eps
    x = torch.linspace(0.5, 2.0, 4001, dtype=dtype, requires_grad=True)
    g = torch.linspace(-3.0, 3.0, 4001, dtype=dtype)
    power._ScaleGrad.apply(x, d).backward(g)
    got = x.grad.to(torch.float64) - g.to(torch.float64)
    assert (got * g.to(torch.float64)).sum() / g.to(torch.float64).square().sum() == \
        pytest.approx(d, rel=0.05)


def test_examples_the_plain_candidate_fails_are_never_caught():
    # a false alarm on the plain candidate would read as a catch at every size
    recipes = list(range(len(THRESHOLDS)))
    caught = lambda cls, d, k: k == 0 or d >= THRESHOLDS[k]  # noqa: E731
    spoiled = power.control_failures(caught, recipes)
    assert spoiled == {0}
    row = power.scan("forward", "float32", "made up", None, recipes, [1e-4] * len(recipes),
                     caught, lambda cls, d, k: 2 * d, 1.0, log=lambda s: None, spoiled=spoiled)
    assert row.per_example[0] is None and row.control == 1
    assert all(rate <= 19 / 20 for _, rate in row.curve)
    assert "| 1 of 20 |" in power.table([row], 20, "t")
