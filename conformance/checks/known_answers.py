"""Known answers: fixed weights and inputs whose results are derived by hand.

Every expected value here comes from a closed form (or, for the hand-set-gates exercise, the
cell equations stepped by hand in float64 scalars); none comes from nn.LSTM, which only
gauges the rounding error a dtype may add (as in tolerance.py).

    seed004-hand-set-gates  input_size 4, hidden_size 1, no bias, W_hh = 0, nine steps. The
                            rows of W_ih make the input gate open when x[1] = 1, the forget
                            gate close when x[1] = -1, the output gate open when x[2] = 1,
                            and g = tanh(x[0]). Rounded, the outputs are
                            [0, 0, 0, 0, 0, 1, 0, 0, 1] whether or not the input and forget
                            gate rows are swapped; unrounded they differ (t=5: 0.9634 vs
                            0.6420), so the values are compared unrounded.
    zero-weights-biases     all weights 0: every gate is constant, sigmoid/tanh of b_ih + b_hh,
                            so c_t = f^t c0 + i g (1 - f^t) / (1 - f) and h_t = o tanh(c_t).
    saturated-forget-gate   f pinned at 1 and i at 0 (bias +-40): c_t = c0 at every step,
                            h_t = sigmoid(b_o) tanh(c0) (the o gate has no weights).
    zero-input-gate         i pinned at 0, f and o constant: c_t = sigmoid(b_f)^t c0,
                            h_t = sigmoid(b_o) tanh(c_t).

Each is checked in every dtype (`NAME@float16` etc.); values are rounded to the dtype first
and the closed form evaluated in float64 on the rounded values.
"""
from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Callable

import numpy as np
import torch

from conformance.model.cases import DTYPE_NAMES, Case, CaseRecipe
from conformance.checks.forward import ConformanceFailure, failure_message, load
from conformance.core.compare import ResultShapeError, structure_problems, tensors, unpack
from conformance.core.oracle import reference_module
from conformance.model.restrict import available_devices, restrict
from conformance.model.spec import LSTMSpec
from conformance.core import rounding
from conformance.core.gauge import gauge_precision
from conformance.core.tolerance import Tolerance, eps, max_abs_diff, tolerance_for

DTYPES = {name: dtype for dtype, name in DTYPE_NAMES.items()}

# The exercise of seed document 004: nine steps of four features.
SEED004_X = [[1, 0, 0, 1], [3, 1, 0, 1], [2, 0, 0, 1], [4, 1, 0, 1], [2, 0, 0, 1],
             [1, 0, 1, 1], [3, -1, 0, 1], [6, 1, 0, 1], [1, 0, 1, 1]]
SEED004_ROWS = {  # one weight row per gate, in nn.LSTM's i, f, g, o order
    "i": [0, 100, 0, -10],  # opens (~1) when x[1] = 1, else sigmoid(-10) ~ 0
    "f": [0, 100, 0, 10],   # keeps (~1) unless x[1] = -1: sigmoid(-90) ~ 0
    "g": [1, 0, 0, 0],      # candidate value tanh(x[0])
    "o": [0, 0, 100, -10],  # shows (~1) when x[2] = 1
}
SEED004_ROUNDED = [0, 0, 0, 0, 0, 1, 0, 0, 1]  # the exercise's published answer


def sigmoid(v: float) -> float:
    return 1 / (1 + math.exp(-v)) if v >= 0 else math.exp(v) / (1 + math.exp(v))


def seed004_by_hand(rows: dict | None = None) -> tuple[list[float], list[float]]:
    """h_t and c_t of the exercise, stepped in float64 scalars (W_hh = 0, no bias)."""
    rows = SEED004_ROWS if rows is None else rows
    c, hs, cs = 0.0, [], []
    for x in SEED004_X:
        pre = {gate: sum(w * v for w, v in zip(row, x)) for gate, row in rows.items()}
        i, f, o = sigmoid(pre["i"]), sigmoid(pre["f"]), sigmoid(pre["o"])
        c = f * c + i * math.tanh(pre["g"])
        hs.append(o * math.tanh(c))
        cs.append(c)
    return hs, cs


# -- the answers --------------------------------------------------------------------------

