"""A model of a correct implementation's rounding: nn.LSTM op by op, every op one ulp off.

`results(case, eps, seed)` computes what nn.LSTM computes on `case` (a float64 case), written
out op by op in float64, every operation off by one unit in the last place of the dtype, the
sign s drawn per element at random from `seed`:

- the matrix products x W_ih^T, h W_hh^T and h W_hr^T: every product term one ulp of the
  accumulation precision off (float32 for float16 and bfloat16, as every BLAS and torch
  accumulate; else the dtype), summed with random signs: s * eps_acc * sqrt(sum of the
  squared terms), an accumulation error relative to the terms and not to their possibly
  cancelled sum; then the sum one ulp of the dtype off (rounded once to the dtype);
- the bias sum, every addition and both products of the cell update, and o * tanh(c):
  multiplied by (1 + s * eps) (one ulp of the result);
- each activation (sigmoid of i, f, o; tanh of g and of c): one ulp off (relative); the
  cell candidate also a quarter ulp of 1 off (absolute, its own random sign), as fused kernels
  that compute tanh(g) = 2 sigmoid(2 g) - 1 are, whose error near 0 is not relative to the
  value. (A sigmoid computed as (1 + tanh(x / 2)) / 2 has such an absolute error too, a
  quarter ulp of 1; it is not modelled: where every output of a tensor is that small, an
  allowance that large would exceed the values it checks, see tests/test_tolerance_bounds.py.)

In backward (autograd through the model) every back-propagated gradient is moved by another
(1 + s' * eps) at the same places, and an activation's derivative is computed from its
perturbed value (y (1 - y), 1 - y^2), as implementations compute it from their saved gates.

That is an implementation whose every operation, forward and backward, is off by one ulp,
with uncorrelated signs: more than operations correctly rounded to the dtype (at most half an
ulp) and as much as library functions accurate to one ulp. How far such errors carry
on *this* example (saturated gates, long sequences, large weights, cancellation) is what the
gauge reads off it. It is a second, independent sample of the error a correct implementation
makes, next to nn.LSTM's own (which can be lucky, being one sample, and rounds at half an ulp).

Layouts follow nn.LSTM: batch_first, unbatched, PackedSequence (user batch order for hx,
h_n and c_n; the packed data in the input's sorted order), proj_size, bidirectional, no bias.
`training=True` with dropout 1 zeroes every layer's input after the first (nn.LSTM in
training mode at p = 1, which is deterministic).
"""
from __future__ import annotations

import torch
from torch.nn.utils.rnn import PackedSequence, pad_packed_sequence

from conformance.model.cases import Case

MODEL_SEED = 0x0B1A5  # mixed with the caller's seed


class _Perturb(torch.autograd.Function):
    """Forward: x * (1 + eps * s); backward: grad * (1 + eps * s) * (1 + eps * s')."""

    @staticmethod
    def forward(ctx, x, forward_factor, backward_factor):
        ctx.save_for_backward(forward_factor * backward_factor)
        return x * forward_factor

    @staticmethod
    def backward(ctx, grad):
        (factor,) = ctx.saved_tensors
        return grad * factor, None, None


class _Activation(torch.autograd.Function):
    """Forward: act(z) + shift (the model's error); backward from that perturbed value, as
    implementations do from their saved gates: grad * act'(y) * (1 + eps * s')."""

    @staticmethod
    def forward(ctx, z, kind, shift, backward_factor):
        y = (torch.sigmoid(z) if kind == "sigmoid" else torch.tanh(z)) + shift
        ctx.kind = kind
        ctx.save_for_backward(y, backward_factor)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, factor = ctx.saved_tensors
        slope = y * (1 - y) if ctx.kind == "sigmoid" else 1 - y * y
        return grad * slope * factor, None, None, None


class _Rounder:
    def __init__(self, eps: float, seed, accumulation_eps: float | None = None):
        self.eps = eps
        self.accumulation_eps = eps if accumulation_eps is None else accumulation_eps
        self.generator = torch.Generator().manual_seed(
            hash(tuple(seed) if isinstance(seed, (list, tuple)) else (seed,)) % (2**63)
            ^ MODEL_SEED)

    def factor(self, shape):
        signs = torch.randint(0, 2, shape, generator=self.generator, dtype=torch.int8)
        return 1 + self.eps * (2.0 * signs.to(torch.float64) - 1)

    def __call__(self, x: torch.Tensor) -> torch.Tensor:
        forward_factor = self.factor(x.shape)
        if not x.requires_grad:
            return x * forward_factor
        return _Perturb.apply(x, forward_factor, self.factor(x.shape))

    def matmul(self, x: torch.Tensor, w: torch.Tensor) -> torch.Tensor:
        """x @ w.T with every product term one ulp of the accumulation precision off (random
        signs, summed: accumulation_eps times the root sum of squares of the terms), then the
        sum one ulp of the dtype off."""
        exact = x @ w.T
        spread = ((x * x) @ (w * w).T).detach().sqrt()  # a size: no gradient through it
        signs = self.factor(exact.shape) - 1  # +- eps
        return self(exact + signs * (self.accumulation_eps / self.eps) * spread)

    def activation(self, kind: str, z: torch.Tensor, absolute: float = 0.0) -> torch.Tensor:
        """act(z) one ulp off (relative), plus `absolute` * eps with another random sign."""
        with torch.no_grad():
            exact = torch.sigmoid(z) if kind == "sigmoid" else torch.tanh(z)
        shift = (exact.abs() * (self.factor(z.shape) - 1)
                 + absolute * (self.factor(z.shape) - 1)).detach()
        if not z.requires_grad:
            return exact + shift
        return _Activation.apply(z, kind, shift, self.factor(z.shape))


