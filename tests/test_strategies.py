"""Meta-tests of the strategies: every axis, and every hard combination, is hit often."""
import pytest
from hypothesis import Phase, given, settings

from conformance.model import strategies as cs
from conformance.model.features import restrict
from conformance.suite.test_packed import PACKED_UNSORTED_BIDIRECTIONAL_WITH_STATE
from conformance.suite.test_projection import PROJECTED_STACKED_BIDIRECTIONAL
from conformance.suite.test_stacking import STACKED_BIDIRECTIONAL_WITH_STATE

SAMPLES = 600


def sample(strategy, n=SAMPLES):
    """n values as the suite's tests would draw them (generation only, fixed seed)."""
    drawn = []

    @settings(max_examples=n, database=None, derandomize=True, phases=[Phase.generate],
              deadline=None)
    @given(strategy)
    def collect(value):
        drawn.append(value)

    collect()
    return drawn


def rate(values, predicate) -> float:
    return sum(1 for v in values if predicate(v)) / len(values)


@pytest.fixture(scope="module")
def all_axes():
    return sample(cs.recipes())


AXES = {
    "num_layers > 1": (lambda r: r.spec.num_layers > 1, 0.4),
    "num_layers = 3": (lambda r: r.spec.num_layers == 3, 0.15),
    "bidirectional": (lambda r: r.spec.bidirectional, 0.3),
    "proj_size > 0": (lambda r: r.spec.proj_size > 0, 0.3),
    "bias=False": (lambda r: not r.spec.bias, 0.3),
    "batch_first": (lambda r: r.spec.batch_first, 0.3),
    "unbatched": (lambda r: r.unbatched, 0.15),
    "packed": (lambda r: r.packed, 0.15),
    "packed, unsorted lengths": (
        lambda r: r.packed and list(r.lengths) != sorted(r.lengths, reverse=True), 0.04),
    "packed, enforce_sorted": (lambda r: r.packed and r.enforce_sorted, 0.04),
    "hx random": (lambda r: r.hx == "random", 0.15),
    "hx zeros": (lambda r: r.hx == "zeros", 0.15),
    "hx omitted": (lambda r: r.hx == "omitted", 0.15),
    "hx=None passed": (lambda r: r.hx == "none", 0.15),
    "hx as a list": (lambda r: r.has_initial_state and r.hx_container == "list", 0.15),
    "N = 0": (lambda r: r.batch == 0, 0.02),
    "N >= 2": (lambda r: (r.batch or 0) >= 2, 0.3),
    "T = 1": (lambda r: r.seq_len == 1, 0.03),
    "T >= 8": (lambda r: r.seq_len >= 8, 0.2),
    "a width > 16": (lambda r: max(r.spec.input_size, r.spec.hidden_size) > 16, 0.1),
    "a saturating gate scale": (lambda r: max(r.gate_scales) >= 5.0, 0.1),
    "distinct gate scales": (lambda r: len(set(r.gate_scales)) >= 3, 0.3),
    **{f"dtype {d}": ((lambda d: lambda r: r.spec.dtype == d)(d), 0.1) for d in cs.ALL_DTYPES},
    **{f"device {d}": ((lambda d: lambda r: r.spec.device == d)(d), 0.2) for d in cs.ALL_DEVICES},
}


@pytest.mark.parametrize("axis", list(AXES))
def test_every_axis_is_hit_often(all_axes, axis):
    predicate, minimum = AXES[axis]
    seen = rate(all_axes, predicate)
    assert seen >= minimum, f"{axis}: rate {seen:.3f}, should be >= {minimum} in recipes()"


def hard_combination(r) -> bool:
    """bidirectional + num_layers >= 2 + batch_first + nonzero hx + N >= 2."""
    return (r.spec.bidirectional and r.spec.num_layers >= 2 and r.spec.batch_first
            and r.hx == "random" and (r.batch or 0) >= 2 and not r.packed)


COMBINATIONS = {
    # (strategy, predicate, minimum rate)
    "all axes: bidir+layers+batch_first+hx+N>=2": (cs.recipes(), hard_combination, 0.01),
    "stacking family: bidir+layers+batch_first+hx+N>=2": (
        STACKED_BIDIRECTIONAL_WITH_STATE, hard_combination, 0.25),
    "projection family: proj+bidir+layers+hx": (
        PROJECTED_STACKED_BIDIRECTIONAL,
        lambda r: r.spec.proj_size > 0 and r.spec.bidirectional and r.spec.num_layers >= 2
        and r.hx == "random", 0.9),
    "packed family: packed+bidir+hx+unsorted": (
        PACKED_UNSORTED_BIDIRECTIONAL_WITH_STATE,
        lambda r: r.packed and r.spec.bidirectional and r.hx == "random"
        and list(r.lengths) != sorted(r.lengths, reverse=True), 0.5),
    "all axes: proj+bidir": (cs.recipes(), lambda r: r.spec.proj_size > 0 and r.spec.bidirectional, 0.1),
    "all axes: packed+bidir+hx": (
        cs.recipes(), lambda r: r.packed and r.spec.bidirectional and r.has_initial_state, 0.03),
}


@pytest.mark.parametrize("combination", list(COMBINATIONS))
def test_hard_combinations_are_hit_often(combination):
    strategy, predicate, minimum = COMBINATIONS[combination]
    seen = rate(sample(strategy, 300), predicate)
    assert seen >= minimum, f"{combination}: rate {seen:.3f}, should be >= {minimum}"


def test_sample_values_are_valid_recipes(all_axes):
    for r in all_axes[:50]:
        case = restrict(r, frozenset(), ("cpu",)).build()
        assert case.params.keys() == r.spec.param_shapes().keys()
        assert all(t.dtype == r.spec.dtype for t in case.params.values())
