"""What the benchmarks time: targets, sizes, the checks made before timing, the timed steps.

A *target* is a registered candidate or one of two baselines: `nn.LSTM` itself and
`nn.LSTM-no-oneDNN` (nn.LSTM with `torch.backends.mkldnn` disabled, its plain ATen kernels:
a second baseline on CPU). Every target is timed on a plain float32 seq-first batch without
hx, built deterministically by `CaseRecipe`, forward (under no_grad) and forward+backward
(gradients of the input and every parameter, from a fixed random grad of the output).

Before a target is timed at a size, its output there is checked against nn.LSTM with the
suite's own `check_forward` (same tolerance, same failure message), and before its
forward+backward is timed its gradients are checked against nn.LSTM's the same way: a fast
wrong candidate is not a result.
"""
from __future__ import annotations

import functools
import os
import platform
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from conformance import CaseRecipe, ConformanceFailure, LSTMSpec
from conformance.check import check_forward, failure_message
from conformance.oracle import reference_module
from conformance.registry import BrokenCandidate, Candidate
from conformance.tolerance import max_abs_diff, recurrence_depth, tolerance_for

REFERENCE = "nn.LSTM"
NO_ONEDNN = "nn.LSTM-no-oneDNN"
BASELINES = (REFERENCE, NO_ONEDNN)

FORWARD = "fwd"
FORWARD_BACKWARD = "fwd+bwd"
DIRECTIONS = (FORWARD, FORWARD_BACKWARD)


# -- sizes --------------------------------------------------------------------------------

@dataclass(frozen=True, order=True)
class Size:
    """Batch N, sequence length T, input size I, hidden size H."""

    N: int
    T: int
    I: int  # noqa: E741 (the usual name)
    H: int

    @property
    def id(self) -> str:
        return f"N{self.N}-T{self.T}-I{self.I}-H{self.H}"

    @classmethod
    def from_id(cls, text: str) -> "Size":
        """The inverse of `id`: 'N32-T100-I128-H128' -> Size(32, 100, 128, 128)."""
        return cls(*(int(part[1:]) for part in text.split("-")))

    def recipe(self, device: str = "cpu") -> CaseRecipe:
        spec = LSTMSpec(input_size=self.I, hidden_size=self.H, device=device)
        return CaseRecipe(spec, seq_len=self.T, batch=self.N, seed=0)

    def as_dict(self) -> dict:
        """N, T, I, H, and the sets this size belongs to ("ladder", "sweep-T", ...)."""
        sets = (["ladder"] if self in LADDER else []) + [
            f"sweep-{axis}" for axis, sweep in SWEEPS.items() if self in sweep]
        return {"N": self.N, "T": self.T, "I": self.I, "H": self.H, "size_sets": sets}


# The ladder of the issue: every target at every rung.
LADDER = (Size(1, 10, 8, 8), Size(8, 50, 32, 32), Size(32, 100, 128, 128),
          Size(64, 200, 256, 256))
# Sweeps through the third rung, one dimension at a time: how cost grows with T, H and N.
BASE = LADDER[2]
SWEEPS = {
    "T": tuple(Size(BASE.N, t, BASE.I, BASE.H) for t in (25, 50, 100, 200, 400)),
    "H": tuple(Size(BASE.N, BASE.T, BASE.I, h) for h in (32, 64, 128, 256, 512)),
    "N": tuple(Size(n, BASE.T, BASE.I, BASE.H) for n in (1, 8, 32, 128)),
}
SIZE_SETS = {
    "smallest": LADDER[:1],
    "ladder": LADDER,
    "sweeps": tuple(s for sweep in SWEEPS.values() for s in sweep),
}
SIZE_SETS["all"] = LADDER + SIZE_SETS["sweeps"]


def parse_sizes(text: str) -> list[Size]:
    """'all', 'ladder', 'sweeps', 'smallest' or 'NxTxIxH', comma-separated; no duplicates."""
    sizes: list[Size] = []
    for word in (w.strip() for w in text.split(",")):
        if not word:
            continue
        if word in SIZE_SETS:
            sizes += SIZE_SETS[word]
            continue
        try:
            sizes.append(Size(*(int(d) for d in word.lower().split("x"))))
        except (TypeError, ValueError):
            raise ValueError(f"size {word!r}: expected one of {', '.join(SIZE_SETS)} "
                             "or NxTxIxH, e.g. 32x100x128x128") from None
    return list(dict.fromkeys(sizes))


# -- targets ------------------------------------------------------------------------------

@dataclass(frozen=True)
class Target:
    """Something to time: a baseline or a candidate."""

    name: str
    candidate: Candidate | BrokenCandidate  # the baselines are candidates too, for the checks

    @property
    def baseline(self) -> bool:
        return self.name in BASELINES

    @property
    def onednn(self) -> bool:
        """Whether oneDNN may be used while this target runs."""
        return self.name != NO_ONEDNN and torch.backends.mkldnn.is_available()

    def instantiate(self, spec: LSTMSpec, params: dict, requires_grad: bool):
        """(forward, leaves): a forward function and the tensors that receive gradients."""
        if self.baseline:
            module = reference_module(spec, params).requires_grad_(requires_grad)
            forward = module if self.onednn else _without_onednn(module)
            return forward, dict(module.named_parameters())
        leaves = {k: v.detach().clone().requires_grad_(requires_grad) for k, v in params.items()}
        return self.candidate.build(spec, leaves), leaves


