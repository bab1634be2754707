"""Invalid input: wherever nn.LSTM raises, the candidate raises too (any exception type),
and the same forward object still works on valid input afterwards. See conformance.checks.invalid."""
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from conformance import CaseRecipe, LSTMSpec
from conformance.model import strategies as cs
from conformance.checks.invalid import check_invalid

# Small examples: every invalid call is followed by a valid one.
SMALL = dict(seq_len=st.integers(1, 5), batch=st.integers(1, 4))

# Three sequences, two layers: hx for 4, 2 and 1 sequences, 3 and 1 layer rows all apply.
STACKED_HX = CaseRecipe(LSTMSpec(3, 4, num_layers=2, dtype=torch.float64), seq_len=3, batch=3,
                        hx="random", seed=11)
# proj_size > 0: h0 of width hidden_size must be rejected.
PROJECTED_HX = CaseRecipe(LSTMSpec(2, 5, proj_size=3, dtype=torch.float64), seq_len=2, batch=2,
                          hx="random", seed=12)
PACKED_HX = CaseRecipe(LSTMSpec(2, 3, bidirectional=True, dtype=torch.float64), seq_len=4,
                       batch=3, lengths=(2, 4, 1), hx="random", seed=13)


@pytest.mark.conformance("basic")
@given(recipe=cs.recipes(input_kind=st.sampled_from(("padded", "padded", "unbatched", "packed")),
                         **SMALL))
@example(recipe=STACKED_HX)
def test_rejects_invalid_input(candidate, recipe, conformance_run):
    """Wrong feature size, 1-D and 4-D input, T=0, input dtype unlike the weights'."""
    check_invalid(candidate, conformance_run.prepare(candidate, recipe), groups=("input",))


@pytest.mark.conformance("initial_state")
@given(recipe=cs.recipes(input_kind=st.sampled_from(("padded", "unbatched")), **SMALL))
@example(recipe=STACKED_HX)
@example(recipe=PROJECTED_HX)
def test_rejects_invalid_hx(candidate, recipe, conformance_run):
    """hx with the wrong dims, layer or batch count or width; one tensor; a 1- or 3-tuple."""
    check_invalid(candidate, conformance_run.prepare(candidate, recipe), groups=("hx",))


@pytest.mark.conformance("initial_state", "proj_size")
@given(recipe=cs.recipes(spec=cs.specs(projection=st.just(True),
                                       hidden_size=st.integers(2, cs.MAX_SMALL_SIZE)),
                         input_kind=st.sampled_from(("padded", "unbatched")), **SMALL))
@example(recipe=PROJECTED_HX)
def test_rejects_hidden_width_h0_with_projection(candidate, recipe, conformance_run):
    """With proj_size > 0, h0 must be proj_size wide: h0 of width hidden_size is rejected."""
    check_invalid(candidate, conformance_run.prepare(candidate, recipe), groups=("hx",))


@pytest.mark.conformance("packed", "initial_state")
@given(recipe=cs.recipes(input_kind=st.just("packed"), **SMALL))
@example(recipe=PACKED_HX)
def test_rejects_packed_input_with_mismatched_hx(candidate, recipe, conformance_run):
    """A PackedSequence of N sequences with hx for N+1 or N-1 sequences, or a 2-D hx."""
    check_invalid(candidate, conformance_run.prepare(candidate, recipe), groups=("packed",))
