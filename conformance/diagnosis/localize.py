"""Where a candidate first leaves nn.LSTM: the first divergence on one example.

The candidate's results (output, h_n, c_n) are compared with the float64 step-by-step
reference (`stepwise.trace`) within the tolerance `check_forward` allows. Layers below the
last are observed by running the candidate again with num_layers truncated (on the same
first layers' parameters, input and hx). "First" goes layer by layer; within a layer it
follows processing order (the reverse direction starts at the last time step), then h_n,
then c_n.
"""
from __future__ import annotations

import time
from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from conformance.model.cases import Case, CaseRecipe
from conformance.checks.forward import forward_tolerances, run_candidate
from conformance.core.failures import ConformanceFailure
from conformance.core.invoke import Invocation
from conformance.core import compare
from conformance.core.compare import structure_problems, unpack
from conformance.core.oracle import run_reference
from conformance.diagnosis.stepwise import Inputs, Trace, inputs_of
from conformance.core.tolerance import Tolerance

SHOWN = 4  # vector entries printed per value


class OutOfTime(Exception):
    """The diagnosis ran past its deadline."""


@dataclass
class Divergence:
    """The first place the candidate differs from the float64 reference."""

    tensor: str  # "output" or "h_n" or "c_n"
    layer: int
    direction: int
    batch: int
    time_step: int | None  # input order; None for h_n/c_n
    processing_step: int | None  # 0 = the direction's first step
    source: str  # which run of the candidate showed it
    got: list
    want: list
    error: float
    allowed: float
    # Set where no element is out of its allowance but the tensor's root-mean-square error is
    # (Tolerance.rms_allowed): (that error, the allowed); the place shown is the element that
    # uses most of its own allowance.
    rms: tuple | None = None

    def text(self) -> str:
        where = (f"{self.tensor} at time step {self.time_step} (processing step "
                 f"{self.processing_step} of direction {self.direction})"
                 if self.time_step is not None else f"{self.tensor} (final state)")
        verdict = (f"    max error {self.error:.3g} > allowed {self.allowed:.3g}"
                   if self.rms is None else
                   f"    root-mean-square error over the whole {self.tensor} {self.rms[0]:.3g} "
                   f"> allowed {self.rms[1]:.3g}; here error {self.error:.3g} of allowed "
                   f"{self.allowed:.3g}, the closest any element comes")
        return (f"{where}, layer {self.layer}, direction {self.direction}, batch element "
                f"{self.batch} [{self.source}]\n"
                f"    candidate {_fmt(self.got)}\n    reference {_fmt(self.want)} (float64)\n"
                + verdict)


def _fmt(values: list) -> str:
    shown = ", ".join(f"{v:.6g}" for v in values[:SHOWN])
    return f"[{shown}{', ...' if len(values) > SHOWN else ''}]"


# -- observing the candidate -------------------------------------------------------------

@dataclass
class Observed:
    """The candidate's results as float64 (T, N, ...) time-major tensors in user order."""

    layer_outputs: dict  # layer -> (T, N, D*H_out); from truncated runs below the last
    h_n: torch.Tensor
    c_n: torch.Tensor


def _time_major(recipe: CaseRecipe, result: tuple) -> tuple:
    out, h, c = result
    if isinstance(out, PackedSequence):
        out = pad_packed_sequence(out)[0]
    elif recipe.unbatched:
        out, h, c = out.unsqueeze(1), h.unsqueeze(1), c.unsqueeze(1)
    elif recipe.spec.batch_first:
        out = out.transpose(0, 1)
    return tuple(t.detach().to("cpu", torch.float64) for t in (out, h, c))


def _truncated(case: Case, layers: int) -> Case:
    """The same example with only the first `layers` layers (params, hx rows)."""
    spec = case.spec.replace(num_layers=layers, dropout=0.0 if layers == 1 else case.spec.dropout)
    params = {k: v for k, v in case.params.items() if k in spec.param_shapes()}
    hx = case.hx
    if hx is not None:
        rows = layers * spec.num_directions
        hx = type(hx)(t[:rows] for t in hx)
    return Case(spec, params, case.input, hx, case.pass_hx)


def _layer_outputs_below(invocation, recipe, case, deadline) -> dict:
    """Layer l's output for l < L-1, from the candidate run with num_layers = l + 1."""
    found = {}
    for layers in range(1, recipe.spec.num_layers):
        check_time(deadline)
        try:
            result = run_candidate(invocation, _truncated(case, layers))
            found[layers - 1] = _time_major(recipe, result)[0]
        except ConformanceFailure:
            break  # the candidate cannot run this truncation; later ones will not help
    return found


# -- tolerance -------------------------------------------------------------------------

def out_of_tolerance(got: torch.Tensor, want: torch.Tensor, tol: Tolerance) -> torch.Tensor:
    """Elementwise: out of tolerance (NaN counts as out)."""
    return compare.out_of_tolerance(got, want, tol.allowed(want))


# -- localization ---------------------------------------------------------------------------

