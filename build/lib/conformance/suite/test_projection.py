"""Projection (proj_size > 0): h and output of width proj_size, c of width hidden_size."""
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance.model import pins
from conformance.model import strategies as cs

PROJECTED = dict(projection=st.just(True), hidden_size=st.integers(2, cs.MAX_SMALL_SIZE))
PROJECTED_STACKED_BIDIRECTIONAL = cs.recipes(
    spec=cs.specs(bidirectional=st.just(True), num_layers=st.integers(2, cs.MAX_LAYERS),
                  **PROJECTED),
    hx=st.just("random"))


@pytest.mark.conformance("proj_size")
@given(recipe=cs.recipes(spec=cs.specs(**PROJECTED)))
@example(recipe=pins.PROJ_BIDIR_STACKED)
def test_projection(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)


@pytest.mark.conformance("proj_size", "bidirectional", "num_layers")
@given(recipe=PROJECTED_STACKED_BIDIRECTIONAL)
@example(recipe=pins.PROJ_BIDIR_STACKED)
def test_projection_stacked_bidirectional(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)
