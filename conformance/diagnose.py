"""Diagnosis of one failing example: where the candidate first leaves nn.LSTM, and why.

`diagnose(candidate, recipe)` runs the candidate on the (shrunk) example and compares what
it returns with a float64 step-by-step reference (`stepwise`):

- *where*: the first divergence, localized to tensor, layer, direction, time step and batch
  element. Layers below the last are observed by running the candidate again with
  num_layers truncated (on the same first layers' parameters, input and hx); within a layer,
  "first" follows processing order (the reverse direction starts at the last time step).
- *why*: every single known mistake in `stepwise.HYPOTHESES` (two gates swapped, a bias
  dropped, no tanh on c, ...) is run on the reference side; those whose results equal the
  candidate's, within the check's tolerance, are reported. When several match the shrunk
  example, a wider example of the same features tells them apart.
- *what it needs*: each feature of the example turned off in turn (`probe`); those whose
  removal makes it pass.

The result is a `Diagnosis`: plain values (it travels through pytest-xdist) and `text()`.
"""
from __future__ import annotations

import time
from dataclasses import asdict, dataclass, field

import torch
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from .cases import Case, CaseRecipe
from .check import ConformanceFailure, run_candidate
from .compare import structure_problems, tensors, unpack
from .families import phrase
from .oracle import run_reference
from .probe import needed_features
from .stepwise import HYPOTHESES, REFERENCE, Inputs, Trace, inputs_of, trace
from .tolerance import Tolerance, eps, max_abs_diff, recurrence_depth, tolerance_for

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

    def text(self) -> str:
        where = (f"{self.tensor} at time step {self.time_step} (processing step "
                 f"{self.processing_step} of direction {self.direction})"
                 if self.time_step is not None else f"{self.tensor} (final state)")
        return (f"{where}, layer {self.layer}, direction {self.direction}, batch element "
                f"{self.batch} [{self.source}]\n"
                f"    candidate {_fmt(self.got)}\n    reference {_fmt(self.want)} (float64)\n"
                f"    max error {self.error:.3g} > allowed {self.allowed:.3g}")


@dataclass
class Diagnosis:
    recipe: str  # repr of the shrunk example
    features: list
    outcome: str  # "diverges", "matches", "structure", "raised", "skipped"
    detail: str = ""  # structure problems, the exception, or why it was skipped
    divergence: Divergence | None = None
    explained_by: list = field(default_factory=list)  # names of matching hypotheses
    confirmed_on: str | None = None  # the wider example that told hypotheses apart
    needs: list | None = None  # features whose removal makes the example pass (probe.py)
    probed: list = field(default_factory=list)  # features turned off to find `needs`

    def as_dict(self) -> dict:
        return asdict(self)

    def text(self) -> str:
        lines = [f"shrunk example: {self.recipe}", f"  features: {', '.join(self.features)}"]
        if self.outcome == "diverges":
            lines.append("first divergence: " + self.divergence.text())
            lines.append("explanation: " + explanation(self.explained_by))
            if self.confirmed_on:
                lines.append(f"  (told apart on a wider example: {self.confirmed_on})")
        elif self.outcome == "matches":
            lines.append("forward output, h_n and c_n match nn.LSTM on this example: the "
                         "failure is specific to this test's check (see its message)")
        else:
            lines.append(f"no localization ({self.outcome}): {self.detail}")
        if self.needs:
            lines.append(f"needs: {phrase(self.needs)} (it still fails with every other "
                         f"feature turned off, and passes with "
                         f"{'that' if len(self.needs) == 1 else 'any one of these'} "
                         "turned off too)")
        elif self.needs is not None and self.probed:
            lines.append(f"needs: no particular feature (it still fails with "
                         f"{phrase(self.probed)} all turned off)")
        elif self.needs is not None:
            lines.append("needs: nothing beyond a plain example")
        return "\n".join(lines)


def explanation(names: list[str]) -> str:
    if not names:
        return "no single known mistake reproduces the candidate's results"
    if len(names) == 1:
        return f"the candidate's results equal nn.LSTM's with one change: {names[0]}"
    return ("the candidate's results equal nn.LSTM's with any one of these changes: "
            + "; ".join(names))


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


def _layer_outputs_below(candidate, recipe, case, timeout, deadline) -> dict:
    """Layer l's output for l < L-1, from the candidate run with num_layers = l + 1."""
    found = {}
    for layers in range(1, recipe.spec.num_layers):
        _check_time(deadline)
        try:
            result = run_candidate(candidate, recipe, _truncated(case, layers), timeout)
            found[layers - 1] = _time_major(recipe, result)[0]
        except ConformanceFailure:
            break  # the candidate cannot run this truncation; later ones will not help
    return found


# -- tolerance -------------------------------------------------------------------------

def tolerances(recipe: CaseRecipe, expected: tuple, truth: tuple) -> list[Tolerance]:
    """Per tensor, the tolerance `check_forward` allows (see tolerance.py)."""
    spec = recipe.spec
    depth = recurrence_depth(spec, recipe.seq_len)
    if spec.dtype == torch.float64:
        coarse = tensors(unpack(run_reference(recipe.build(dtype=torch.float32))))
        scale = eps(torch.float64) / eps(torch.float32)
        errors = [max_abs_diff(c, t) * scale for c, t in zip(coarse, tensors(truth))]
    else:
        errors = [max_abs_diff(e, t) for e, t in zip(tensors(expected), tensors(truth))]
    return [tolerance_for(spec.dtype, depth, e) for e in errors]


