"""Integrity: a check leaves what it was given alone, and repeats itself exactly.

    check_no_mutation   build and forward leave params, input and hx as they were, in value
                        and in `_version`
    check_determinism   on the cpu, two calls (and a call of a second build) are bitwise equal
"""
from __future__ import annotations

import torch
from torch.nn.utils.rnn import PackedSequence

from conformance.core.compare import TENSOR_NAMES, tensors
from conformance.core.invoke import Invocation, checker, describe_call, describe_value
from conformance.model.cases import Case, CaseRecipe


# -- no mutation --------------------------------------------------------------------------

def _snapshot(tensor: torch.Tensor):
    return (tensor, tensor.detach().clone(), tensor._version, tuple(tensor.shape),
            tensor.stride())


def _mutation(what: str, snap, when: str) -> str | None:
    tensor, values, version, shape, stride = snap
    if tuple(tensor.shape) != shape or tensor.stride() != stride:
        return (f"{what} has shape {tuple(tensor.shape)} stride {tensor.stride()} {when}, "
                f"should be shape {shape} stride {stride} as given (changed in place)")
    now = tensor.detach()
    same = (now == values) | (now.isnan() & values.isnan())
    if not bool(same.all()):
        first = tuple(int(i) for i in torch.nonzero(~same)[0]) if same.dim() else ()
        return (f"{what}{list(first)} is {now[first].item():.7g} {when}, should be "
                f"{values[first].item():.7g} as given; {int((~same).sum())} of {same.numel()} "
                f"elements changed in place (_version {version} -> {tensor._version})")
    if tensor._version != version:
        return (f"{what}._version is {tensor._version} {when}, should be {version} as given: "
                "modified in place (values restored afterwards)")
    return None


def _input_tensors(case: Case) -> list[tuple[str, torch.Tensor]]:
    found = []
    if isinstance(case.input, PackedSequence):
        for field in ("data", "batch_sizes", "sorted_indices", "unsorted_indices"):
            value = getattr(case.input, field)
            if value is not None:
                found.append((f"input.{field}", value))
    else:
        found.append(("input", case.input))
    if case.hx is not None:
        found += [("hx[0] (h0)", case.hx[0]), ("hx[1] (c0)", case.hx[1])]
    return found


@checker
def check_no_mutation(candidate, recipe: CaseRecipe) -> None:
    """build(spec, params) and forward(input, hx) change none of params, input (a tensor or
    a PackedSequence's fields) and hx: not their values, shapes, strides or `_version`
    counters, and the params dict and hx list keep their entries."""
    runner = Invocation(candidate, recipe, "check_no_mutation", __name__)
    case = recipe.build()
    param_snaps = {name: _snapshot(t) for name, t in case.params.items()}
    params_dict = dict(case.params)
    hx_items = None if case.hx is None else list(case.hx)

    def params_problems(when: str) -> list[str]:
        problems = []
        if set(case.params) != set(params_dict) or any(
                case.params[k] is not v for k, v in params_dict.items() if k in case.params):
            problems.append(f"the params dict's entries were replaced or removed {when}: "
                            f"keys {sorted(case.params)}, should be {sorted(params_dict)}")
        for name, snap in param_snaps.items():
            line = _mutation(f"params[{name!r}]", snap, when)
            if line:
                problems.append(line)
        return problems

    forward = runner.build(case.spec, case.params)
    runner.check(params_problems("after build(spec, params)"))
    other_snaps = [(what, _snapshot(t)) for what, t in _input_tensors(case)]
    call = describe_call(case.input, case.hx, case.pass_hx)
    runner.run_case(forward, case, "no mutation")
    when = f"after {call}"
    problems = params_problems(when)
    problems += [line for what, snap in other_snaps if (line := _mutation(what, snap, when))]
    if hx_items is not None and (len(case.hx) != 2 or any(
            a is not b for a, b in zip(case.hx, hx_items))):
        problems.append(f"the hx {type(case.hx).__name__} was modified {when}: it holds "
                        f"{describe_value(case.hx)}, should hold {describe_value(hx_items)}")
    runner.check(problems)


# -- determinism --------------------------------------------------------------------------

_BITS = {torch.float16: torch.int16, torch.bfloat16: torch.int16, torch.float32: torch.int32,
         torch.float64: torch.int64}


def _bitwise_problem(label: str, name: str, got, want, got_how: str, want_how: str):
    if not isinstance(got, torch.Tensor) or not isinstance(want, torch.Tensor) or \
            got.shape != want.shape or got.dtype != want.dtype:
        return (f"{label}: {name} is {describe_value(got)} {got_how}, should be "
                f"{describe_value(want)} {want_how}")
    bits = _BITS.get(got.dtype)
    if bits is None:
        same = got == want
    else:
        same = got.contiguous().view(bits) == want.contiguous().view(bits)
    if bool(same.all()):
        return None
    first = tuple(int(i) for i in torch.nonzero(~same)[0]) if same.dim() else ()
    diff = (got.double() - want.double()).abs()
    return (f"{label}: {name}{list(first)} is {got[first].item()!r} {got_how}, should be "
            f"bitwise {want[first].item()!r} {want_how}; {int((~same).sum())} of {same.numel()} "
            f"elements differ, max abs difference {diff.max().item():.3g}")


@checker
def check_determinism(candidate, recipe: CaseRecipe) -> None:
    """On the cpu the same call gives bitwise the same output, h_n and c_n: twice on one
    forward object, and once more on a second build."""
    runner = Invocation(candidate, recipe, "check_determinism", __name__)
    if torch.device(recipe.spec.device).type != "cpu":
        raise ValueError("check_determinism is a cpu check (other devices may legitimately "
                         "use nondeterministic kernels)")
    case = recipe.build()
    forward = runner.build(case.spec, case.params)
    first = runner.run_case(forward, case, "first call")
    second = runner.run_case(forward, case, "second call")
    third = runner.run_case(runner.build(case.spec, case.params), case,
                            "call of a second build")
    call = describe_call(case.input, case.hx, case.pass_hx)
    problems = []
    for got, how in ((second, "on the second call"), (third, "from a second build")):
        for name, g, w in zip(TENSOR_NAMES, tensors(got), tensors(first)):
            line = _bitwise_problem("determinism", name, g, w, f"{how} of {call}",
                                    "as on the first call")
            if line:
                problems.append(line)
        if problems:
            break
    runner.check(problems)
