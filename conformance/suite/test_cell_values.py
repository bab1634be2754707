"""Values of the plain cell: one layer, one direction, every gate and bias term."""
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance.model import pins
from conformance.model import strategies as cs

ONE_LAYER = dict(num_layers=st.just(1), bidirectional=st.just(False), projection=st.just(False))


@pytest.mark.conformance("basic")
@given(recipe=cs.recipes(spec=cs.specs(batch_first=st.just(False), bias=st.just(True),
                                       **ONE_LAYER),
                         input_kind=st.just("padded")))
@example(recipe=pins.GATE_ORDER)
@example(recipe=pins.FLOAT16_SUBNORMAL)
def test_single_layer_cell(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)


@pytest.mark.conformance("no_bias")
@given(recipe=cs.recipes(spec=cs.specs(bias=st.just(False))))
@example(recipe=pins.NO_BIAS_STACKED)
def test_no_bias(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)
