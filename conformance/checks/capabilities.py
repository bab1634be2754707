"""Verifying "unsupported" claims: a candidate must reject what it says it does not support.

For each declared-unsupported feature, `requiring(feature, base)` turns a recipe the candidate
does support into the smallest one that needs the feature; building or calling the candidate
on it must raise. Returning numbers instead is the worst outcome for a user (a silently wrong
answer), so it is a failure.
"""
from __future__ import annotations

import torch

from conformance.model.cases import CaseRecipe
from conformance.checks.forward import DEFAULT_TIMEOUT, ConformanceFailure, failure_message, load
from conformance.core.guard import captured_output, time_limit
from conformance.model.spec import LSTMSpec

DTYPES = {"float16": torch.float16, "bfloat16": torch.bfloat16,
          "float32": torch.float32, "float64": torch.float64}


def base_recipe() -> CaseRecipe:
    """A small plain example; `ConformanceRun.adapt` maps it onto what a candidate supports."""
    return CaseRecipe(LSTMSpec(3, 4, dtype=torch.float64), seq_len=3, batch=2, seed=11)


def requiring(feature: str, base: CaseRecipe) -> CaseRecipe | None:
    """`base` changed just enough to need `feature` (None: not possible on this machine)."""
    spec = base.spec
    if feature in DTYPES:
        return base.replace(spec=spec.replace(dtype=DTYPES[feature]))
    if feature in ("cpu", "cuda", "mps"):
        return base.replace(spec=spec.replace(device=feature))
    changes = {
        "num_layers": lambda: base.replace(spec=spec.replace(num_layers=2)),
        "bidirectional": lambda: base.replace(spec=spec.replace(bidirectional=True)),
        "proj_size": lambda: base.replace(spec=spec.replace(proj_size=2)),
        "no_bias": lambda: base.replace(spec=spec.replace(bias=False)),
        "batch_first": lambda: base.replace(spec=spec.replace(batch_first=True),
                                            lengths=None, batch=base.batch or 2),
        "seq_first": lambda: base.replace(spec=spec.replace(batch_first=False),
                                          lengths=None, batch=base.batch or 2),
        "unbatched": lambda: base.replace(batch=None, lengths=None),
        "packed": lambda: base.replace(batch=3, lengths=(3, 1, 2), enforce_sorted=False),
        "initial_state": lambda: base.replace(hx="random"),
        "dropout": lambda: base.replace(spec=spec.replace(dropout=0.5, num_layers=2)),
        "backward": lambda: base,
    }
    return changes[feature]()


def check_rejects(candidate, recipe: CaseRecipe, feature: str,
                  timeout: float | None = DEFAULT_TIMEOUT) -> None:
    """Raise ConformanceFailure if the candidate returns a result on `recipe`, which needs
    `feature`; `candidate` as for `conformance.check`."""
    candidate = load(candidate)
    case = recipe.build()
    try:
        with captured_output(candidate.name), time_limit(timeout, "the candidate"):
            forward = candidate.build(case.spec, case.params)
            if feature == "dropout":
                forward.train()  # dropout only acts in training mode
            if feature == "backward":
                result = _backward(forward, case)
            else:
                with torch.no_grad():
                    result = case.call(forward)
    except ConformanceFailure:
        raise
    except Exception:
        return  # rejected, as declared
    raise ConformanceFailure(failure_message(candidate, recipe, [
        f"declared {feature!r} unsupported but returned a result "
        f"({type(result).__name__}) instead of raising: declare only what it really cannot do, "
        "and make it raise (NotImplementedError, ValueError, ...) on the rest"],
        checker="check_rejects", checker_args=f", feature={feature!r}"))


def _backward(forward, case):
    inputs = case.input.data if hasattr(case.input, "batch_sizes") else case.input
    inputs.requires_grad_(True)
    for p in case.params.values():
        p.requires_grad_(True)
    output, (h_n, c_n) = case.call(forward)
    out = output.data if hasattr(output, "batch_sizes") else output
    (out.sum() + h_n.sum() + c_n.sum()).backward()
    return output
