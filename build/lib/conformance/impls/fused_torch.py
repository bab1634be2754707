"""Candidate "fused-torch": stacked gates, the input projection hoisted out of the time loop.

For each layer and direction the input contribution to all four gates is one matmul per
chunk of CHUNK_STEPS time steps, outside the recurrence:

    proj = x W_ih^T + (b_ih + b_hh)                     (steps, N, 4H)

and each step adds the recurrent part with a single (batched) matmul on the stacked gates:

    i, f, g, o = split(proj_t + h_{t-1} W_hh^T)
    c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
    h_t = sigmoid(o) * tanh(c_t)          (then h_t = h_t W_hr^T when proj_size > 0)

Speed notes (measured at (N, T, I, H) = (32, 100, 128, 128), 2 threads, see
docs/benchmarks.md):
- the loop walks `proj.unbind(0)`: indexing or slicing proj[t] instead makes backward
  accumulate a full-size gradient of proj at every step (15-20x slower at large sizes);
- proj is gate-major, (steps, 4, N, H), and proj_t + h W_hh^T is one `baddbmm` over the four
  gate blocks: torch spreads a batched matmul over its threads, but runs one (32 x 128) x
  (128 x 512) `addmm` on a single thread (30 vs 50 us a step);
- the projection is made a chunk of 16 steps at a time, just before the loop needs it, so
  that it is still in cache when read (forward 5-10% faster than projecting all T at once);
- one sigmoid covers all four gates: tanh(g) = 2 sigmoid(2 g) - 1, and the g rows of the
  weights and bias are doubled up front (exact: a power of two). torch's CPU sigmoid is
  about 3x faster than its tanh, and one kernel on all gates beats two on slices;
- the loop multiplies by a detached W_hh and W_hh's gradient is made by one matmul over
  a chunk's steps (`_RecurrentWeightGrad`) instead of one per step, summed;
- outputs are collected in a list and stacked once.

PackedSequence input is handled like ATen does: sequences are sorted longest first, so the
sequences running at step t are a prefix of the batch (batch_sizes[t] rows) and only those
are computed. Going forward the running batch shrinks as sequences end; going in reverse it
grows as sequences join at their own last element, starting from h0, c0.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

import conformance

from . import _layout


class _RecurrentWeightGrad(torch.autograd.Function):
    """proj -> proj; its backward also returns W_hh's gradient, as one matmul over all steps.

    The time loop multiplies by a *detached* W_hh, so that autograd does not compute a
    weight gradient at every step and add them up (half the matmuls of the backward pass).
    Since gates_t = proj_t + h_{t-1} W_hh^T, the gradient of the gates at step t is the
    gradient of proj_t, so W_hh's gradient is sum_t dproj_t^T h_{t-1} = dproj^T H_prev
    (over the steps of one chunk; autograd adds up the chunks).
    `states` is filled by the loop after this runs: states[t] is the state h_{t-1} that step
    t multiplied by W_hh (detached; zeros in rows of sequences not running at step t, whose
    rows of dproj are zero too).
    """

    @staticmethod
    def forward(ctx, proj, w_hh, states):
        ctx.states = states
        return proj.view_as(proj)

    @staticmethod
    def backward(ctx, grad_proj):  # grad_proj: (T, 4, N, H), gate-major like proj
        grad_w_hh = None
        if ctx.needs_input_grad[1]:
            h_prev = torch.stack(ctx.states).flatten(0, 1)  # (T*N, H_out)
            steps, _, batch, hidden = grad_proj.shape
            grad_gates = grad_proj.permute(1, 3, 0, 2).reshape(4 * hidden, steps * batch)
            grad_w_hh = grad_gates.mm(h_prev)  # (4H, H_out)
        return grad_proj, grad_w_hh, None


# Time steps per chunk of the input projection (see the module's speed notes).
CHUNK_STEPS = 16


def _project(x, w_ih, bias, hidden):
    """x (t, N, I) -> its input projection, gate-major: (t, 4, N, H), the layout of the
    loop's batched matmul (one copy here instead of a strided one at every step)."""
    proj = F.linear(x, w_ih, bias)  # every step of the chunk in one matmul: (t, N, 4H)
    return proj.view(*proj.shape[:2], 4, hidden).transpose(1, 2).contiguous()