@dataclass(frozen=True)
class KnownAnswer:
    """Hand-set weights, an input, and the closed form of the result.

    `values(dtype)` gives params, x (T, N, I) and h0, c0 (or None), rounded to dtype then
    held in float64; `closed_form(params, x, h0, c0)` gives output (T, N, H), h_n, c_n in
    float64 (h0, c0 zeros when the candidate is called without hx).
    """

    name: str
    summary: str
    spec: LSTMSpec
    make: Callable[[], tuple[dict, np.ndarray, np.ndarray | None, np.ndarray | None]]
    closed_form: Callable[..., tuple[np.ndarray, np.ndarray, np.ndarray]]

    def values(self, dtype: torch.dtype):
        def rounded(a):
            return None if a is None else torch.from_numpy(np.asarray(a, dtype=np.float64)) \
                .to(dtype).to(torch.float64)
        params, x, h0, c0 = self.make()
        return ({k: rounded(v) for k, v in params.items()}, rounded(x), rounded(h0),
                rounded(c0))


def _gate_rows(hidden: int, **blocks) -> np.ndarray:
    """Stack per-gate blocks (i, f, g, o; missing ones zero) into nn.LSTM's 4H layout."""
    parts = []
    for gate in "ifgo":
        block = blocks.get(gate)
        parts.append(np.zeros(hidden) if block is None else np.asarray(block, dtype=np.float64))
    return np.concatenate(parts, axis=0)


def _split(vector: np.ndarray, hidden: int) -> dict:
    return dict(zip("ifgo", np.split(np.asarray(vector), 4)))


def _np_sigmoid(v):
    return 1 / (1 + np.exp(-v))


# seed004 ------------------------------------------------------------------------------

def _seed004_make():
    w_ih = np.array([SEED004_ROWS[g] for g in "ifgo"], dtype=np.float64)
    params = {"weight_ih_l0": w_ih, "weight_hh_l0": np.zeros((4, 1))}
    x = np.array(SEED004_X, dtype=np.float64)[:, None, :]  # (9, 1, 4): a batch of one
    return params, x, None, None


def _seed004_closed_form(params, x, h0, c0):
    rows = dict(zip("ifgo", params["weight_ih_l0"].tolist()))
    assert np.all(params["weight_hh_l0"] == 0)
    steps = x[:, 0, :].tolist()
    c, hs, cs = float(c0[0, 0, 0]), [], []
    for v in steps:
        pre = {g: sum(w * e for w, e in zip(row, v)) for g, row in rows.items()}
        c = sigmoid(pre["f"]) * c + sigmoid(pre["i"]) * math.tanh(pre["g"])
        hs.append(sigmoid(pre["o"]) * math.tanh(c))
        cs.append(c)
    out = np.array(hs).reshape(-1, 1, 1)
    return out, out[-1:].copy(), np.array(cs[-1]).reshape(1, 1, 1)


# zero weights, biases only ----------------------------------------------------------------

