"""A model of a correct implementation's rounding: nn.LSTM op by op, every op one ulp off.

`results(case, eps, seed)` computes what nn.LSTM computes on `case` (a float64 case), written
out op by op in float64, every operation off by one unit in the last place of the dtype, the
sign s drawn per element at random from `seed`:

- the matrix products x W_ih^T, h W_hh^T and h W_hr^T: every product term one ulp of the
  accumulation precision off (float32 for float16 and bfloat16, as every BLAS and torch
  accumulate; else the dtype), summed with random signs: s * eps_acc * sqrt(sum of the
  squared terms), an accumulation error relative to the terms and not to their possibly
  cancelled sum, times accumulation_terms(k) for a sum of k terms (a long sum's error grows
  as the root of its length); then the sum one ulp of the dtype off (rounded once to the
  dtype);
- the bias sum, every addition and both products of the cell update, and o * tanh(c):
  multiplied by (1 + s * eps) (one ulp of the result);
- each activation (sigmoid of i, f, o; tanh of g and of c): one ulp off (relative), and also
  half an ulp of 1 off (absolute, its own random sign): library activations are accurate
  relative to 1, not to the value, near 0. Fused kernels compute tanh(g) = 2 sigmoid(2 g) - 1;
  ONNX Runtime's (MLAS) sigmoid and tanh are rational approximations whose error near 0 is
  about half an ulp of 1 (an o gate of 0.01 off by 6e-8 in float32, 50 ulps of the value:
  `pins.ORT_SMALL_OUTPUT_GATE`). Where every value of a tensor is that small, this allowance
  reaches the cap (tolerance.py), which keeps it below the values.

In backward (autograd through the model) every back-propagated gradient is moved by another
(1 + s' * eps) at the same places, and an activation's derivative is computed from its
perturbed value (y (1 - y), 1 - y^2), as implementations compute it from their saved gates.
The backward's sums carry the forward products' accumulation error (rounding_backward.py):
d/dx sums over the output features, d/dW and the bias gradient over every row that used the
weight (all time steps and batch elements, T x N terms: a weight's gradient is one sum over
them however an implementation splits it).

That is an implementation whose every operation, forward and backward, is off by one ulp,
with uncorrelated signs: more than operations correctly rounded to the dtype (at most half an
ulp) and as much as library functions accurate to one ulp. How far such errors carry
on *this* example (saturated gates, long sequences, large weights, cancellation) is what the
gauge reads off it. It is a second, independent sample of the error a correct implementation
makes, next to nn.LSTM's own (which can be lucky, being one sample, and rounds at half an ulp).

`arithmetic` (run, results; default 1) scales the error of every arithmetic result, the
sums, products and rounded matrix-product sums and every back-propagated gradient's rounding,
and leaves the activations' error and the accumulation error as they are: the whole-tensor
gauges read the model at tolerance.ARITHMETIC_ULPS, as correctly rounded arithmetic is off by
at most half an ulp where library activations are off by up to a full one.

Layouts follow nn.LSTM: batch_first, unbatched, PackedSequence (user batch order for hx,
h_n and c_n; the packed data in the input's sorted order), proj_size, bidirectional, no bias.
`training=True` with dropout 1 zeroes every layer's input after the first (nn.LSTM in
training mode at p = 1, which is deterministic).
"""
from __future__ import annotations

import math

import torch
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from conformance.model.cases import Case
from conformance.core.rounding_backward import _BiasAdd, _Gates, _Perturb, _Product

MODEL_SEED = 0x0B1A5  # mixed with the caller's seed


