"""The reference: `torch.nn.LSTM` built from the same spec and loaded with the same params."""
from __future__ import annotations

from collections import OrderedDict

import torch

from conformance.model.cases import Case, CaseRecipe

# Modules kept for run_reference, by spec: building an nn.LSTM initializes every parameter at
# random, which cost more than running it (a tenth of a suite run's time, measured), and
# draws from torch's generator, which the dropout checks' reproduction needs left alone;
# loading the next case's values into a kept one costs a copy.
_KEPT: OrderedDict = OrderedDict()
_KEEP = 32


def reference_module(spec, params) -> torch.nn.LSTM:
    """nn.LSTM for `spec` holding copies of `params`, in eval mode (a new module: callers may
    keep it, train it or take its gradients)."""
    lstm = torch.nn.LSTM(**spec.lstm_kwargs())
    lstm.load_state_dict(params)
    return lstm.eval()


def _take_module(spec) -> torch.nn.LSTM:
    """A module for `spec` that only run_reference uses (never handed out); out of the kept
    ones while in use, so that no other caller loads its values into it meanwhile."""
    lstm = _KEPT.pop(spec, None)
    if lstm is None:  # built on the cpu, its random initialization undone on the generator
        state = torch.random.get_rng_state()
        try:
            lstm = torch.nn.LSTM(**spec.replace(device="cpu").lstm_kwargs())
        finally:
            torch.random.set_rng_state(state)
        lstm = lstm.to(spec.device).eval()
    return lstm


def _keep_module(spec, lstm: torch.nn.LSTM) -> None:
    _KEPT[spec] = lstm
    while len(_KEPT) > _KEEP:
        _KEPT.popitem(last=False)


def run_reference(case: Case):
    """What nn.LSTM returns for `case` (no autograd)."""
    lstm = _take_module(case.spec)
    with torch.no_grad():
        lstm.load_state_dict(case.params)
        result = case.call(lstm)
    _keep_module(case.spec, lstm)
    return result


def run_truth(recipe: CaseRecipe):
    """nn.LSTM in float64 on the cpu, on the same (dtype-rounded) values as the recipe."""
    return run_reference(recipe.build(dtype=torch.float64, device="cpu"))