def first_divergence(observed: Observed, ref: Trace, inputs: Inputs,
                     tols: list[Tolerance]) -> Divergence | None:
    """Layer by layer: outputs in processing order, then h_n, then c_n."""
    spec = inputs.spec
    L, D, width = spec.num_layers, spec.num_directions, spec.output_size
    out_tol, h_tol, c_tol = tols
    for layer in range(L):
        got = observed.layer_outputs.get(layer)
        source = ("full run" if layer == L - 1
                  else f"candidate run with num_layers={layer + 1}")
        if got is not None and got.shape == ref.layer_outputs[layer].shape:
            found = _first_in_output(got, ref.layer_outputs[layer], inputs.lengths, D, width,
                                     out_tol, layer, source)
            if found:
                return found
        for name, tensor, want, tol in (("h_n", observed.h_n, ref.h_n, h_tol),
                                        ("c_n", observed.c_n, ref.c_n, c_tol)):
            for d in range(D):
                k = layer * D + d
                bad = out_of_tolerance(tensor[k], want[k], tol).any(-1)
                if bool(bad.any()):
                    n = int(torch.nonzero(bad)[0])
                    return _divergence(name, layer, d, n, None, None, "full run",
                                       tensor[k, n], want[k, n], tol)
    return _spread_divergence(observed, ref, inputs, tols)


def _spread_divergence(observed: Observed, ref: Trace, inputs: Inputs,
                       tols: list[Tolerance]) -> Divergence | None:
    """The first of the full run's output, h_n and c_n whose root-mean-square error is out of
    tolerance while every element is in (Tolerance.rms_allowed), at the element that uses
    most of its own allowance."""
    spec = inputs.spec
    L, D, width = spec.num_layers, spec.num_directions, spec.output_size
    for name, got, want, tol in (("output", observed.layer_outputs.get(L - 1),
                                  ref.layer_outputs[L - 1], tols[0]),
                                 ("h_n", observed.h_n, ref.h_n, tols[1]),
                                 ("c_n", observed.c_n, ref.c_n, tols[2])):
        if got is None or got.shape != want.shape:
            continue
        error = (got - want).abs()
        # Over what the check compared: a packed output's steps within each sequence's length
        # (the padding, zero in both, would dilute the root mean square).
        valid = torch.ones_like(error, dtype=torch.bool)
        if name == "output":
            steps = torch.arange(error.shape[0])[:, None]
            valid = (steps < torch.tensor(inputs.lengths)[None, :])[..., None].expand_as(error)
        rms_allowed = tol.rms_allowed(want[valid])
        rms_error = error[valid].square().mean().sqrt().item()
        if not rms_error > rms_allowed:
            continue
        used = torch.where(valid & (error > 0), error / tol.allowed(want), torch.zeros_like(error))
        at = [int(i) for i in torch.nonzero(used == used.max())[0]]
        if name == "output":
            t, n, d = at[0], at[1], at[2] // width
            step = inputs.lengths[n] - 1 - t if d else t
            cols = slice(d * width, (d + 1) * width)
            found = _divergence(name, L - 1, d, n, t, step if step >= 0 else t, "full run",
                                got[t, n, cols], want[t, n, cols], tol)
        else:
            k, n = at[0], at[1]
            found = _divergence(name, k // D, k % D, n, None, None, "full run", got[k, n],
                                want[k, n], tol)
        found.rms = (rms_error, rms_allowed)
        return found
    return None


def _first_in_output(got, want, lengths, D, width, tol, layer, source) -> Divergence | None:
    best = None
    for d in range(D):
        cols = slice(d * width, (d + 1) * width)
        bad = out_of_tolerance(got[..., cols], want[..., cols], tol).any(-1)  # (T, N)
        for t, n in torch.nonzero(bad).tolist():
            step = t if d == 0 else lengths[n] - 1 - t
            if step < 0:
                step = t  # past the sequence's end: padding that should be zero
            key = (step, d, n)
            if best is None or key < best[0]:
                best = (key, t)
    if best is None:
        return None
    (step, d, n), t = best
    cols = slice(d * width, (d + 1) * width)
    return _divergence("output", layer, d, n, t, step, source, got[t, n, cols],
                       want[t, n, cols], tol)


def _divergence(name, layer, d, n, t, step, source, got, want, tol) -> Divergence:
    error = (got - want).abs()
    allowed = tol.allowed(want)
    worst = int(torch.argmax(torch.nan_to_num(error - allowed, nan=float("inf"))))
    return Divergence(name, layer, d, n, t, step, source, got.tolist(), want.tolist(),
                      float(error[worst]), float(allowed[worst]))


def observe(candidate, recipe: CaseRecipe, deadline) -> tuple:
    """(Observed, Inputs, tolerances), or (outcome, detail) when values cannot be compared.

    Runs the candidate: called through `sandbox.call`, so in its worker when isolating."""
    invocation = Invocation(candidate, recipe, "check", "conformance.checks.forward")
    case = recipe.build()
    expected = unpack(run_reference(case))
    truth = unpack(run_reference(recipe.build(dtype=torch.float64, device="cpu")))
    try:
        actual = run_candidate(invocation, case)
    except ConformanceFailure as failure:
        return "raised", "; ".join(p.render() for p in failure.failure.problems)
    problems = structure_problems(actual, expected)
    if problems:
        return "structure", "; ".join(problems)
    _, h_n, c_n = _time_major(recipe, actual)
    layers = _layer_outputs_below(invocation, recipe, recipe.build(), deadline)
    layers[recipe.spec.num_layers - 1] = _time_major(recipe, actual)[0]
    return Observed(layers, h_n, c_n), inputs_of(recipe), forward_tolerances(recipe, expected, truth)


def check_time(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise OutOfTime()
