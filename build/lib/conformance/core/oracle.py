"""The reference: `torch.nn.LSTM` built from the same spec and loaded with the same params."""
from __future__ import annotations

import torch

from conformance.model.cases import Case, CaseRecipe


def reference_module(spec, params) -> torch.nn.LSTM:
    """nn.LSTM for `spec` holding copies of `params`, in eval mode."""
    lstm = torch.nn.LSTM(**spec.lstm_kwargs())
    lstm.load_state_dict(params)
    return lstm.eval()


def run_reference(case: Case):
    """What nn.LSTM returns for `case` (no autograd)."""
    with torch.no_grad():
        return case.call(reference_module(case.spec, case.params))


def run_truth(recipe: CaseRecipe):
    """nn.LSTM in float64 on the cpu, on the same (dtype-rounded) values as the recipe."""
    return run_reference(recipe.build(dtype=torch.float64, device="cpu"))