class _Signs:
    """Random signs (+-1.0, float64), handed out as errors: eps times the signs (an
    activation's), the factor 1 + arithmetic * eps times them (an arithmetic result's
    rounding), or accumulation_eps times them. A step of the recurrence asks for the same
    shapes in the same order as the step before, so each step's signs come from one draw,
    scaled and split at once: a draw, and then a multiplication, per op would cost more than
    the model's arithmetic."""

    def __init__(self, generator: torch.Generator, eps: float, accumulation_eps: float,
                 arithmetic: float = 1.0):
        self.generator = generator
        self.eps, self.accumulation_eps = eps, accumulation_eps
        self.arithmetic = arithmetic  # ulps of a rounded arithmetic result (kind 1)
        self.queue: list[tuple] = []  # this step's pieces, last first
        self.asked: list[torch.Size] = []  # the shapes asked for since begin_step

    def draw(self, size: int) -> torch.Tensor:
        drawn = torch.randint(0, 2, (size,), generator=self.generator, dtype=torch.int8)
        return 2.0 * drawn.to(torch.float64) - 1

    def _kinds(self, signs: torch.Tensor) -> tuple:
        """(eps * signs, 1 + arithmetic * eps * signs, accumulation_eps * signs): what take
        returns."""
        error = self.eps * signs
        factor = 1 + (error if self.arithmetic == 1.0 else self.arithmetic * error)
        return error, factor, self.accumulation_eps * signs

    def begin_step(self) -> None:
        """Draw this step's signs at once, for the shapes the previous step asked for."""
        shapes, self.asked = self.asked, []
        if not shapes:
            self.queue = []
            return
        rows = shapes[0][0] if len(shapes[0]) == 2 else None
        if rows and all(len(shape) == 2 and shape[0] == rows for shape in shapes):  # (N, w) each
            widths = [shape[1] for shape in shapes]
            drawn = self._kinds(self.draw(rows * sum(widths)).view(rows, -1))
            pieces = zip(*(kind.split(widths, dim=1) for kind in drawn))
        else:
            sizes = [shape.numel() for shape in shapes]
            drawn = self._kinds(self.draw(sum(sizes)))
            pieces = zip(*([piece.view(shape) for piece, shape in zip(kind.split(sizes), shapes)]
                           for kind in drawn))
        self.queue = list(pieces)[::-1]

    def take(self, shape, kind: int) -> torch.Tensor:
        """kind 0: eps * signs (an activation's error); 1: 1 + arithmetic * eps * signs (an
        arithmetic result's rounding); 2: accumulation_eps * signs."""
        shape = torch.Size(shape)
        self.asked.append(shape)
        if self.queue:
            piece = self.queue.pop()
            if piece[0].shape == shape:
                return piece[kind]
            self.queue = []  # this step differs from the last: draw one by one
        return self._kinds(self.draw(shape.numel()).view(shape))[kind]


