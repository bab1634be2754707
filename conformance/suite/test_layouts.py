"""Layouts: batch_first, seq-first, unbatched input, how hx is passed, empty batches."""
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance.model import pins
from conformance.model import strategies as cs


@pytest.mark.conformance("batch_first")
@given(recipe=cs.recipes(spec=cs.specs(batch_first=st.just(True)),
                         input_kind=st.just("padded"), batch=st.integers(2, cs.MAX_BATCH)))
@example(recipe=pins.BIDIR_STACKED_BATCH_FIRST_HX)
def test_batch_first(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)


@pytest.mark.conformance("seq_first")
@given(recipe=cs.recipes(spec=cs.specs(batch_first=st.just(False)),
                         input_kind=st.just("padded"), batch=st.integers(2, cs.MAX_BATCH)))
def test_seq_first(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)


@pytest.mark.conformance("unbatched")
@given(recipe=cs.recipes(input_kind=st.just("unbatched")))
@example(recipe=pins.UNBATCHED_STACKED_HX)
def test_unbatched(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)


@pytest.mark.conformance("initial_state")
@given(recipe=cs.recipes(hx=st.sampled_from(("random", "zeros")),
                         input_kind=st.sampled_from(("padded", "unbatched"))))
@example(recipe=pins.BIDIR_STACKED_BATCH_FIRST_HX)
@example(recipe=pins.PROJ_BIDIR_STACKED)
def test_initial_state(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)


@pytest.mark.conformance("empty_batch")
@given(recipe=cs.recipes(input_kind=st.just("padded"), batch=st.just(0)))
@example(recipe=pins.EMPTY_BATCH)
def test_empty_batch(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)
