"""nn.LSTM in float64, written out step by step, and variants of it that make one mistake.

The diagnosis needs what nn.LSTM cannot give: every layer's output at every time step, and
the same computation with one known mistake (two gates swapped, a bias dropped, the reverse
output not flipped back, ...). `trace(variant, inputs)` runs the recurrence as the docs of
nn.LSTM write it:

    i, f, g, o = split(x_t W_ih^T + b_ih + h W_hh^T + b_hh)        (rows stacked i, f, g, o)
    c = sigmoid(f) * c + sigmoid(i) * tanh(g);  h = sigmoid(o) * tanh(c)  (then h W_hr^T)

`Variant()` is nn.LSTM itself (the tests hold it to nn.LSTM's float64 result);
`HYPOTHESES` are the single mistakes the diagnosis tries.
"""
from __future__ import annotations

import itertools
from dataclasses import dataclass
from typing import Callable

import torch
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from conformance.model.cases import CaseRecipe
from conformance.model.spec import GATES, LSTMSpec

sig, tanh = torch.sigmoid, torch.tanh


def _activate(i, f, g, o):
    return sig(i), sig(f), tanh(g), sig(o)


def _update(c, i, f, g):
    return f * c + i * g


def _output(o, c_new, c_prev):
    return o * tanh(c_new)


def _bias(b_ih, b_hh):
    return b_ih + b_hh


@dataclass(frozen=True)
class Variant:
    """How one LSTM computes: nn.LSTM by default; a hypothesis changes one field."""

    name: str = "nn.LSTM"
    gate_rows: tuple[int, int, int, int] = (0, 1, 2, 3)  # row block read as i, f, g, o
    interleaved: bool = False  # True: rows read as i0 f0 g0 o0 i1 ... instead of blocks
    bias: Callable = _bias
    activate: Callable = _activate
    update: Callable = _update
    output: Callable = _output
    carry_c: bool = True  # False: every step starts again from c0
    reverse_weights: str = "_reverse"  # suffix of the reverse direction's parameters
    reverse_output_flipped: bool = True  # False: reverse outputs left in processing order
    forward_first: bool = True  # False: directions concatenated [reverse, forward]
    layers_share_hx: bool = False  # True: every layer starts from layer 0's hx
    hx_swapped: bool = False  # True: hx read as (c0, h0)
    direction_major: bool = False  # True: hx/h_n indexed direction*L + layer
    ih_view: bool = False  # True: W_ih reshaped with .view(F, 4H) where a transpose was meant
    hr_of_layer_0: bool = False  # True: every layer projects with weight_hr_l0
    c_n_is_h_n: bool = False  # True: h_n returned in place of c_n


@dataclass(frozen=True)
class Inputs:
    """One example in float64, time-major, in the user's batch order."""

    spec: LSTMSpec
    params: dict
    x: torch.Tensor  # (T, N, F), zero past each sequence's length
    lengths: tuple[int, ...]  # per sequence (all T unless packed)
    h0: torch.Tensor  # (D*L, N, H_out)
    c0: torch.Tensor  # (D*L, N, H)


@dataclass(frozen=True)
class Trace:
    layer_outputs: list  # per layer: (T, N, D*H_out), zero past each sequence's length
    h_n: torch.Tensor  # (D*L, N, H_out)
    c_n: torch.Tensor  # (D*L, N, H)


def inputs_of(recipe: CaseRecipe) -> Inputs:
    """The recipe's values in float64 on the cpu, laid out as `Inputs`."""
    case = recipe.build(dtype=torch.float64, device="cpu")
    spec = case.spec
    if isinstance(case.input, PackedSequence):
        x, lengths = pad_packed_sequence(case.input)
        lengths = tuple(int(n) for n in lengths)
    else:
        x = case.input.unsqueeze(1) if recipe.unbatched else case.input
        x = x.transpose(0, 1) if spec.batch_first and not recipe.unbatched else x
        lengths = (x.shape[0],) * x.shape[1]
    n = x.shape[1]
    h_shape, c_shape = spec.state_shapes(n)
    if case.hx is None:
        h0, c0 = torch.zeros(h_shape, dtype=x.dtype), torch.zeros(c_shape, dtype=x.dtype)
    else:
        h0, c0 = case.hx
        if recipe.unbatched:
            h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
    return Inputs(spec, case.params, x, lengths, h0, c0)


