"""Every dtype and every device, each with the other axes random."""
import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from conformance.model import pins
from conformance.model import strategies as cs

pytestmark = pytest.mark.conformance()  # columns come from each parameter's own mark

DTYPES = [pytest.param(dtype, marks=pytest.mark.conformance(str(dtype).removeprefix("torch.")),
                       id=str(dtype).removeprefix("torch.")) for dtype in cs.ALL_DTYPES]
DEVICES = [pytest.param(device, marks=pytest.mark.conformance(device), id=device)
           for device in cs.ALL_DEVICES]


@pytest.mark.parametrize("dtype", DTYPES)
@given(data=st.data())
def test_dtype(candidate, dtype, data, conformance_run):
    recipe = data.draw(cs.recipes(spec=cs.specs(dtype=st.just(dtype))), label="recipe")
    conformance_run.check_forward(candidate, recipe)


@pytest.mark.conformance("bfloat16", "float16")
@given(recipe=st.sampled_from([pins.BFLOAT16_LONG, pins.FLOAT16_LONG]))
@example(recipe=pins.BFLOAT16_LONG)
def test_low_precision_long_saturated(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)


@pytest.mark.conformance("bfloat16", "float16")
@given(recipe=st.sampled_from([pins.BFLOAT16_WIDE, pins.FLOAT16_WIDE]))
@example(recipe=pins.BFLOAT16_WIDE)
@example(recipe=pins.FLOAT16_WIDE)
def test_low_precision_wide(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)


@pytest.mark.conformance("float32")
@given(recipe=st.just(pins.FLOAT32_WIDE))
def test_float32_wide(candidate, recipe, conformance_run):
    conformance_run.check_forward(candidate, recipe)


@pytest.mark.parametrize("device", DEVICES)
@given(data=st.data())
def test_device(candidate, device, data, conformance_run):
    recipe = data.draw(cs.recipes(spec=cs.specs(device=st.just(device))), label="recipe")
    conformance_run.check_forward(candidate, recipe)
