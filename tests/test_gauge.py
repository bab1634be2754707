"""Meta-tests of `conformance.gauge`: the perturbation, the sensitivity, and the tolerance
they give on the examples that once raised false alarms."""
import dataclasses

import pytest
import torch

from conformance import CaseRecipe, LSTMSpec, pins
from conformance import gauge
from conformance.check import ConformanceFailure, check, load
from conformance.compare import tensors, unpack
from conformance.oracle import run_truth
from conformance.registry import Candidate
from conformance.tolerance import SENSITIVITY_MULTIPLE, eps

SMALL = CaseRecipe(LSTMSpec(3, 4, num_layers=2, bidirectional=True, dtype=torch.float32),
                   seq_len=4, batch=3, lengths=(2, 4, 1), hx="random", seed=3)


def _values(case):
    return [case.input.data, *case.hx, *case.params.values()]


def test_perturbation_moves_every_value_by_one_relative_step_and_copies():
    case = SMALL.build(dtype=torch.float64)
    before = [v.clone() for v in _values(case)]
    moved = gauge.perturbed(case, 2.0 ** -10, seed=[1, 2])
    for old, orig, new in zip(_values(case), before, _values(moved)):
        assert torch.equal(old, orig)  # the original case is untouched
        nonzero = orig != 0
        ratio = (new[nonzero] / orig[nonzero] - 1).abs()
        assert torch.allclose(ratio, torch.full_like(ratio, 2.0 ** -10))
    signs = torch.sign(_values(moved)[-1] - _values(case)[-1])
    assert (signs > 0).any() and (signs < 0).any()  # up and down, not a uniform scaling


def test_sensitivity_is_deterministic_and_float64_is_scaled():
    truth = tensors(unpack(run_truth(SMALL)))
    first, again = gauge.sensitivity(SMALL, truth), gauge.sensitivity(SMALL, truth)
    assert first == again and all(s > 0 for s in first)
    # float32: a one-ulp perturbation moves the results by about an ulp times conditioning
    assert all(eps(torch.float32) / 10 < s < 1e3 * eps(torch.float32) for s in first)
    double = SMALL.replace(spec=SMALL.spec.replace(dtype=torch.float64))
    scaled = gauge.sensitivity(double, tensors(unpack(run_truth(double))))
    ratio = eps(torch.float64) / eps(torch.float32)
    assert all(s64 == pytest.approx(s32 * ratio, rel=0.5) for s64, s32 in zip(scaled, first))


def test_tolerance_includes_the_sensitivity():
    tols = gauge.tolerances(pins.ILL_CONDITIONED_FLOAT32)
    output = tols[0]
    assert output.sensitivity > 10 * output.reference_error  # nn.LSTM was lucky here
    truth = torch.zeros(3, dtype=torch.float64)
    assert torch.allclose(output.allowed(truth) - dataclasses.replace(output, sensitivity=0.0).allowed(truth),
                          torch.full_like(truth, SENSITIVITY_MULTIPLE * output.sensitivity))


@pytest.mark.parametrize("name", ["numpy", "fused-torch", "naive-torch", "lstmcell-loop"])
def test_ill_conditioned_example_passes_every_builtin(name):
    check(name, pins.ILL_CONDITIONED_FLOAT32)


def test_ill_conditioned_example_still_catches_a_relative_error_of_1e_3():
    """The sensitivity loosens only by the example's own conditioning: an error of one part in
    a thousand, far below any gate or wiring bug's, still fails there."""
    fused = load("fused-torch")

    def build(spec, params):
        forward = fused.build(spec, params)

        def off(input, hx=None):
            output, (h, c) = forward(input, hx)
            return output * (1 + 1e-3), (h, c)
        return off

    with pytest.raises(ConformanceFailure, match="output differs"):
        check(Candidate("output-off-by-1e-3", build), pins.ILL_CONDITIONED_FLOAT32)