def trace(variant: Variant, inputs: Inputs) -> Trace | None:
    """Run `variant` on `inputs`; None where the variant cannot apply (shapes do not fit)."""
    spec, p = inputs.spec, inputs.params
    L, D = spec.num_layers, spec.num_directions
    h0, c0 = (inputs.c0, inputs.h0) if variant.hx_swapped else (inputs.h0, inputs.c0)
    if h0.shape[-1] != spec.output_size or c0.shape[-1] != spec.hidden_size:
        return None
    h_n, c_n = torch.zeros_like(h0), torch.zeros_like(c0)
    layer_input, layer_outputs = inputs.x, []
    for layer in range(L):
        outs = []
        for d in range(D):
            k = d * L + layer if variant.direction_major else layer * D + d
            read = (d * L if variant.direction_major else d) if variant.layers_share_hx else k
            suffix = f"_l{layer}" + (variant.reverse_weights if d else "")
            w = [p.get(f"{name}{suffix}") for name in
                 ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr")]
            if variant.hr_of_layer_0:
                w[4] = p.get("weight_hr_l0" + suffix[len(f"_l{layer}"):])
            if variant.ih_view:
                w[0] = w[0].reshape(w[0].shape[1], -1).T
            if w[0].shape[1] != layer_input.shape[-1]:
                return None
            out, h_n[k], c_n[k] = _direction(variant, layer_input, inputs.lengths, h0[read],
                                             c0[read], w, reverse=d == 1)
            outs.append(out)
        joined = torch.cat(outs if variant.forward_first else outs[::-1], dim=-1)
        layer_outputs.append(joined)
        layer_input = joined
    if variant.c_n_is_h_n:
        if h_n.shape != c_n.shape:
            return None
        c_n = h_n
    return Trace(layer_outputs, h_n, c_n)


def _direction(variant: Variant, x, lengths, h, c, w, reverse: bool):
    steps, n = x.shape[0], x.shape[1]
    c_init = c
    lengths_t = torch.tensor(lengths, dtype=torch.long)
    out = x.new_zeros(steps, n, h.shape[-1])
    batch = torch.arange(n)
    for s in range(steps):
        active = s < lengths_t
        t = (lengths_t - 1 - s).clamp_min(0) if reverse else torch.full((n,), s)
        h_new, c_new = _step(variant, x[t, batch], h, c, w)
        mask = active[:, None]
        h = torch.where(mask, h_new, h)
        c = torch.where(mask, c_new, c) if variant.carry_c else c_init
        where = t if variant.reverse_output_flipped else torch.full((n,), s)
        out[where[active], batch[active]] = h_new[active]
    return out, h, c


def _step(variant: Variant, x_t, h, c, w):
    w_ih, w_hh, b_ih, b_hh, w_hr = w
    z = x_t @ w_ih.T + h @ w_hh.T
    if b_ih is not None:
        z = z + variant.bias(b_ih, b_hh)
    blocks = z.unflatten(-1, (-1, 4)).unbind(-1) if variant.interleaved else z.chunk(4, dim=-1)
    i, f, g, o = variant.activate(*(blocks[r] for r in variant.gate_rows))
    c_new = variant.update(c, i, f, g)
    h_new = variant.output(o, c_new, c)
    return (h_new if w_hr is None else h_new @ w_hr.T), c_new


# -- the hypotheses -----------------------------------------------------------------------

def _order_name(rows) -> str:
    """'gates i and f swapped' for a transposition, else the order the rows were read in."""
    moved = [j for j in range(4) if rows[j] != j]
    if len(moved) == 2:
        a, b = moved
        return f"gates {GATES[a]} and {GATES[b]} swapped"
    stacked = [GATES[rows.index(r)] for r in range(4)]
    return f"gate rows read in the order {' '.join(stacked)} (nn.LSTM stacks i f g o)"


def _hard(z):
    return (0.2 * z + 0.5).clamp(0.0, 1.0)


GATE_ORDERS = [Variant(_order_name(rows), gate_rows=rows)
               for rows in itertools.permutations(range(4)) if rows != (0, 1, 2, 3)]

CELL = [
    Variant("gate rows de-interleaved (read as i0 f0 g0 o0 i1 ... instead of four blocks)",
            interleaved=True),
    Variant("sigmoid on g instead of tanh",
            activate=lambda i, f, g, o: (sig(i), sig(f), sig(g), sig(o))),
    Variant("no tanh on g (the raw pre-activation is the cell candidate)",
            activate=lambda i, f, g, o: (sig(i), sig(f), g, sig(o))),
    Variant("hard sigmoid clip(0.2 z + 0.5, 0, 1) on i, f, o",
            activate=lambda i, f, g, o: (_hard(i), _hard(f), tanh(g), _hard(o))),
    Variant("forget gate pre-activation + 1 (TensorFlow's forget_bias)",
            activate=lambda i, f, g, o: _activate(i, f + 1.0, g, o)),
    Variant("tanh instead of sigmoid on o",
            activate=lambda i, f, g, o: (sig(i), sig(f), tanh(g), tanh(o))),
    Variant("no tanh on c: h = o * c", output=lambda o, c_new, c_prev: o * c_new),
    Variant("h from the previous cell state: h = o * tanh(c_{t-1})",
            output=lambda o, c_new, c_prev: o * tanh(c_prev)),
    Variant("forget gate inverted: c = (1 - f) * c + i * g",
            update=lambda c, i, f, g: (1 - f) * c + i * g),
    Variant("input gate coupled to the forget gate: c = f * c + (1 - f) * g",
            update=lambda c, i, f, g: f * c + (1 - f) * g),
    Variant("input gate missing: c = f * c + g", update=lambda c, i, f, g: f * c + g),
    Variant("c not carried from step to step (every step starts from c0)", carry_c=False),
]

BIASES = [
    Variant("bias_hh dropped (only bias_ih added)", bias=lambda b_ih, b_hh: b_ih),
    Variant("bias_ih dropped (only bias_hh added)", bias=lambda b_ih, b_hh: b_hh),
    Variant("bias_ih added twice instead of bias_ih + bias_hh", bias=lambda b_ih, b_hh: 2 * b_ih),
    Variant("bias_hh added twice instead of bias_ih + bias_hh", bias=lambda b_ih, b_hh: 2 * b_hh),
]

STRUCTURE = [
    Variant("the reverse direction uses the forward direction's parameters", reverse_weights=""),
    Variant("the reverse direction's output is left in processing order (not flipped back)",
            reverse_output_flipped=False),
    Variant("directions concatenated as [reverse, forward]", forward_first=False),
    Variant("every layer starts from layer 0's initial state", layers_share_hx=True),
    Variant("hx read as (c0, h0)", hx_swapped=True),
    Variant("hx and h_n/c_n indexed direction-major (direction*L + layer)", direction_major=True),
]

WEIGHTS = [
    Variant("W_ih reshaped with .view(input_size, 4*hidden_size) instead of transposed",
            ih_view=True),
    Variant("every layer projects with weight_hr_l0", hr_of_layer_0=True),
    Variant("h_n returned in place of c_n", c_n_is_h_n=True),
]

HYPOTHESES: list[Variant] = GATE_ORDERS + CELL + BIASES + WEIGHTS + STRUCTURE
REFERENCE = Variant()