def _without_onednn(module):
    def forward(input, hx=None):
        with torch.backends.mkldnn.flags(enabled=False):
            return module(input, hx)
    return forward


def _build_reference(spec, params):
    return reference_module(spec, params)


def _build_no_onednn(spec, params):
    return _without_onednn(reference_module(spec, params))


def targets(candidates) -> list[Target]:
    """The baselines, then the candidates (registered, or chosen with --impl)."""
    found = [Target(REFERENCE, Candidate(REFERENCE, _build_reference, origin="torch.nn.LSTM")),
             Target(NO_ONEDNN, Candidate(NO_ONEDNN, _build_no_onednn,
                                         origin="torch.nn.LSTM without oneDNN"))]
    if not torch.backends.mkldnn.is_available():
        found.pop()  # nothing to disable: it would be nn.LSTM again
    names = {t.name for t in found}
    found += [Target(c.name, c) for c in candidates if c.name not in names]
    return found


# -- checks before timing ------------------------------------------------------------------

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


def _grad_output(output: torch.Tensor) -> torch.Tensor:
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
    output.backward(_grad_output(output))
    names = ["input", *case.spec.param_shapes()]
    grads = [x.grad, *(leaves[n].grad for n in names[1:])]
    return dict(zip(names, grads))


def _reference_gradients(size: Size, device: str):
    reference = Target(REFERENCE, Candidate(REFERENCE, _build_reference))
    recipe = size.recipe(device)
    return (gradients(reference, recipe),
            gradients(reference, recipe, dtype=torch.float64, device="cpu"))


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
        raise ConformanceFailure(failure_message(
            target.candidate, recipe, [f"forward+backward raised {type(exc).__name__}: {exc}"]))
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
        tol = tolerance_for(want.dtype, depth, max_abs_diff(want, true))
        error = (grad.detach().to("cpu", torch.float64) - true).abs()
        bad = ~(error <= tol.allowed(true))
        if bool(bad.any()):
            problems.append(f"grad of {name} differs from nn.LSTM's in {int(bad.sum())} of "
                            f"{bad.numel()} elements, max abs error {error.max().item():.3g} "
                            f"(nn.LSTM's own: {max_abs_diff(want, true):.3g})")
    if problems:
        raise ConformanceFailure(failure_message(target.candidate, recipe, problems))
    return "output and gradients match nn.LSTM"


# -- the timed steps ------------------------------------------------------------------------

def _synchronizer(device: str) -> Callable[[], None]:
    """What ends a timed step: waiting for the device's queued kernels (cuda), or nothing."""
    if torch.device(device).type == "cuda":
        return functools.partial(torch.cuda.synchronize, torch.device(device))
    return lambda: None


def forward_step(target: Target, size: Size, device: str) -> Callable[[], None]:
    """One inference forward pass, as a function of no arguments."""
    case = size.recipe(device).build()
    forward, _ = target.instantiate(case.spec, case.params, requires_grad=False)
    x, sync = case.input, _synchronizer(device)

    def step():
        with torch.no_grad():
            forward(x)
        sync()
    return step


def forward_backward_step(target: Target, size: Size, device: str) -> Callable[[], None]:
    """One forward pass and the backward pass to the input and every parameter."""
    case = size.recipe(device).build()
    forward, leaves = target.instantiate(case.spec, case.params, requires_grad=True)
    x, sync = case.input.detach().clone().requires_grad_(), _synchronizer(device)
    grad_output = None
    tensors = [x, *leaves.values()]

    def step():
        nonlocal grad_output
        for t in tensors:
            t.grad = None
        output, _ = forward(x)
        if grad_output is None:
            grad_output = _grad_output(output)
        output.backward(grad_output)
        sync()
    return step


# -- what the JSON records ----------------------------------------------------------------

def cpu_model() -> str:
    try:
        with open("/proc/cpuinfo") as f:
            for line in f:
                if line.startswith("model name"):
                    return line.split(":", 1)[1].strip()
    except OSError:
        pass
    return platform.processor() or platform.machine()


def environment_info(device: str = "cpu") -> dict:
    """Torch build and threads, and the machine: stored in every benchmark's extra_info."""
    info = {
        "torch_version": torch.__version__,
        "torch_threads": torch.get_num_threads(),
        "torch_interop_threads": torch.get_num_interop_threads(),
        "mkldnn_available": torch.backends.mkldnn.is_available(),
        "mkl_available": torch.backends.mkl.is_available(),
        "cuda_build": torch.version.cuda,
        "numpy_version": np.__version__,
        "cpu": cpu_model(),
        "cpu_count": os.cpu_count(),
        "device": device,
        "load_average": os.getloadavg() if hasattr(os, "getloadavg") else None,
        "thread_env": {k: os.environ[k] for k in
                       ("OMP_NUM_THREADS", "MKL_NUM_THREADS", "OPENBLAS_NUM_THREADS")
                       if k in os.environ},
    }
    if torch.device(device).type == "cuda":
        info["cuda_device"] = torch.cuda.get_device_name(torch.device(device))
    return info
