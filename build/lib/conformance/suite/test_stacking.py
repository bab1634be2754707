"""Stacking: several layers, two directions, and the order of h_n/c_n (layer*D + direction)."""
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance.model import pins
from conformance.model import strategies as cs

STACKED = st.integers(2, cs.MAX_LAYERS)
# The combination most stacking bugs need: both directions, >= 2 layers, a real hx, N >= 2.
STACKED_BIDIRECTIONAL_WITH_STATE = cs.recipes(
    spec=cs.specs(num_layers=STACKED, bidirectional=st.just(True)), hx=st.just("random"),
    batch=st.integers(2, cs.MAX_BATCH), input_kind=st.sampled_from(("padded", "padded", "packed")))


@pytest.mark.conformance("num_layers")
@given(recipe=cs.recipes(spec=cs.specs(num_layers=STACKED)))
@example(recipe=pins.NO_BIAS_STACKED)
def test_num_layers(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)


@pytest.mark.conformance("bidirectional")
@given(recipe=cs.recipes(spec=cs.specs(bidirectional=st.just(True))))
@example(recipe=pins.PACKED_BIDIR_HX)
def test_bidirectional(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)


@pytest.mark.conformance("num_layers", "bidirectional", "initial_state")
@given(recipe=STACKED_BIDIRECTIONAL_WITH_STATE)
@example(recipe=pins.BIDIR_STACKED_BATCH_FIRST_HX)
def test_stacked_bidirectional_with_state(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)