class _Rounder:
    def __init__(self, eps: float, seed, accumulation_eps: float | None = None,
                 arithmetic: float = 1.0):
        self.eps = eps
        self.accumulation_eps = eps if accumulation_eps is None else accumulation_eps
        self.signs = _Signs(torch.Generator().manual_seed(
            hash(tuple(seed) if isinstance(seed, (list, tuple)) else (seed,)) % (2**63)
            ^ MODEL_SEED), self.eps, self.accumulation_eps, arithmetic)

    def error(self, shape) -> torch.Tensor:
        """+-eps per element, random signs: an activation's error."""
        return self.signs.take(shape, 0)

    def factor(self, shape) -> torch.Tensor:
        """1 +- arithmetic * eps per element, random signs: an arithmetic result's rounding."""
        return self.signs.take(shape, 1)

    def accumulation_error(self, shape) -> torch.Tensor:
        """+-accumulation_eps per element, random signs."""
        return self.signs.take(shape, 2)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        """x `arithmetic` ulps off (relative), with as much again on its gradient."""
        forward_factor = self.factor(x.shape)
        if not x.requires_grad:
            return x * forward_factor
        return _Perturb.apply(x, forward_factor, self.factor(x.shape))

    def backward_accumulation(self, squares: torch.Tensor, length: int) -> torch.Tensor:
        """A backward sum's accumulation error, for sums of `length` terms with these sums of
        squared terms: accumulation_eps * accumulation_terms(length) * sqrt(squares), random
        signs (from the generator of the forward's, in autograd's order)."""
        signs = self.signs.draw(squares.numel()).view(squares.shape)
        return signs * squares.sqrt() * (self.accumulation_eps * accumulation_terms(length))

    def matmul(self, x: torch.Tensor, w: torch.Tensor, w_squared_t: torch.Tensor | None = None,
               rows: int | None = None) -> torch.Tensor:
        """x @ w.T with every product term one ulp of the accumulation precision off (random
        signs, summed: accumulation_eps times the root sum of squares of the terms, times
        accumulation_terms of the sum's length), then the sum one ulp of the dtype off.
        w_squared_t: (w * w).T, detached, if already computed. rows: of every call that uses
        w (default: x's), the length of w's gradient sum (`_Product`)."""
        if rows is None:
            rows = x.numel() // max(x.shape[-1], 1)
        exact = _Product.apply(x, w, self, rows) if torch.is_grad_enabled() and (
            x.requires_grad or w.requires_grad) else x @ w.T
        if w_squared_t is None:
            w_squared_t = (w * w).T.detach()
        with torch.no_grad():  # a size: no gradient through it
            spread = ((x * x) @ w_squared_t).sqrt_() * accumulation_terms(w.shape[-1])
        return self(exact + self.accumulation_error(exact.shape) * spread)

    def gates(self, z: torch.Tensor, is_tanh: torch.Tensor, absolute: torch.Tensor
              ) -> torch.Tensor:
        """The gate activations of z, each one ulp off (relative), plus `absolute` (per
        column, in units of eps) with another random sign."""
        with torch.no_grad():
            exact = torch.where(is_tanh, torch.tanh(z), torch.sigmoid(z))
        shift = exact.abs() * self.error(z.shape) + absolute * self.error(z.shape)
        if not z.requires_grad:
            return exact + shift
        return _Gates.apply(z, is_tanh, shift, self.factor(z.shape))

    def tanh(self, c: torch.Tensor) -> torch.Tensor:
        """tanh(c) one ulp off (relative), and ACTIVATION_ABSOLUTE ulps of 1 (as `gates`)."""
        with torch.no_grad():
            exact = torch.tanh(c)
        shift = exact.abs() * self.error(c.shape) + ACTIVATION_ABSOLUTE * self.error(c.shape)
        if not c.requires_grad:
            return exact + shift
        return _Gates.apply(c, _ALL_TANH, shift, self.factor(c.shape))


_ALL_TANH = torch.ones((), dtype=torch.bool)  # is_tanh of _Gates for tanh alone (broadcast)

# Absolute error of every activation, in units of eps (see the module docstring): e.g. where
# fused kernels compute tanh(g) = 2 sigmoid(2 g) - 1, sigmoid(2 g) near 0.5 is rounded to
# within a quarter ulp of 1, so tanh(g) is off by up to half an ulp of 1. The model takes that
# bound, not its root mean square (0.29 eps): with random signs over a few terms the model's
# errors can cancel where a kernel's do not (pins.SMALL_PROJECTION_GRADIENT: a float64 output
# of 2.8e-5 summed from two terms of 3e-3, off by 250 ulps in fused-torch).
ACTIVATION_ABSOLUTE = 0.5
# The cell candidate's, in units of eps: a fused cell update computes i * tanh(g) as
# 2 i sigmoid(2 g) - i, whose two roundings relative to |i| (half an ulp each) come on top of
# sigmoid's: up to one ulp of 1 on tanh(g) (pins.FUSED_CELL_UPDATE: fused-torch's float64 c_n
# of 0.003, 2000 ulps of the value off, after ten steps with the input gate open).
CANDIDATE_ABSOLUTE = 1.0


