"""PackedSequence input: per-sequence lengths, sorted or not, hx and h_n in the user's order."""
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance.model import pins
from conformance.model import strategies as cs

# Unsorted packed batches with both directions and a real hx: hx/h_n order and per-sequence ends.
PACKED_UNSORTED_BIDIRECTIONAL_WITH_STATE = cs.recipes(
    spec=cs.specs(bidirectional=st.just(True)), input_kind=st.just("packed"),
    hx=st.just("random"), batch=st.integers(2, cs.MAX_BATCH), packing=st.just("any"))


@pytest.mark.conformance("packed")
@given(recipe=cs.recipes(input_kind=st.just("packed")))
@example(recipe=pins.PACKED_BIDIR_HX)
def test_packed(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)


@pytest.mark.conformance("packed", "bidirectional", "initial_state")
@given(recipe=PACKED_UNSORTED_BIDIRECTIONAL_WITH_STATE)
@example(recipe=pins.PACKED_BIDIR_HX)
def test_packed_unsorted_bidirectional_with_state(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)
