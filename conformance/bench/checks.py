"""The checks made before a target is timed at a size: its output, and before its
forward+backward is timed its gradients, against nn.LSTM's at that size. A fast wrong
candidate fails instead of producing a number.
"""
from __future__ import annotations

import functools

import numpy as np
import torch

from conformance import CaseRecipe

from ._internal import check_forward, failure, max_abs_diff, recurrence_depth
from .sizes import Size
from .targets import REFERENCE, Target, baseline

_CHECKED: dict[tuple, str | None] = {}  # (check, target name, size, device) -> outcome


def _once(check):
    """Run a check once per target, size and device in this process (forward and
    forward+backward benchmarks share it); a failure is not remembered, so it repeats."""
    @functools.wraps(check)
    def checked(target: Target, size: Size, device: str):
        key = (check.__name__, target.name, size, device)
        if key not in _CHECKED:
            _CHECKED[key] = check(target, size, device)
        return _CHECKED[key]
    return checked


@_once
def check_output(target: Target, size: Size, device: str) -> str:
    """Raise ConformanceFailure unless the target's forward matches nn.LSTM at `size`."""
    if target.name == REFERENCE:
        return "reference"
    check_forward(target.candidate, size.recipe(device))
    return "output matches nn.LSTM"


def grad_output(output: torch.Tensor) -> torch.Tensor:
    """The fixed random gradient of the output that every backward starts from."""
    rng = np.random.default_rng(1)
    values = torch.from_numpy(rng.standard_normal(tuple(output.shape))).to(torch.float32)
    return values.to(dtype=output.dtype, device=output.device)


def gradients(target: Target, recipe: CaseRecipe, dtype=None, device=None):
    """Gradients of (input, *params in spec order) of sum(output * grad_output), or None when
    the target's output carries no autograd history (it has no backward)."""
    case = recipe.build(dtype=dtype, device=device)
    forward, leaves = target.instantiate(case.spec, case.params, requires_grad=True)
    x = case.input.detach().clone().requires_grad_()
    output, _ = forward(x)
    if not output.requires_grad:
        return None
    output.backward(grad_output(output))
    names = ["input", *case.spec.param_shapes()]
    grads = [x.grad, *(leaves[n].grad for n in names[1:])]
    return dict(zip(names, grads))


def _reference_gradients(size: Size, device: str):
    reference = baseline(REFERENCE)
    recipe = size.recipe(device)
    return (gradients(reference, recipe),
            gradients(reference, recipe, dtype=torch.float64, device="cpu"))


# The gradient gate asks "same function?", not "as precise as nn.LSTM?" (the suite's gradient
# family asks that, with gauges too costly at benchmark sizes): a multiple of nn.LSTM's own
# error plus a few ulps per sequential rounding, far below the gradients' size.
GATE_MULTIPLE = 8.0
GATE_ULPS = 16.0


def gate_allowance(dtype, depth: int, reference_error: float, truth: torch.Tensor):
    """Allowed |candidate gradient - float64 gradient| per element at a benchmark size."""
    return (GATE_MULTIPLE * reference_error
            + GATE_ULPS * torch.finfo(dtype).eps * depth ** 0.5 * (1 + truth.abs()))


@_once
def check_gradients(target: Target, size: Size, device: str) -> str | None:
    """Raise ConformanceFailure unless the target's gradients match nn.LSTM's at `size`.

    Returns None when the target has no backward. The tolerance is the suite's forward
    formula per element (a multiple of nn.LSTM's own float32 gradient error against float64
    plus a floor of a few ulps of 1 + |value|), without the sensitivity term and the
    gradient family's floor: these sizes are well conditioned, and a second float64 backward
    at (64, 200, 256, 256) would cost more than the check is worth.
    """
    if target.name == REFERENCE:
        return "reference"
    recipe = size.recipe(device)
    try:
        got = gradients(target, recipe)
    except Exception as exc:
        raise failure(target.candidate, recipe,
                      [f"forward+backward raised {type(exc).__name__}: {exc}"])
    if got is None:
        return None
    expected, truth = _reference_gradients(size, device)  # float32, and float64 (the truth)
    depth = recurrence_depth(recipe.spec, recipe.seq_len)
    problems = []
    for name, want in expected.items():
        grad = got[name]
        if grad is None:
            problems.append(f"grad of {name} is None, should have shape {tuple(want.shape)}")
            continue
        if grad.shape != want.shape:
            problems.append(f"grad of {name} has shape {tuple(grad.shape)}, "
                            f"should be {tuple(want.shape)}")
            continue
        true = truth[name]
        error = (grad.detach().to("cpu", torch.float64) - true).abs()
        bad = ~(error <= gate_allowance(want.dtype, depth, max_abs_diff(want, true), true))
        if bool(bad.any()):
            problems.append(f"grad of {name} differs from nn.LSTM's in {int(bad.sum())} of "
                            f"{bad.numel()} elements, max abs error {error.max().item():.3g} "
                            f"(nn.LSTM's own: {max_abs_diff(want, true):.3g})")
    if problems:
        raise failure(target.candidate, recipe, problems)
    return "output and gradients match nn.LSTM"