def _layout(case: Case):
    """(x (T, N, F) in user batch order, lengths per sequence, h0, c0 (D*L, N, *), how)."""
    spec = case.spec
    inp = case.input
    if isinstance(inp, PackedSequence):
        x, lengths = pad_packed_sequence(inp)  # user order
        lengths = [int(n) for n in lengths]
        kind = "packed"
    elif inp.dim() == 2:
        x, kind = inp.unsqueeze(1), "unbatched"
        lengths = [x.shape[0]]
    else:
        x, kind = (inp.transpose(0, 1) if spec.batch_first else inp), "padded"
        lengths = [x.shape[0]] * x.shape[1]
    n = x.shape[1]
    if case.hx is None or not case.pass_hx:
        h_shape, c_shape = spec.state_shapes(n)
        h0 = x.new_zeros(h_shape)
        c0 = x.new_zeros(c_shape)
    else:
        h0, c0 = case.hx
        if kind == "unbatched":
            h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
    return x, lengths, h0, c0, kind


def layer_weights(params: dict, layer: int, direction: int) -> tuple:
    """(W_ih, W_hh, b_ih, b_hh, W_hr) of one layer and direction (None where absent)."""
    sfx = f"_l{layer}" + ("_reverse" if direction else "")
    return (params[f"weight_ih{sfx}"], params[f"weight_hh{sfx}"], params.get(f"bias_ih{sfx}"),
            params.get(f"bias_hh{sfx}"), params.get(f"weight_hr{sfx}"))


def accumulation_terms(k: int) -> float:
    """How many accumulation errors one product term of a sum of k carries, as a factor on
    the root sum of squares of the terms: max(1, sqrt((k + 1) / 2) / 2).

    A sum of k terms takes k - 1 additions, each rounded relative to the partial sum so far,
    and a term is in every partial sum after it: (k + 1) / 2 of them on average over the
    order of summation, each off by up to half an ulp. So the error of a long sum grows as
    sqrt(k) times the terms' root sum of squares, as nn.LSTM's own float32 error does
    (LSTM(W, W), 6k-element outputs: 4.2e-8 at W = 64, 2.4e-7 at W = 2048, 5.7x for 32x the
    terms), where one ulp per term (the factor 1, kept as the floor for short sums) stays
    flat: at W = 2048 the model read below nn.LSTM itself, and a correct kernel summing one
    term at a time came within 0.93 of the allowance."""
    return max(1.0, math.sqrt((k + 1) / 2) / 2)


def accumulation_eps(eps: float) -> float:
    """The precision matrix products accumulate in: float32 for float16 and bfloat16 (torch,
    BLAS, XLA and ONNX Runtime kernels all do), else the dtype's own."""
    return min(eps, torch.finfo(torch.float32).eps)


def run(case: Case, eps: float, seed=0, training: bool = False,
        accumulation: float | None = None, arithmetic: float = 1.0):
    """The model on `case`, in nn.LSTM's format: (output or PackedSequence, (h_n, c_n)).
    accumulation: the eps of the matrix products' accumulation (default accumulation_eps);
    arithmetic: the ulps of each arithmetic result's rounding, forward and backward
    (activations stay one ulp off). Where nothing needs a gradient (float64 on the cpu),
    computed by rounding_numpy."""
    compute = results
    if not _needs_autograd(case):
        from conformance.core import rounding_numpy  # it builds on this module
        compute = rounding_numpy.results
    output, h_n, c_n = compute(case, eps, seed, training, accumulation, arithmetic=arithmetic)
    if isinstance(case.input, PackedSequence):
        output = case.input._replace(data=output)
    return output, (h_n, c_n)


def _needs_autograd(case: Case) -> bool:
    """Whether `case` has tensors that need autograd, or that numpy cannot take as they are
    (not float64 on the cpu)."""
    data = case.input.data if isinstance(case.input, PackedSequence) else case.input
    tensors = [*case.params.values(), data, *(case.hx or ())]
    return torch.is_grad_enabled() and any(t.requires_grad for t in tensors) or any(
        t.dtype != torch.float64 or t.device.type != "cpu" for t in tensors)


