"""Gradients: the candidate's backward pass against nn.LSTM's, and against finite differences.

Only for candidates that support "backward" (the column of every test here); see
GRADIENT_DTYPES for what the float16/bfloat16 examples can and cannot show.
"""
import pytest
import torch
from hypothesis import example, given

from conformance import CaseRecipe, LSTMSpec

from conformance.model import pins
from conformance.model import strategies as cs
from conformance.checks.gradcheck import check_gradcheck
from conformance.checks.gradients import check_gradients

# Every dtype, as often as the forward families draw it (the gauged tolerance of
# conformance.core.tolerance holds each to what correct implementations achieve in it on the
# example). float64 first: shrinking lands on it.
GRADIENT_DTYPES = cs.dtypes()

# Every gradient path at once: two layers, both directions, projection, packed and unsorted
# (the reverse direction starts at each sequence's own end), hx in the user's batch order.
PACKED_STACKED_BIDIR_PROJ_HX = CaseRecipe(
    LSTMSpec(3, 5, num_layers=2, bidirectional=True, proj_size=2, dtype=torch.float64),
    seq_len=4, batch=3, lengths=(2, 4, 1), hx="random", seed=21)

# float32, saturating gates, the longest sequences and deepest stack the strategies draw: the
# tolerance must follow the gradients' conditioning, not false-alarm.
SATURATED_LONG_FLOAT32 = CaseRecipe(
    LSTMSpec(8, 16, num_layers=3, bidirectional=True, batch_first=True, dtype=torch.float32),
    seq_len=cs.MAX_SEQ_LEN, batch=4, hx="random", gate_scales=(5.0, 5.0, 5.0, 5.0),
    input_scale=3.0, seed=22)


@pytest.mark.conformance("backward")
@given(recipe=cs.recipes(spec=cs.specs(dtype=GRADIENT_DTYPES)))
@example(recipe=PACKED_STACKED_BIDIR_PROJ_HX)
@example(recipe=SATURATED_LONG_FLOAT32)
@example(recipe=pins.UNBATCHED_STACKED_HX)
@example(recipe=pins.BFLOAT16_LONG)
@example(recipe=pins.ILL_CONDITIONED_FLOAT32)
@example(recipe=pins.FEW_EQUAL_GRADIENT_ERRORS)
@example(recipe=pins.SMALL_PROJECTION_GRADIENT)
@example(recipe=pins.BFLOAT16_UNRESOLVED_GRADIENT)
@example(recipe=pins.FEW_ENTRIES_FLOAT32_GRADIENT)
@example(recipe=pins.FUSED_WEIGHT_GRADIENT)
@example(recipe=pins.FUSED_PROJECTED_GRADIENT)
def test_gradients(candidate, recipe, conformance_run):
    """d(random weighted sum of output, h_n, c_n) / d(input, h0, c0, every parameter)."""
    conformance_run.check_backward(candidate, recipe, check_gradients)


# gradcheck: tiny float64 examples, one per feature of the backward pass and one with all.
_TINY = LSTMSpec(2, 3, dtype=torch.float64)
GRADCHECK_RECIPES = {
    "plain": CaseRecipe(_TINY, seq_len=3, batch=2, hx="random", seed=31),
    "layers": CaseRecipe(_TINY.replace(num_layers=2), seq_len=3, batch=2, hx="random", seed=32),
    "bidirectional": CaseRecipe(_TINY.replace(bidirectional=True, batch_first=True), seq_len=3,
                                batch=2, hx="random", seed=33),
    "projection": CaseRecipe(_TINY.replace(proj_size=2), seq_len=3, batch=2, hx="random",
                             seed=34),
    "packed": CaseRecipe(_TINY.replace(bidirectional=True), seq_len=3, batch=3,
                         lengths=(2, 3, 1), hx="random", seed=35),
    "all": CaseRecipe(_TINY.replace(num_layers=2, bidirectional=True, proj_size=2), seq_len=3,
                      batch=3, lengths=(1, 3, 2), hx="random", hx_container="list", seed=36),
}


@pytest.mark.conformance("backward")
@pytest.mark.parametrize("recipe", [pytest.param(r, id=k) for k, r in GRADCHECK_RECIPES.items()])
def test_gradcheck(candidate, recipe, conformance_run):
    """torch.autograd.gradcheck (fast mode) in float64: backward vs finite differences."""
    conformance_run.check_backward(candidate, recipe, check_gradcheck, float64_only=True)
