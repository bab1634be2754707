"""Every axis random at once: the combinations no family test thought of."""
import pytest
from hypothesis import example, given

from conformance.model import pins
from conformance.model import strategies as cs


@pytest.mark.conformance()
@given(recipe=cs.recipes())
@example(recipe=pins.BIDIR_STACKED_BATCH_FIRST_HX)
@example(recipe=pins.PROJ_BIDIR_STACKED)
@example(recipe=pins.PACKED_BIDIR_HX)
@example(recipe=pins.ILL_CONDITIONED_FLOAT32)
@example(recipe=pins.FLOAT16_TINY)
@example(recipe=pins.ORT_SMALL_OUTPUT_GATE)
@example(recipe=pins.ORT_DEEP_SATURATED)
@example(recipe=pins.FUSED_CELL_UPDATE.replace(spec=pins.FUSED_CELL_UPDATE.spec.replace(dropout=0.0)))
def test_all_axes_random(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)
