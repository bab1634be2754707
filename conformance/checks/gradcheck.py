"""`check_gradcheck(candidate, recipe)`: `torch.autograd.gradcheck` on a (tiny, float64) recipe,
the candidate's backward against finite differences of its own forward (gradients.py compares
it with nn.LSTM's)."""
from __future__ import annotations

import re

import torch
from torch.autograd.gradcheck import GradcheckError
from torch.nn.utils.rnn import PackedSequence

from conformance.checks.gradients import NOT_DIFFERENTIABLE, with_leaves
from conformance.core.compare import TENSOR_NAMES, tensors
from conformance.core.failures import ConformanceFailure
from conformance.core.invoke import Invocation, checker
from conformance.model.cases import Case, CaseRecipe


@checker
def check_gradcheck(candidate, recipe: CaseRecipe, fast_mode: bool = True) -> None:
    """`torch.autograd.gradcheck` of the candidate on `recipe` (meant for tiny float64 ones):
    its backward against finite differences of its own forward, for the input (a packed
    input's .data), h0, c0 and every parameter. The candidate is rebuilt at every call, from
    the tensors gradcheck perturbs. fast_mode (the default) compares one random projection of
    each Jacobian instead of all of it: as sensitive to a wrong derivative, far cheaper."""
    invocation = Invocation(candidate, recipe, "check_gradcheck", __name__,
                            **({} if fast_mode else {"fast_mode": False}))
    candidate = invocation.candidate
    case = recipe.build()
    _, leaves = with_leaves(case)
    labels = list(leaves)

    def forward(*values):
        given = dict(zip(labels, values))
        lstm_input = case.input
        if "input.data" in given:
            lstm_input = PackedSequence(given["input.data"], case.input.batch_sizes,
                                        case.input.sorted_indices, case.input.unsorted_indices)
        elif "input" in given:
            lstm_input = given["input"]
        hx = case.hx if case.hx is None else type(case.hx)((given["h0"], given["c0"]))
        params = {name: given[name] for name in case.params}
        leafed = Case(spec=case.spec, params=params, input=lstm_input, hx=hx,
                      pass_hx=case.pass_hx)
        return tensors(invocation.run_case(invocation.build(leafed.spec, params), leafed,
                                           grad=True))

    inputs = tuple(leaves.values())
    try:
        with torch.enable_grad():
            if not any(isinstance(t, torch.Tensor) and t.requires_grad for t in forward(*inputs)):
                invocation.fail([NOT_DIFFERENTIABLE])
            torch.autograd.gradcheck(forward, inputs, fast_mode=fast_mode)
    except ConformanceFailure:
        raise
    except GradcheckError as exc:
        invocation.fail([_gradcheck_problem(str(exc), labels)])
    except Exception as exc:
        invocation.fail([f"gradcheck raised {type(exc).__name__}: {exc}"], kind="raised")


def _gradcheck_problem(message: str, labels: list[str]) -> str:
    """gradcheck's first line, with output/input indices replaced by names."""
    first = message.strip().splitlines()[0] if message.strip() else "gradcheck failed"

    def name(match):
        kind, index = match.group(1), int(match.group(2))
        names = TENSOR_NAMES if kind == "output" else labels
        return f"{kind} {names[index]!r}" if index < len(names) else match.group(0)

    first = re.sub(r"(output|input) (\d+)", name, first)
    return f"torch.autograd.gradcheck: {first}"