def _bad(got: torch.Tensor, want: torch.Tensor, tol: Tolerance) -> torch.Tensor:
    """Elementwise: out of tolerance (NaN counts as out)."""
    return ~((got - want).abs() <= tol.allowed(want))


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
                bad = _bad(tensor[k], want[k], tol).any(-1)
                if bool(bad.any()):
                    n = int(torch.nonzero(bad)[0])
                    return _divergence(name, layer, d, n, None, None, "full run",
                                       tensor[k, n], want[k, n], tol)
    return None


def _first_in_output(got, want, lengths, D, width, tol, layer, source) -> Divergence | None:
    best = None
    for d in range(D):
        cols = slice(d * width, (d + 1) * width)
        bad = _bad(got[..., cols], want[..., cols], tol).any(-1)  # (T, N)
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


# -- explanation ---------------------------------------------------------------------------

def matching_hypotheses(observed: Observed, inputs: Inputs, tols: list[Tolerance],
                        deadline: float, candidates=HYPOTHESES) -> list[str]:
    """Names of the single mistakes whose float64 results equal the candidate's."""
    L = inputs.spec.num_layers
    names = []
    for variant in candidates:
        _check_time(deadline)
        ref = trace(variant, inputs)
        if ref is None:
            continue
        pairs = [(observed.layer_outputs.get(L - 1), ref.layer_outputs[-1], tols[0]),
                 (observed.h_n, ref.h_n, tols[1]), (observed.c_n, ref.c_n, tols[2])]
        if all(got is not None and got.shape == want.shape and not bool(_bad(got, want, tol).any())
               for got, want, tol in pairs):
            names.append(variant.name)
    return names


def wider(recipe: CaseRecipe) -> CaseRecipe:
    """The same features on more sizes and steps, so that hypotheses that coincide on a
    minimal example (hidden_size 1, one step) differ."""
    spec = recipe.spec
    hidden = max(spec.hidden_size, 4)
    proj = min(max(spec.proj_size, 2), hidden - 1) if spec.proj_size else 0
    spec = spec.replace(hidden_size=hidden, input_size=max(spec.input_size, 3), proj_size=proj)
    changes = {"spec": spec, "gate_scales": (1.0, 1.5, 0.7, 1.2), "seed": recipe.seed + 1}
    if not recipe.packed:
        changes["seq_len"] = max(recipe.seq_len, 3)
        if recipe.batch is not None:
            changes["batch"] = max(recipe.batch, 2)
    return recipe.replace(**changes)


# -- the whole diagnosis ---------------------------------------------------------------------

def observe(candidate, recipe: CaseRecipe, timeout, deadline) -> tuple:
    """(Observed, Inputs, tolerances), or (outcome, detail) when values cannot be compared."""
    case = recipe.build()
    expected = unpack(run_reference(case))
    truth = unpack(run_reference(recipe.build(dtype=torch.float64, device="cpu")))
    try:
        actual = run_candidate(candidate, recipe, case, timeout)
    except ConformanceFailure as failure:
        return "raised", str(failure).splitlines()[1].strip(" -")
    problems = structure_problems(actual, expected)
    if problems:
        return "structure", "; ".join(problems)
    _, h_n, c_n = _time_major(recipe, actual)
    layers = _layer_outputs_below(candidate, recipe, recipe.build(), timeout, deadline)
    layers[recipe.spec.num_layers - 1] = _time_major(recipe, actual)[0]
    return Observed(layers, h_n, c_n), inputs_of(recipe), tolerances(recipe, expected, truth)


def diagnose(candidate, recipe: CaseRecipe, timeout: float | None = 10.0,
             budget: float = 30.0) -> Diagnosis:
    """Localize and explain `candidate`'s divergence on `recipe` within `budget` seconds."""
    deadline = time.monotonic() + budget
    timeout = min(timeout or budget, budget)  # a call that hangs cannot outlast the budget
    diagnosis = Diagnosis(repr(recipe), sorted(recipe.features()), "skipped")
    try:
        seen = observe(candidate, recipe, timeout, deadline)
        if isinstance(seen[0], str):
            diagnosis.outcome, diagnosis.detail = seen
            diagnosis.needs, diagnosis.probed = needed_features(candidate, recipe, timeout,
                                                                deadline)
            return diagnosis
        observed, inputs, tols = seen
        divergence = first_divergence(observed, trace(REFERENCE, inputs), inputs, tols)
        if divergence is None:
            diagnosis.outcome = "matches"
            return diagnosis
        diagnosis.outcome, diagnosis.divergence = "diverges", divergence
        names = matching_hypotheses(observed, inputs, tols, deadline)
        diagnosis.explained_by = names
        if len(names) > 1:
            diagnosis.explained_by, diagnosis.confirmed_on = _tell_apart(
                candidate, recipe, names, timeout, deadline)
        diagnosis.needs, diagnosis.probed = needed_features(candidate, recipe, timeout, deadline)
    except OutOfTime:
        diagnosis.detail = f"diagnosis stopped after {budget:g} s"
        if diagnosis.outcome == "skipped":
            diagnosis.outcome = "timeout"
    return diagnosis


def _tell_apart(candidate, recipe, names, timeout, deadline) -> tuple[list, str | None]:
    """Keep the hypotheses that also explain a wider example (if the candidate fails it)."""
    wide = wider(recipe)
    seen = observe(candidate, wide, timeout, deadline)
    if isinstance(seen[0], str):
        return names, None
    observed, inputs, tols = seen
    if first_divergence(observed, trace(REFERENCE, inputs), inputs, tols) is None:
        return names, None
    kept = matching_hypotheses(observed, inputs, tols, deadline,
                               [v for v in HYPOTHESES if v.name in names])
    return (kept, repr(wide)) if kept else (names, None)


def _check_time(deadline: float) -> None:
    if time.monotonic() > deadline:
        raise OutOfTime()
