"""The known-answer check: a candidate against closed forms derived by hand
(the cases: conformance.model.known_answers).

nn.LSTM in the candidate's dtype only gauges the rounding error that dtype may add.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch

from conformance.core import registry, rounding
from conformance.core.compare import deviation, structure_problems, tensors, unpack
from conformance.core.failures import Problem
from conformance.core.invoke import Invocation, checker
from conformance.core.gauge import SPREAD_MULTIPLE, gauge_precision
from conformance.core.oracle import reference_module
from conformance.core.tolerance import Tolerance, eps, max_abs_diff, tolerance_for
from conformance.core.variance import rms_error
from conformance.model.cases import Case, CaseRecipe
from conformance.model.known_answers import (KNOWN_ANSWERS, SEED004_ROUNDED, SEED004_ROWS,
                                             KnownAnswer, _parse, known_answer_keys, recipe_for,
                                             seed004_by_hand)
from conformance.model.features import available_devices, restrict

__all__ = ["KNOWN_ANSWERS", "check_known_answer", "known_answer_keys", "recipe_for"]


def _tensors_for(ka: KnownAnswer, recipe: CaseRecipe):
    """(params, input, hx, pass_hx) in the adapted recipe's dtype/device/layout, and the
    float64 values they hold."""
    spec = recipe.spec
    params64, x64, h064, c064 = ka.values(spec.dtype)
    if spec.bias and not ka.spec.bias:  # the candidate needs biases: give zeros
        for name in list(params64):
            if name.startswith("weight_ih"):
                rows = params64[name].shape[0]
                suffix = name.removeprefix("weight_ih")
                params64[f"bias_ih{suffix}"] = torch.zeros(rows, dtype=torch.float64)
                params64[f"bias_hh{suffix}"] = torch.zeros(rows, dtype=torch.float64)
        params64 = {k: params64[k] for k in spec.param_shapes()}
    pass_hx = recipe.has_initial_state
    if not pass_hx or h064 is None:
        h_shape, c_shape = spec.state_shapes(x64.shape[1])
        h064, c064 = torch.zeros(h_shape, dtype=torch.float64), \
            torch.zeros(c_shape, dtype=torch.float64)
        pass_hx = False

    def cast(t):
        return t.to(dtype=spec.dtype, device=spec.device)

    x = cast(x64)
    if spec.batch_first:
        x = x.transpose(0, 1).contiguous()
    hx = (cast(h064), cast(c064)) if pass_hx else None
    return ({k: cast(v) for k, v in params64.items()}, x, hx, pass_hx,
            (params64, x64, h064, c064))


@checker
def check_known_answer(candidate, key: str, recipe: CaseRecipe | None = None) -> None:
    """Compare the candidate with a known answer's closed form, unrounded.

    `key` is 'NAME' or 'NAME@DTYPE' (see `known_answer_keys`); `recipe`: `recipe_for(key)`
    adapted to the candidate (default: restricted to its declared features and the devices
    torch reports).
    """
    ka, _ = _parse(key)
    adapted = recipe
    if adapted is None:
        unsupported = registry.load(candidate).unsupported
        adapted = restrict(recipe_for(key), unsupported, available_devices())
        if adapted is None:
            raise ValueError(f"candidate {candidate!r} supports no dtype/device/layout "
                             f"for known answer {key!r}")
    invocation = Invocation(candidate, adapted, "check_known_answer", __name__)
    invocation.positional = (key,)
    fail = invocation.fail

    spec = adapted.spec
    params, x, hx, pass_hx, (params64, x64, h064, c064) = _tensors_for(ka, adapted)
    closed = [torch.from_numpy(np.ascontiguousarray(a)) for a in ka.closed_form(
        {k: v.numpy() for k, v in params64.items()}, x64.numpy(), h064.numpy(), c064.numpy())]
    if spec.batch_first:
        closed[0] = closed[0].transpose(0, 1)

    # nn.LSTM in the candidate's dtype only gauges the rounding error of that dtype.
    with torch.no_grad():
        module = reference_module(spec, params)
        reference = unpack(module(x, hx) if pass_hx else module(x))
        if spec.dtype == torch.float64:
            coarse_params = {k: v.to(torch.float32) for k, v in params.items()}
            module32 = reference_module(spec.replace(dtype=torch.float32), coarse_params)
            x32 = x.to(torch.float32)
            hx32 = None if hx is None else tuple(s.to(torch.float32) for s in hx)
            coarse = unpack(module32(x32, hx32) if pass_hx else module32(x32))
            scale = eps(torch.float64) / eps(torch.float32)
            errors = [max_abs_diff(c, t) * scale for c, t in zip(coarse, closed)]
        else:
            errors = [max_abs_diff(r, t) for r, t in zip(reference, closed)]
    # The rounding model (conformance.core.rounding) on the same float64 values.
    precision, scale = gauge_precision(spec.dtype)
    x_model = x64.transpose(0, 1).contiguous() if spec.batch_first else x64
    model_case = Case(spec.replace(dtype=torch.float64, device="cpu"), params64, x_model,
                      (h064, c064) if pass_hx else None, pass_hx)
    with torch.no_grad():
        modelled = tensors(unpack(rounding.run(model_case, eps(precision), len(ka.name))))
        spreads = rms_error(model_case, eps(precision))
    model_errors = [max(max_abs_diff(m, t), SPREAD_MULTIPLE * rms.max().item()) * scale
                    for m, t, rms in zip(modelled, closed, spreads)]
    tols = [tolerance_for(spec.dtype, None, e, 0.0, m, t)
            for e, m, t in zip(errors, model_errors, closed)]

    forward = invocation.build(spec, params)
    actual = invocation.call(forward, x, hx, pass_hx)
    problems = structure_problems(actual, reference)
    if not problems:
        problems = [line for line in (
            _closed_form_problem(name, got, want, tol, ka)
            for name, got, want, tol in zip(("output", "h_n", "c_n"), actual, closed, tols))
            if line]
    if problems and ka.name == "seed004-hand-set-gates":
        problems.append(_seed004_hint(actual[0]))
    if problems:
        fail(problems)


def _closed_form_problem(name, got, want, tol: Tolerance, ka: KnownAnswer) -> Problem | None:
    found = deviation(name, got, want, tol.allowed(want), against=f"{ka.name}, derived by hand")
    if found is None:
        return None
    return replace(found, text=(
        f"{name}{list(found.index)} is {found.got:.7g}, should be {found.truth:.7g} "
        f"({ka.name}, derived by hand); error {found.error:.3g} > allowed {found.allowed:.3g}; "
        f"{found.bad} of {found.total} elements out of tolerance"))


def _seed004_hint(output: torch.Tensor) -> str:
    """What the rounded outputs say, and whether they fit swapped input/forget gate rows."""
    values = output.detach().to("cpu", torch.float64).reshape(-1).tolist()
    rounded = [round(v) for v in values]
    swapped = dict(SEED004_ROWS, i=SEED004_ROWS["f"], f=SEED004_ROWS["i"])
    swapped_h, _ = seed004_by_hand(swapped)
    line = (f"hint: rounded, the outputs are {rounded} (the exercise's answer is "
            f"{SEED004_ROUNDED}); unrounded {[f'{v:.4f}' for v in values]}")
    if len(values) == len(swapped_h) and all(abs(a - b) < 1e-2 for a, b in zip(values, swapped_h)):
        line += ("; they are what the input and forget gate rows swapped give: the i, f, g, o "
                 "row order is not nn.LSTM's")
    return line