# Absolute error, in units of eps, of the cell candidate where fused kernels compute it as
# tanh(g) = 2 sigmoid(2 g) - 1: sigmoid(2 g) near 0.5 is rounded to within a quarter ulp of 1,
# so 2 sigmoid(2 g) - 1 is off by up to half an ulp of 1, uniformly; 0.25 eps is about its
# root mean square (0.29 eps), as the model's other errors are full-size with random signs.
CANDIDATE_ABSOLUTE = 0.25


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


def accumulation_eps(eps: float) -> float:
    """The precision matrix products accumulate in: float32 for float16 and bfloat16 (torch,
    BLAS, XLA and ONNX Runtime kernels all do), else the dtype's own."""
    return min(eps, torch.finfo(torch.float32).eps)


def run(case: Case, eps: float, seed=0, training: bool = False,
        accumulation: float | None = None):
    """The model on `case`, in nn.LSTM's format: (output or PackedSequence, (h_n, c_n)).
    accumulation: the eps of the matrix products' accumulation (default accumulation_eps)."""
    output, h_n, c_n = results(case, eps, seed, training, accumulation)
    if isinstance(case.input, PackedSequence):
        output = case.input._replace(data=output)
    return output, (h_n, c_n)


def results(case: Case, eps: float, seed=0, training: bool = False,
            accumulation: float | None = None) -> tuple:
    """(output, h_n, c_n) of the model on `case` (float64 tensors; a packed output as its
    data); differentiable with respect to the case's tensors."""
    r = _Rounder(eps, seed, accumulation_eps(eps) if accumulation is None else accumulation)
    spec, p = case.spec, case.params
    x, lengths, h0, c0, kind = _layout(case)
    L, D = spec.num_layers, spec.num_directions
    steps, n = x.shape[0], x.shape[1]
    lengths_t = torch.tensor(lengths, dtype=torch.long)
    batch = torch.arange(n)
    h_n, c_n = [None] * (L * D), [None] * (L * D)
    layer_input = x
    for layer in range(L):
        if layer and training and spec.dropout >= 1:
            layer_input = torch.zeros_like(layer_input)
        outs = []
        for d in range(D):
            k = layer * D + d
            sfx = f"_l{layer}" + ("_reverse" if d else "")
            w_ih, w_hh = p[f"weight_ih{sfx}"], p[f"weight_hh{sfx}"]
            b_ih, b_hh, w_hr = p.get(f"bias_ih{sfx}"), p.get(f"bias_hh{sfx}"), p.get(f"weight_hr{sfx}")
            bias = None if b_ih is None else r(b_ih + b_hh)
            h, c = h0[k], c0[k]
            rows = [None] * steps
            for s in range(steps):
                active = s < lengths_t
                t = (lengths_t - 1 - s).clamp_min(0) if d else torch.full((n,), s)
                x_t = layer_input[t, batch]
                z = r(r.matmul(x_t, w_ih) + r.matmul(h, w_hh))
                if bias is not None:
                    z = r(z + bias)
                zi, zf, zg, zo = z.chunk(4, dim=-1)
                i, f, o = (r.activation("sigmoid", zi), r.activation("sigmoid", zf),
                           r.activation("sigmoid", zo))
                g = r.activation("tanh", zg, CANDIDATE_ABSOLUTE)
                c_new = r(r(f * c) + r(i * g))
                h_new = r(o * r.activation("tanh", c_new))
                if w_hr is not None:
                    h_new = r.matmul(h_new, w_hr)
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
    output, h_n, c_n = layer_input, torch.stack(h_n), torch.stack(c_n)
    if kind == "packed":
        order = case.input.sorted_indices
        sizes = case.input.batch_sizes.tolist()
        idx = torch.arange(n) if order is None else order
        output = torch.cat([output[t, idx[:m]] for t, m in enumerate(sizes)])
    elif kind == "unbatched":
        output, h_n, c_n = output[:, 0], h_n[:, 0], c_n[:, 0]
    elif spec.batch_first:
        output = output.transpose(0, 1)
    return output, h_n, c_n
