"""Reproduces conformance/suite/test_metamorphic.py::test_two_calls_are_bitwise_equal_on_cpu[onnxruntime-export] for candidate 'onnxruntime-export'.

Run with `python onnxruntime-export__test_two_calls_are_bitwise_equal_on_cpu.py` from anywhere the candidate's package can be imported.
Exit status 1 while the candidate still differs from torch.nn.LSTM.
"""
import sys

import torch

from conformance import CaseRecipe, ConformanceFailure, LSTMSpec
from conformance.check import load
from conformance.compare import TENSOR_NAMES, tensors, unpack
from conformance.diagnose import diagnose
from conformance.oracle import reference_module

# Where the candidate's module was found when the suite ran; appended, so an installed copy
# of it wins.
sys.path.append('/work/wt9')

torch.set_num_threads(1)  # small examples run fastest single-threaded (as in the suite)

CANDIDATE = 'onnxruntime-export'
RECIPE = CaseRecipe(spec=LSTMSpec(input_size=1, hidden_size=1, num_layers=1, bias=False, batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, device='cpu', dtype=torch.float32), seq_len=1, batch=0, lengths=None, enforce_sorted=False, hx='omitted', hx_container='tuple', gate_scales=(1.0, 1.0, 1.0, 1.0), input_scale=1.0, seed=0)


def family_check(candidate):
    """The failing test's own check (raises ConformanceFailure), or None."""
    import torch
    from conformance import CaseRecipe, LSTMSpec
    from conformance.metamorphic import check_determinism
    check_determinism('onnxruntime-export', CaseRecipe(spec=LSTMSpec(input_size=1, hidden_size=1, num_layers=1, bias=False, batch_first=False, dropout=0.0, bidirectional=False, proj_size=0, device='cpu', dtype=torch.float32), seq_len=1, batch=0, lengths=None, enforce_sorted=False, hx='omitted', hx_container='tuple', gate_scales=(1.0, 1.0, 1.0, 1.0), input_scale=1.0, seed=0))


def main() -> int:
    candidate = load(CANDIDATE)
    case = RECIPE.build()
    print("example:", RECIPE.describe())
    with torch.no_grad():
        expected = unpack(case.call(reference_module(case.spec, case.params)))
        case = RECIPE.build()  # fresh tensors, in case nn.LSTM or the candidate mutates them
        forward = candidate.build(case.spec, case.params)
        if callable(getattr(forward, "eval", None)):
            forward.eval()
        actual = unpack(case.call(forward))
    differs = False
    for name, got, want in zip(TENSOR_NAMES, tensors(actual), tensors(expected)):
        if not isinstance(got, torch.Tensor) or got.shape != want.shape:
            print(f"{name}: candidate returned {getattr(got, 'shape', type(got))}, "
                  f"nn.LSTM {tuple(want.shape)}")
            differs = True
            continue
        diff = (got.double() - want.double()).abs()
        worst = diff.max().item() if diff.numel() else 0.0
        print(f"{name}: max |candidate - nn.LSTM| = {worst:.3g}")
        if worst > 0:
            index = tuple(int(i) for i in (diff == diff.max()).nonzero()[0])
            print(f"    at {index}: candidate {got[index].item():.7g}, "
                  f"nn.LSTM {want[index].item():.7g}")
    print()
    diagnosis = diagnose(candidate, RECIPE)
    print(diagnosis.text())
    differs = differs or diagnosis.outcome in ("diverges", "structure", "raised")
    try:
        family_check(candidate)
    except ConformanceFailure as failure:
        print()
        print(failure)
        differs = True
    return 1 if differs else 0


if __name__ == "__main__":
    sys.exit(main())
