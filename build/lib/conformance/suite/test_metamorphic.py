"""Metamorphic properties: each candidate against itself (see conformance.checks.metamorphic)."""
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from conformance import CaseRecipe, LSTMSpec
from conformance.model import pins
from conformance.model import strategies as cs
from conformance.checks.composition import check_packed_alone, check_stacking, check_unbatched
from conformance.checks.integrity import check_determinism, check_no_mutation
from conformance.checks.metamorphic import (check_batch_first, check_batch_permutation,
                                            check_bidirectional, check_streaming)

NOT_PACKED = st.sampled_from(("padded", "padded", "unbatched"))

STREAM_STACKED_PROJ = CaseRecipe(LSTMSpec(3, 4, num_layers=2, proj_size=2, batch_first=True,
                                          dtype=torch.float64),
                                 seq_len=5, batch=2, hx="random", seed=31)
BIDIR_ONE_LAYER_HX = CaseRecipe(LSTMSpec(3, 4, bidirectional=True, batch_first=True,
                                         dtype=torch.float64),
                                seq_len=4, batch=3, hx="random", seed=32)


@pytest.mark.conformance("initial_state")
@given(recipe=cs.recipes(spec=cs.specs(bidirectional=st.just(False)),
                         seq_len=st.integers(2, cs.MAX_SEQ_LEN), input_kind=NOT_PACKED))
@example(recipe=STREAM_STACKED_PROJ)
def test_streaming_in_chunks_equals_one_run(candidate, recipe, conformance_run):
    check_streaming(candidate, conformance_run.prepare(candidate, recipe))


@pytest.mark.conformance("basic")
@given(recipe=cs.recipes(input_kind=st.sampled_from(("padded", "padded", "packed")),
                         batch=st.integers(2, cs.MAX_BATCH)))
@example(recipe=pins.PACKED_BIDIR_HX)
def test_batch_permutation_equivariance(candidate, recipe, conformance_run):
    check_batch_permutation(candidate, conformance_run.prepare(candidate, recipe))


@pytest.mark.conformance("batch_first", "seq_first")
@given(recipe=cs.recipes())
@example(recipe=pins.BIDIR_STACKED_BATCH_FIRST_HX)
def test_batch_first_equals_transposed_seq_first(candidate, recipe, conformance_run):
    check_batch_first(candidate, conformance_run.prepare(candidate, recipe))


@pytest.mark.conformance("bidirectional")
@given(recipe=cs.recipes(spec=cs.specs(bidirectional=st.just(True), num_layers=st.just(1)),
                         input_kind=NOT_PACKED))
@example(recipe=BIDIR_ONE_LAYER_HX)
def test_bidirectional_is_forward_and_flipped_reverse_run(candidate, recipe, conformance_run):
    check_bidirectional(candidate, conformance_run.prepare(candidate, recipe))


@pytest.mark.conformance("num_layers")
@given(recipe=cs.recipes(spec=cs.specs(num_layers=st.integers(2, cs.MAX_LAYERS))))
@example(recipe=pins.PROJ_BIDIR_STACKED)
def test_stacked_layers_are_composed_single_layers(candidate, recipe, conformance_run):
    check_stacking(candidate, conformance_run.prepare(candidate, recipe))


@pytest.mark.conformance("unbatched")
@given(recipe=cs.recipes(input_kind=st.just("unbatched")))
@example(recipe=pins.UNBATCHED_STACKED_HX)
def test_unbatched_equals_batch_of_one(candidate, recipe, conformance_run):
    check_unbatched(candidate, conformance_run.prepare(candidate, recipe))


@pytest.mark.conformance("packed")
@given(recipe=cs.recipes(input_kind=st.just("packed")))
@example(recipe=pins.PACKED_BIDIR_HX)
def test_packed_equals_each_sequence_alone(candidate, recipe, conformance_run):
    check_packed_alone(candidate, conformance_run.prepare(candidate, recipe))


@pytest.mark.conformance("basic")
@given(recipe=cs.recipes(hx=st.sampled_from(("random", "random", "zeros", "omitted"))))
@example(recipe=pins.BIDIR_STACKED_BATCH_FIRST_HX)
def test_no_mutation_of_input_hx_or_params(candidate, recipe, conformance_run):
    check_no_mutation(candidate, conformance_run.prepare(candidate, recipe))


@pytest.mark.conformance("basic")
@given(recipe=cs.recipes(spec=cs.specs(device=st.just("cpu"))))
@example(recipe=pins.GATE_ORDER)
def test_two_calls_are_bitwise_equal_on_cpu(candidate, recipe, conformance_run):
    recipe = conformance_run.prepare(candidate, recipe)
    if torch.device(recipe.spec.device).type != "cpu":
        pytest.skip("determinism is checked on the cpu only")
    check_determinism(candidate, recipe)