def results(case: Case, eps: float, seed=0, training: bool = False,
            accumulation: float | None = None, arithmetic: float = 1.0) -> tuple:
    """(output, h_n, c_n) of the model on `case` (float64 tensors; a packed output as its
    data); differentiable with respect to the case's tensors. arithmetic: as run's."""
    r = _Rounder(eps, seed, accumulation_eps(eps) if accumulation is None else accumulation,
                 arithmetic)
    spec, p = case.spec, case.params
    x, lengths, h0, c0, kind = _layout(case)
    L, D = spec.num_layers, spec.num_directions
    steps, n = x.shape[0], x.shape[1]
    lengths_t = torch.tensor(lengths, dtype=torch.long)
    batch = torch.arange(n)
    h_n, c_n = [None] * (L * D), [None] * (L * D)
    hidden = spec.hidden_size
    is_tanh = torch.zeros(4 * hidden, dtype=torch.bool)
    is_tanh[2 * hidden:3 * hidden] = True  # the g gate
    absolute = torch.where(is_tanh, CANDIDATE_ABSOLUTE, ACTIVATION_ABSOLUTE).to(torch.float64)
    layer_input = x
    for layer in range(L):
        if layer and training and spec.dropout >= 1:
            layer_input = torch.zeros_like(layer_input)
        outs = []
        for d in range(D):
            k = layer * D + d
            w_ih, w_hh, b_ih, b_hh, w_hr = layer_weights(p, layer, d)
            bias = None if b_ih is None else r(b_ih + b_hh)
            w_hh2 = (w_hh * w_hh).T.detach()
            w_hr2 = None if w_hr is None else (w_hr * w_hr).T.detach()
            # The input's products do not depend on the recurrence: all steps at once.
            projected = r.matmul(layer_input, w_ih)  # (T, N, 4H)
            h, c = h0[k], c0[k]
            rows = [None] * steps
            for s in range(steps):
                r.signs.begin_step()
                active = s < lengths_t
                t = (lengths_t - 1 - s).clamp_min(0) if d else torch.full((n,), s)
                z = r(projected[t, batch] + r.matmul(h, w_hh, w_hh2, steps * n))
                if bias is not None:
                    z = r(_BiasAdd.apply(z, bias, r, steps * n) if bias.requires_grad
                          else z + bias)
                i, f, g, o = r.gates(z, is_tanh, absolute).chunk(4, dim=-1)
                c_new = r(r(f * c) + r(i * g))
                h_new = r(o * r.tanh(c_new))
                if w_hr is not None:
                    h_new = r.matmul(h_new, w_hr, w_hr2, steps * n)
                mask = active[:, None]
                h = torch.where(mask, h_new, h)
                c = torch.where(mask, c_new, c)
                rows[s] = (t, active, h_new)
            out = x.new_zeros(steps, n, h.shape[-1])
            for t, active, h_new in rows:  # out[t[b], b] = h_new[b] where b is active
                out = out.index_put((t[active], batch[active]), h_new[active])
            outs.append(out)
            h_n[k], c_n[k] = h, c
        layer_input = torch.cat(outs, dim=-1)
    return _finish(case, kind, n, layer_input, torch.stack(h_n), torch.stack(c_n))


def _finish(case: Case, kind: str, n: int, output, h_n, c_n) -> tuple:
    """(output, h_n, c_n) from the (T, N, *) output and (D*L, N, *) states, in the case's
    layout (a packed output as its data, in the input's sorted order)."""
    if kind == "packed":
        order = case.input.sorted_indices
        sizes = case.input.batch_sizes.tolist()
        idx = torch.arange(n) if order is None else order
        output = torch.cat([output[t, idx[:m]] for t, m in enumerate(sizes)])
    elif kind == "unbatched":
        output, h_n, c_n = output[:, 0], h_n[:, 0], c_n[:, 0]
    elif case.spec.batch_first:
        output = output.transpose(0, 1)
    return output, h_n, c_n
