"""Candidate "fused-torch": stacked gates, the input projection hoisted out of the time loop.

For each layer and direction the input contribution to all four gates at every time step is
one matmul before the loop:

    proj = x W_ih^T + (b_ih + b_hh)                     (T, N, 4H)

and each step adds the recurrent part with a single matmul on the stacked gates:

    i, f, g, o = split(proj_t + h_{t-1} W_hh^T)
    c_t = sigmoid(f) * c_{t-1} + sigmoid(i) * tanh(g)
    h_t = sigmoid(o) * tanh(c_t)          (then h_t = h_t W_hr^T when proj_size > 0)

Speed notes: the loop walks `proj.unbind(0)` (indexing proj[t] instead makes backward
accumulate a full-size gradient of proj at every step), and outputs are collected in a list
and stacked once.

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


def _direction(proj, batch_sizes, h0, c0, w_hh, w_hr, reverse):
    """One layer in one direction, given its input projection proj (T, N, 4H).

    batch_sizes: sequences running at each step (packed input), or None for all N.
    Returns outputs (T, N, H_out) (zeros where a sequence has no step), h_n, c_n.
    """
    steps = proj.unbind(0)
    total = proj.shape[1]
    w_hh_t = w_hh.t()
    w_hr_t = None if w_hr is None else w_hr.t()

    # h, c hold the states of the running sequences only: rows 0 .. n-1 of the batch.
    n = 0 if (reverse and batch_sizes is not None) else total
    h, c = h0[:n], c0[:n]
    ended_h, ended_c = [], []  # forward: states of sequences that ended, in order of ending

    outputs = [None] * len(steps)
    for t in (range(len(steps) - 1, -1, -1) if reverse else range(len(steps))):
        n_t = total if batch_sizes is None else batch_sizes[t]
        if n_t < n:  # forward: sequences n_t .. n-1 ended at the previous step
            ended_h.append(h[n_t:])
            ended_c.append(c[n_t:])
            h, c = h[:n_t], c[:n_t]
        elif n_t > n:  # reverse: sequences n .. n_t-1 start here, at their last element
            h = torch.cat([h, h0[n:n_t]])
            c = torch.cat([c, c0[n:n_t]])
        n = n_t

        proj_t = steps[t] if n == total else steps[t][:n]
        i, f, g, o = (proj_t + h @ w_hh_t).chunk(4, dim=1)
        c = torch.sigmoid(f) * c + torch.sigmoid(i) * torch.tanh(g)
        h = torch.sigmoid(o) * torch.tanh(c)
        if w_hr_t is not None:
            h = h @ w_hr_t
        outputs[t] = h if n == total else F.pad(h, (0, 0, 0, total - n))

    if ended_h:  # rows of the sequences that ended last come first
        h = torch.cat([h, *reversed(ended_h)])
        c = torch.cat([c, *reversed(ended_c)])
    return torch.stack(outputs), h, c


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
                bias = None if b_ih is None else b_ih + b_hh
                proj = F.linear(x, w_ih, bias)  # all time steps in one matmul: (T, N, 4H)
                k = layer * spec.num_directions + direction
                out, h, c = _direction(proj, batch_sizes, prep.h0[k], prep.c0[k], w_hh, w_hr,
                                       reverse=direction == 1)
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