def _direction(x, batch_sizes, h0, c0, w_ih, bias, w_hh, w_hr, reverse):
    """One layer in one direction over the layer input x (T, N, I), with the gate blocks of
    w_ih, bias and w_hh as `_gate_blocks` makes them: (i, f, o, 2 g).

    batch_sizes: sequences running at each step (packed input), or None for all N.
    Returns outputs (T, N, H_out) (zeros where a sequence has no step), h_n, c_n.
    """
    total, hidden = x.shape[1], c0.shape[1]
    w_hr_t = None if w_hr is None else w_hr.t()
    record_states = torch.is_grad_enabled() and w_hh.requires_grad
    # W_hh^T as four (H_out, H) gate blocks: the step's matmul is one baddbmm over the four
    # blocks, which torch runs on all threads, where one (N, H_out) x (H_out, 4H) addmm of
    # this size runs on one (30 vs 50 us at N=32, H=128, 2 threads).
    w_hh_blocks = w_hh.detach().view(4, hidden, -1).transpose(1, 2).contiguous()

    # h, c hold the states of the running sequences only: rows 0 .. n-1 of the batch.
    n = 0 if (reverse and batch_sizes is not None) else total
    h, c = h0[:n], c0[:n]
    ended_h, ended_c = [], []  # forward: states of sequences that ended, in order of ending

    chunks = x.split(CHUNK_STEPS)  # its backward is one cat, not a full-size add per chunk
    outputs = [None] * x.shape[0]
    for k in (range(len(chunks) - 1, -1, -1) if reverse else range(len(chunks))):
        states = [None] * len(chunks[k])  # h_{t-1} of every step, for W_hh's gradient
        proj = _project(chunks[k], w_ih, bias, hidden)
        steps = _RecurrentWeightGrad.apply(proj, w_hh, states).unbind(0)
        for j in (range(len(steps) - 1, -1, -1) if reverse else range(len(steps))):
            t = k * CHUNK_STEPS + j
            n_t = total if batch_sizes is None else batch_sizes[t]
            if n_t < n:  # forward: sequences n_t .. n-1 ended at the previous step
                ended_h.append(h[n_t:])
                ended_c.append(c[n_t:])
                h, c = h[:n_t], c[:n_t]
            elif n_t > n:  # reverse: sequences n .. n_t-1 start here, at their last element
                h = torch.cat([h, h0[n:n_t]])
                c = torch.cat([c, c0[n:n_t]])
            n = n_t

            proj_t = steps[j] if n == total else steps[j][:, :n]
            if record_states:
                states[j] = h.detach() if n == total else F.pad(h.detach(), (0, 0, 0, total - n))
            # proj_t + h W_hh^T in one kernel, gate-major: (4, n, H)
            gates = torch.baddbmm(proj_t, h.expand(4, *h.shape), w_hh_blocks)
            i, f, o, sigmoid_2g = gates.sigmoid_().unbind(0)
            c = torch.addcmul(f * c - i, i, sigmoid_2g, value=2)  # f * c + i * tanh(g)
            h = o * c.tanh()
            if w_hr_t is not None:
                h = h @ w_hr_t
            outputs[t] = h if n == total else F.pad(h, (0, 0, 0, total - n))

    if ended_h:  # rows of the sequences that ended last come first
        h = torch.cat([h, *reversed(ended_h)])
        c = torch.cat([c, *reversed(ended_c)])
    return torch.stack(outputs), h, c


def _gate_blocks(w):
    """Gate blocks (i, f, g, o) of a weight or bias -> (i, f, o, 2 g).

    With g doubled, one sigmoid gives sigmoid(2 g), and tanh(g) = 2 sigmoid(2 g) - 1.
    Doubling is exact in floating point, so the gates are those of nn.LSTM's weights.
    """
    if w is None:
        return None
    i, f, g, o = w.chunk(4)
    return torch.cat([i, f, o, 2 * g])


class FusedLSTM(nn.Module):
    def __init__(self, spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]):
        super().__init__()
        self.spec = spec
        self.params = params  # plain dict: the given tensors, not copies
        self.eval()  # like a fresh nn.LSTM after .eval(); training mode only enables dropout

    def forward(self, input, hx=None):
        spec = self.spec
        prep = _layout.prepare(spec, self.params, input, hx)
        batch_sizes = prep.batch_sizes
        x = prep.x

        h_n, c_n = [], []
        for layer in range(spec.num_layers):
            outputs = []
            for direction in range(spec.num_directions):
                w_ih, w_hh, b_ih, b_hh, w_hr = _layout.layer_params(self.params, layer, direction)
                w_ih, w_hh = _gate_blocks(w_ih), _gate_blocks(w_hh)
                bias = None if b_ih is None else _gate_blocks(b_ih + b_hh)
                k = layer * spec.num_directions + direction
                out, h, c = _direction(x, batch_sizes, prep.h0[k], prep.c0[k], w_ih, bias,
                                       w_hh, w_hr, reverse=direction == 1)
                outputs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = outputs[0] if len(outputs) == 1 else torch.cat(outputs, dim=2)
            if layer < spec.num_layers - 1:  # dropout between layers, never on the last one
                x = F.dropout(x, spec.dropout, self.training)
        return prep.restore(x, torch.stack(h_n), torch.stack(c_n))


@conformance.register("fused-torch")
def build(spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]) -> FusedLSTM:
    return FusedLSTM(spec, params)