def _zero_weights_make():
    hidden, inputs = 3, 2
    b_ih = _gate_rows(hidden, i=[0.5, -1.0, 2.0], f=[1.0, 0.0, -2.0], g=[0.25, -0.75, 1.5],
                      o=[-0.5, 1.0, 0.0])
    b_hh = _gate_rows(hidden, i=[0.25, 0.5, -0.5], f=[0.5, 1.0, 0.0], g=[0.25, 0.0, -0.5],
                      o=[0.0, 0.5, 1.0])
    params = {"weight_ih_l0": np.zeros((4 * hidden, inputs)),
              "weight_hh_l0": np.zeros((4 * hidden, hidden)),
              "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}
    x = np.array([[[5.0, -3.0], [0.5, 2.0]], [[-4.0, 1.0], [3.0, 3.0]], [[0.0, 7.0], [-1.0, 0.0]],
                  [[2.0, -2.0], [1.0, 1.0]], [[-6.0, 0.5], [0.25, -8.0]]])  # (5, 2, 2)
    h0 = np.array([[[0.5, -0.25, 0.75], [-1.0, 0.5, 0.25]]])
    c0 = np.array([[[1.0, -2.0, 0.5], [0.0, 3.0, -1.5]]])
    return params, x, h0, c0


def _zero_weights_closed_form(params, x, h0, c0):
    hidden = params["weight_hh_l0"].shape[1]
    gates = _split(params["bias_ih_l0"] + params["bias_hh_l0"], hidden)
    i, f, o = _np_sigmoid(gates["i"]), _np_sigmoid(gates["f"]), _np_sigmoid(gates["o"])
    g = np.tanh(gates["g"])
    t = np.arange(1, x.shape[0] + 1).reshape(-1, 1, 1)
    f_t = f ** t
    c = f_t * c0[0] + i * g * (1 - f_t) / (1 - f)  # geometric sum; f < 1 here
    h = o * np.tanh(c)
    return h, h[-1:].copy(), c[-1:].copy()


# saturated forget gate: c is copied --------------------------------------------------------

SATURATE = 40.0


def _saturated_forget_make():
    hidden, inputs = 2, 3
    rng = np.random.default_rng(404)
    small = lambda *shape: np.round(rng.uniform(-1, 1, shape), 2)  # noqa: E731
    w_ih = np.concatenate([small(hidden, inputs), small(hidden, inputs), small(hidden, inputs),
                           np.zeros((hidden, inputs))])
    w_hh = np.concatenate([small(hidden, hidden), small(hidden, hidden), small(hidden, hidden),
                           np.zeros((hidden, hidden))])
    b_ih = _gate_rows(hidden, i=[-SATURATE] * hidden, f=[SATURATE] * hidden,
                      g=[0.5, -0.5], o=[0.75, -1.25])
    b_hh = _gate_rows(hidden, g=[0.25, 0.25], o=[0.25, 0.5])
    params = {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}
    x = np.round(rng.uniform(-1, 1, (6, 2, inputs)), 2)
    h0 = np.array([[[0.5, -0.5], [0.25, 0.75]]])
    c0 = np.array([[[1.5, -0.75], [-2.0, 0.5]]])
    return params, x, h0, c0


def _saturated_forget_closed_form(params, x, h0, c0):
    hidden = params["weight_hh_l0"].shape[1]
    b_o = _split(params["bias_ih_l0"] + params["bias_hh_l0"], hidden)["o"]
    c = np.broadcast_to(c0[0], (x.shape[0],) + c0.shape[1:]).copy()  # c_t = c0
    h = _np_sigmoid(b_o) * np.tanh(c)
    return h, h[-1:].copy(), c[-1:].copy()


# zero input gate: c decays geometrically ---------------------------------------------------

def _zero_input_make():
    hidden, inputs = 3, 2
    rng = np.random.default_rng(4040)
    small = lambda *shape: np.round(rng.uniform(-1, 1, shape), 2)  # noqa: E731
    zeros_i, zeros_h = np.zeros((hidden, inputs)), np.zeros((hidden, hidden))
    w_ih = np.concatenate([small(hidden, inputs), zeros_i, small(hidden, inputs), zeros_i])
    w_hh = np.concatenate([small(hidden, hidden), zeros_h, small(hidden, hidden), zeros_h])
    b_ih = _gate_rows(hidden, i=[-SATURATE] * hidden, f=[2.0, 0.0, -1.0], g=[1.0, 1.0, 1.0],
                      o=[0.5, -0.5, 1.5])
    b_hh = _gate_rows(hidden, f=[0.5, 0.25, 0.0], o=[0.0, 0.25, -0.5])
    params = {"weight_ih_l0": w_ih, "weight_hh_l0": w_hh, "bias_ih_l0": b_ih, "bias_hh_l0": b_hh}
    x = np.round(rng.uniform(-1, 1, (5, 1, inputs)), 2)
    h0 = np.array([[[0.25, -0.5, 1.0]]])
    c0 = np.array([[[2.0, -1.5, 3.0]]])
    return params, x, h0, c0


def _zero_input_closed_form(params, x, h0, c0):
    hidden = params["weight_hh_l0"].shape[1]
    gates = _split(params["bias_ih_l0"] + params["bias_hh_l0"], hidden)
    f, o = _np_sigmoid(gates["f"]), _np_sigmoid(gates["o"])
    t = np.arange(1, x.shape[0] + 1).reshape(-1, 1, 1)
    c = f ** t * c0[0]
    h = o * np.tanh(c)
    return h, h[-1:].copy(), c[-1:].copy()


KNOWN_ANSWERS: dict[str, KnownAnswer] = {ka.name: ka for ka in (
    KnownAnswer("seed004-hand-set-gates",
                "seed document 004's hand-set gates (input 4, hidden 1, no bias, W_hh = 0, "
                "x = SEED004_X); rounded outputs [0,0,0,0,0,1,0,0,1]",
                LSTMSpec(4, 1, bias=False, dtype=torch.float64), _seed004_make,
                _seed004_closed_form),
    KnownAnswer("zero-weights-biases",
                "all weights 0, biases only: constant gates, c_t = f^t c0 + i g (1-f^t)/(1-f)",
                LSTMSpec(2, 3, dtype=torch.float64), _zero_weights_make,
                _zero_weights_closed_form),
    KnownAnswer("saturated-forget-gate",
                "f pinned at 1 and i at 0 (bias +-40), o without weights: c_t = c0, "
                "h_t = sigmoid(b_o) tanh(c0)",
                LSTMSpec(3, 2, dtype=torch.float64), _saturated_forget_make,
                _saturated_forget_closed_form),
    KnownAnswer("zero-input-gate",
                "i pinned at 0 (bias -40), constant f and o: c_t = sigmoid(b_f)^t c0, "
                "h_t = sigmoid(b_o) tanh(c_t)",
                LSTMSpec(2, 3, dtype=torch.float64), _zero_input_make, _zero_input_closed_form),
)}


def known_answer_keys(dtypes=("float64", "float32", "bfloat16", "float16")) -> list[str]:
    """'NAME@DTYPE' for every known answer and dtype."""
    return [f"{name}@{dtype}" for name in KNOWN_ANSWERS for dtype in dtypes]


def recipe_for(key: str) -> CaseRecipe:
    """The CaseRecipe whose features a known answer exercises (for restrict and counting;
    its seed-drawn values are not used)."""
    ka, dtype = _parse(key)
    params, x, h0, _ = ka.make()
    return CaseRecipe(ka.spec.replace(dtype=dtype), seq_len=x.shape[0], batch=x.shape[1],
                      hx="omitted" if h0 is None else "random")


def _parse(key: str) -> tuple[KnownAnswer, torch.dtype]:
    name, _, dtype = key.partition("@")
    if name not in KNOWN_ANSWERS or (dtype and dtype not in DTYPES):
        raise ValueError(f"unknown known answer {key!r}; known: {known_answer_keys()}")
    return KNOWN_ANSWERS[name], DTYPES[dtype or "float64"]


@dataclass(frozen=True)
class KnownAnswerCase:
    """A known answer as the candidate gets it (after restrict); stands in for a CaseRecipe
    in failure messages, and prints as its key, the argument of `check_known_answer`."""

    key: str
    recipe: CaseRecipe  # adapted: dtype, device, bias, batch_first, hx

    @property
    def spec(self) -> LSTMSpec:
        return self.recipe.spec

    def features(self):
        return self.recipe.features()

    def describe(self) -> str:
        ka, _ = _parse(self.key)
        return f"known answer {ka.name}: {ka.summary}; {self.recipe.describe()}"

    def __repr__(self) -> str:
        return repr(self.key)


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


def check_known_answer(candidate, key: str, prepare=None) -> None:
    """Compare the candidate with a known answer's closed form, unrounded.

    `key` is 'NAME' or 'NAME@DTYPE' (see `known_answer_keys`); `prepare(candidate, recipe)`
    adapts the recipe to the candidate (default: restrict to its declared features and the
    devices torch reports).
    """
    candidate = load(candidate)
    ka, _ = _parse(key)
    recipe = recipe_for(key)
    if prepare is None:
        adapted = restrict(recipe, candidate.unsupported, available_devices())
        if adapted is None:
            raise ValueError(f"candidate {candidate.name!r} supports no dtype/device/layout "
                             f"for known answer {key!r}")
    else:
        adapted = prepare(candidate, recipe)
    where = KnownAnswerCase(key, adapted)

    def fail(problems):
        raise ConformanceFailure(failure_message(candidate, where, problems,
                                                 checker="check_known_answer"))

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
    if spec.batch_first:
        modelled = (modelled[0].transpose(0, 1),) + tuple(modelled[1:])
    model_errors = [max_abs_diff(m, t) * scale for m, t in zip(modelled, closed)]
    tols = [tolerance_for(spec.dtype, None, e, 0.0, m, t)
            for e, m, t in zip(errors, model_errors, closed)]

    try:
        forward = candidate.build(spec, params)
    except Exception as exc:
        fail([f"build(spec, params) raised {type(exc).__name__}: {exc}"])
    try:
        with torch.no_grad():
            result = forward(x, hx) if pass_hx else forward(x)
    except Exception as exc:
        fail([f"forward raised {type(exc).__name__}: {exc}"])
    try:
        actual = unpack(result)
    except ResultShapeError as exc:
        fail([str(exc)])
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


def _closed_form_problem(name, got, want, tol: Tolerance, ka: KnownAnswer) -> str | None:
    got64 = got.detach().to("cpu", torch.float64)
    error = (got64 - want).abs()
    allowed = tol.allowed(want)
    bad = ~(error <= allowed)
    if not bool(bad.any()):
        return None
    first = tuple(int(i) for i in torch.nonzero(bad)[0])
    return (f"{name}{list(first)} is {got64[first].item():.7g}, should be "
            f"{want[first].item():.7g} ({ka.name}, derived by hand); error "
            f"{error[first].item():.3g} > allowed {allowed[first].item():.3g}; "
            f"{int(bad.sum())} of {bad.numel()} elements out of tolerance")


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
