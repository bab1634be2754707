"""How every check reaches a candidate: build it, call it, switch its mode, backpropagate.

Each family does all of this through an `Invocation`, which applies the per-call time limit
and the output capture (`guard`), turns anything the candidate raises or returns malformed
into a `Failure` of the check, and names the call that went wrong. A family marks each of
its public checks with `@checker`: that makes the check run in the candidate's worker
process when isolation is on (`sandbox`), and lets reproduction snippets name it; adding a
family means writing its module, never editing this one.
"""
from __future__ import annotations

import functools
from typing import NoReturn

import torch
from torch.nn.utils.rnn import PackedSequence

from conformance.core import guard, registry, sandbox
from conformance.core.compare import ResultShapeError, unpack
from conformance.core.failures import ConformanceFailure, Failure, Problem

DEFAULT_TIMEOUT = 60.0  # seconds per build or forward call; --conformance-example-timeout


class Limits:
    """The per-call time limit of this process (the plugin sets it; a worker inherits it)."""

    timeout: float | None = DEFAULT_TIMEOUT


def checker(function):
    """Mark `function(candidate, recipe, ...)` as a public check of a family.

    Called in the test process with isolation on, it runs in the candidate's worker; inside
    a worker, or without isolation, it runs here. Its `__module__` and `__name__` are what
    reproduction snippets import.
    """
    @functools.wraps(function)
    def run(candidate, *args, **kwargs):
        return sandbox.dispatch(run, registry.load(candidate), args, kwargs)

    run.in_process = function
    return run


class Invocation:
    """One check's access to one candidate on one example."""

    def __init__(self, candidate, recipe, checker_name: str, checker_module: str,
                 **checker_args):
        self.candidate = registry.load(candidate)
        self.recipe = recipe
        self.checker = checker_name
        self.module = checker_module
        self.checker_args = checker_args
        self.positional: tuple | None = None  # the check's arguments, if not (recipe,)

    # -- failures -----------------------------------------------------------------------
    def failure(self, problems, kind: str = "mismatch") -> Failure:
        return Failure(self.candidate.name, registry.loadable_name(self.candidate),
                       self.recipe, self.checker, self.module, self.checker_args,
                       list(problems), kind, arguments=self.positional)

    def fail(self, problems, kind: str = "mismatch") -> NoReturn:
        raise ConformanceFailure(self.failure(problems, kind))

    def check(self, problems) -> None:
        if problems:
            self.fail(problems)

    def _raised(self, what: str, exc: BaseException) -> NoReturn:
        kind = "timeout" if isinstance(exc, guard.CandidateTimeout) else "raised"
        raise ConformanceFailure(self.failure(
            [Problem(text=f"{what} raised {type(exc).__name__}: {exc}")], kind)) from exc

    def guarded(self, what: str, function, *args, **kwargs):
        """`function(*args, **kwargs)`: candidate code, under the time limit and capture."""
        try:
            with guard.captured_output(self.candidate.name), \
                    guard.time_limit(Limits.timeout, what):
                return function(*args, **kwargs)
        except ConformanceFailure:
            raise
        except Exception as exc:
            self._raised(what, exc)

    def attempt(self, what: str, function, *args):
        """(result, None) or (None, the exception): for calls that are meant to raise. A
        call that hangs still fails the check."""
        try:
            with guard.captured_output(self.candidate.name), \
                    guard.time_limit(Limits.timeout, what), torch.no_grad():
                return function(*args), None
        except guard.CandidateTimeout as exc:
            self._raised(what, exc)
        except Exception as exc:
            return None, exc

    # -- the candidate's life cycle ----------------------------------------------------------
    def build(self, spec=None, params=None, case=None):
        """`build(spec, params)`, in eval mode when the forward object has modes."""
        if case is not None:
            spec, params = case.spec, case.params
        forward = self.guarded("build(spec, params)", self.candidate.build, spec, params)
        if not callable(forward):
            self.fail([f"build(spec, params) returned {type(forward).__name__}, not a "
                       "callable forward(input, hx=None)"])
        self.set_mode(forward, training=False)
        return forward

    def set_mode(self, forward, training: bool) -> None:
        """forward.train() or forward.eval(); eval only when the object has it."""
        name = "train" if training else "eval"
        method = getattr(forward, name, None)
        if not callable(method):
            if training:
                self.fail([f"forward ({type(forward).__name__}) has no .train(): declare "
                           "dropout unsupported or give forward .train()/.eval(): the suite "
                           "puts the forward object in training mode with forward.train()"])
            return
        self.guarded(f"forward.{name}()", method)

    def call(self, forward, input, hx=None, pass_hx: bool = True, label: str = "",
             grad: bool = False) -> tuple:
        """(output, h_n, c_n) of forward(input[, hx]); under no_grad unless `grad`."""
        what = (f"{label}: " if label else "") + describe_call(input, hx, pass_hx)
        with torch.set_grad_enabled(grad):
            result = self.guarded(what, lambda: forward(input, hx) if pass_hx else forward(input))
        try:
            return unpack(result)
        except ResultShapeError as exc:
            self.fail([f"{what}: {exc}"])

    def run_case(self, forward, case, label: str = "", grad: bool = False) -> tuple:
        return self.call(forward, case.input, case.hx, case.pass_hx, label, grad)

    def backward(self, outputs, grads, label: str = "backward") -> None:
        """torch.autograd.backward through the candidate's graph."""
        self.guarded(label, torch.autograd.backward, outputs, grads)


def describe_value(value) -> str:
    """A short description of a forward argument or result: kind, dtype and shape."""
    if value is None:
        return "None"
    if isinstance(value, PackedSequence):
        return (f"PackedSequence(data {_dtype_name(value.data)}{tuple(value.data.shape)}, "
                f"batch_sizes {value.batch_sizes.tolist()})")
    if isinstance(value, torch.Tensor):
        return f"{_dtype_name(value)}{tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(describe_value(v) for v in value)
        if isinstance(value, tuple):
            return f"({inner},)" if len(value) == 1 else f"({inner})"
        return f"[{inner}]"
    return type(value).__name__


def describe_call(input, hx=None, pass_hx: bool = True) -> str:
    args = describe_value(input) + (f", {describe_value(hx)}" if pass_hx else "")
    return f"forward({args})"


def _dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")
