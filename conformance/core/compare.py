"""Comparing what a candidate returned with what nn.LSTM returned.

Every problem is reported as one line naming the value, what it should be, and what it was.
"""
from __future__ import annotations

import torch
from torch.nn.utils.rnn import PackedSequence

from conformance.core.failures import Problem
from conformance.core.tolerance import Tolerance

TENSOR_NAMES = ("output", "h_n", "c_n")


class ResultShapeError(Exception):
    """The candidate's return value is not (output, (h_n, c_n))."""


def unpack(result) -> tuple:
    """(output, h_n, c_n) from `(output, (h_n, c_n))`, or raise ResultShapeError saying why."""
    if not isinstance(result, (tuple, list)) or isinstance(result, PackedSequence):
        raise ResultShapeError(
            f"forward returned {_kind(result)}; it should return (output, (h_n, c_n))")
    if len(result) != 2:
        raise ResultShapeError(
            f"forward returned a {type(result).__name__} of {len(result)} items; "
            "it should return 2: (output, (h_n, c_n))")
    output, state = result
    if not isinstance(state, (tuple, list)) or isinstance(state, PackedSequence) or len(state) != 2:
        raise ResultShapeError(
            f"forward returned (output, {_kind(state)}); the second item should be (h_n, c_n)")
    return output, state[0], state[1]


def _kind(value) -> str:
    if isinstance(value, torch.Tensor):
        return f"a Tensor of shape {tuple(value.shape)}"
    if isinstance(value, (tuple, list)) and not isinstance(value, PackedSequence):
        return f"a {type(value).__name__} of {len(value)} items"
    return f"a {type(value).__name__}"


def _index_tensor(t):
    return None if t is None else t.tolist()


def structure_problems(actual: tuple, expected: tuple) -> list[str]:
    """Type, PackedSequence bookkeeping, shape, dtype and device of each returned tensor."""
    problems = []
    out, exp_out = actual[0], expected[0]
    if isinstance(exp_out, PackedSequence):
        if not isinstance(out, PackedSequence):
            return [f"output is {_kind(out)}, should be a PackedSequence (input was packed)"]
        for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
            got, want = _index_tensor(getattr(out, field)), _index_tensor(getattr(exp_out, field))
            if got != want:
                problems.append(f"output.{field} is {got}, should be {want}")
    elif not isinstance(out, torch.Tensor) or isinstance(out, PackedSequence):
        return [f"output is {_kind(out)}, should be a Tensor"]
    for name, got, want in zip(TENSOR_NAMES, tensors(actual), tensors(expected)):
        if not isinstance(got, torch.Tensor):
            problems.append(f"{name} is {_kind(got)}, should be a Tensor")
            continue
        if got.shape != want.shape:
            problems.append(f"{name} has shape {tuple(got.shape)}, should be {tuple(want.shape)}")
        if got.dtype != want.dtype:
            problems.append(f"{name} has dtype {got.dtype}, should be {want.dtype}")
        if got.device != want.device:
            problems.append(f"{name} is on device {got.device}, should be on {want.device}")
    return problems


def tensors(result: tuple) -> tuple:
    """(output, h_n, c_n) with a PackedSequence output replaced by its data."""
    output = result[0].data if isinstance(result[0], PackedSequence) else result[0]
    return (output, result[1], result[2])


def value_problem(name: str, got: torch.Tensor, want: torch.Tensor, truth: torch.Tensor,
                  tol: Tolerance) -> Problem | None:
    """A Problem if `got` is farther from `truth` than allowed anywhere, or farther in root
    mean square over the whole tensor (Tolerance.rms_allowed), else None.

    Names the first offending index (in row-major order; for the root mean square, the element
    that uses most of its own allowance), the worst error, and how many elements are out of
    tolerance. NaN or inf where the truth is finite always counts.
    """
    truth64 = truth.to(torch.float64)
    allowed = tol.allowed(truth64)
    found = deviation(name, got, truth64, allowed, reference=want)
    rms_allowed = tol.rms_allowed(truth64)
    if found is not None or rms_allowed == float("inf"):
        return found
    return rms_deviation(name, got, truth64, allowed, rms_allowed, reference=want)


def rms_deviation(name: str, got: torch.Tensor, want: torch.Tensor, allowed: torch.Tensor,
                  rms_allowed: float, reference: torch.Tensor) -> Problem | None:
    """The whole-tensor comparison: root mean square of |got - want| <= rms_allowed, else a
    Problem at the element that uses most of its own `allowed` (every element is within it
    when this is called)."""
    got64 = got.detach().to("cpu", torch.float64)
    want64 = want.detach().to("cpu", torch.float64)
    error = (got64 - want64).abs()
    rms_error = error.square().mean().sqrt().item()
    if rms_error <= rms_allowed:
        return None
    used = torch.where(error > 0, error / allowed, torch.zeros_like(error))
    worst = tuple(int(i) for i in torch.nonzero(used == used.max())[0])
    return _problem(name, got64, want64, reference, error, allowed, worst, 0,
                    rms_error=rms_error, rms_allowed=rms_allowed)


def _problem(name, got64, want64, reference, error, allowed, index, bad, **fields) -> Problem:
    """The Problem of a comparison, shown at `index` (`reference`: nn.LSTM in the candidate's
    dtype, for the message; None: `want64`)."""
    finite = torch.where(torch.isfinite(error), error, torch.full_like(error, float("inf")))
    ref64 = want64 if reference is None else reference.detach().to("cpu", torch.float64)
    return Problem(
        tensor=name, index=index, got=got64[index].item(), reference=ref64[index].item(),
        truth=want64[index].item(), error=error[index].item(), allowed=allowed[index].item(),
        bad=bad, total=error.numel(), max_abs=finite.max().item(),
        max_rel=(finite / want64.abs().clamp_min(1e-30)).max().item(), **fields)


def out_of_tolerance(got: torch.Tensor, want: torch.Tensor, allowed,
                     nan_equal: bool = False) -> torch.Tensor:
    """Elementwise |got - want| > allowed, NaN counting as out (both NaN: in, if
    `nan_equal`). The one rule every comparison of the suite applies."""
    bad = ~((got - want).abs() <= allowed)
    if nan_equal:
        bad &= ~(got.isnan() & want.isnan())
    return bad


def deviation(name: str, got: torch.Tensor, want: torch.Tensor, allowed: torch.Tensor,
              reference: torch.Tensor | None = None, against: str = "nn.LSTM",
              nan_equal: bool = False) -> Problem | None:
    """The one element-wise comparison: |got - want| <= allowed everywhere, else a Problem.

    NaN anywhere fails, unless `nan_equal` and both are NaN there (two runs of the candidate
    that agree on a NaN agree). `reference`: what nn.LSTM gave in the candidate's dtype, for
    the message (defaults to `want`)."""
    got64 = got.detach().to("cpu", torch.float64)
    want64 = want.detach().to("cpu", torch.float64)
    allowed = torch.as_tensor(allowed, dtype=torch.float64).expand_as(want64)
    error = (got64 - want64).abs()
    bad = out_of_tolerance(got64, want64, allowed, nan_equal)
    if not bool(bad.any()):
        return None
    first = tuple(int(i) for i in torch.nonzero(bad)[0]) if bad.dim() else ()
    return _problem(name, got64, want64, reference, error, allowed, first, int(bad.sum()),
                    against=against)
