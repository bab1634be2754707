"""Verifying "unsupported" claims: a candidate must reject what it says it does not support.

For each declared-unsupported feature, `features.requiring(feature, base)` turns a recipe the candidate
does support into the smallest one that needs the feature; building or calling the candidate
on it must raise. Returning numbers instead is the worst outcome for a user (a silently wrong
answer), so it is a failure.
"""
from __future__ import annotations

import torch

from conformance.model.cases import CaseRecipe
from conformance.core.failures import ConformanceFailure
from conformance.core.invoke import Invocation, checker
from conformance.model.spec import LSTMSpec

def base_recipe() -> CaseRecipe:
    """A small plain example; `ConformanceRun.adapt` maps it onto what a candidate supports."""
    return CaseRecipe(LSTMSpec(3, 4, dtype=torch.float64), seq_len=3, batch=2, seed=11)


@checker
def check_rejects(candidate, recipe: CaseRecipe, feature: str) -> None:
    """Raise ConformanceFailure if the candidate returns a result on `recipe`, which needs
    `feature`; `candidate` as for `conformance.check`."""
    invocation = Invocation(candidate, recipe, "check_rejects", __name__, feature=feature)
    case = recipe.build()
    try:
        forward = invocation.build(case=case)
        if feature == "dropout":
            invocation.set_mode(forward, training=True)  # dropout only acts in training mode
        if feature == "backward":
            result = _backward(invocation, forward, case)
        else:
            result = invocation.run_case(forward, case)
    except ConformanceFailure as failure:
        if failure.failure is not None and failure.failure.kind == "raised":
            return  # rejected, as declared
        raise
    invocation.fail([
        f"declared {feature!r} unsupported but returned a result "
        f"({type(result).__name__}) instead of raising: declare only what it really cannot do, "
        "and make it raise (NotImplementedError, ValueError, ...) on the rest"])


def _backward(invocation: Invocation, forward, case):
    inputs = case.input.data if hasattr(case.input, "batch_sizes") else case.input
    inputs.requires_grad_(True)
    for p in case.params.values():
        p.requires_grad_(True)
    output, h_n, c_n = invocation.run_case(forward, case, grad=True)
    out = output.data if hasattr(output, "batch_sizes") else output
    invocation.backward([out.sum() + h_n.sum() + c_n.sum()], None)
    return output
