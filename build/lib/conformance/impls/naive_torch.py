"""Candidate "naive-torch": one weight matrix per gate, eight matmuls a step.

The classic from-scratch LSTM of the tutorials ("NaiveCustomLSTM"): each gate has its own
input weight W_i*, recurrent weight W_h* and biases, all of them views (chunks) of the given
nn.LSTM parameters, taken at every call so that autograd reaches `params` themselves.

    i_t = sigmoid(x_t W_ii^T + b_ii + h_{t-1} W_hi^T + b_hi)
    f_t = sigmoid(x_t W_if^T + b_if + h_{t-1} W_hf^T + b_hf)
    g_t =    tanh(x_t W_ig^T + b_ig + h_{t-1} W_hg^T + b_hg)
    o_t = sigmoid(x_t W_io^T + b_io + h_{t-1} W_ho^T + b_ho)
    c_t = f_t * c_{t-1} + i_t * g_t
    h_t = o_t * tanh(c_t)              (then h_t = h_t W_hr^T when proj_size > 0)

Sequences shorter than the batch's longest (PackedSequence input) are handled by masking:
a sequence's state is only replaced at its own time steps.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

import conformance

from . import _layout


def _affine(x, weight, bias):
    """x W^T (+ b)."""
    return x @ weight.t() if bias is None else x @ weight.t() + bias


class NaiveLSTM(nn.Module):
    def __init__(self, spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]):
        super().__init__()
        self.spec = spec
        self.params = params  # plain dict: the given tensors, not copies
        self.eval()  # like a fresh nn.LSTM after .eval(); training mode only enables dropout

    def _direction(self, x, mask, h, c, layer, direction):
        """Run one layer in one direction; returns its outputs (T, N, H_out), h_n, c_n.

        mask: (T, N, 1) bool, True at the steps a sequence really has, or None (all steps).
        """
        w_ih, w_hh, b_ih, b_hh, w_hr = _layout.layer_params(self.params, layer, direction)
        # Per-gate views of the stacked (i, f, g, o) parameters.
        W_ii, W_if, W_ig, W_io = w_ih.chunk(4)
        W_hi, W_hf, W_hg, W_ho = w_hh.chunk(4)
        b_ii, b_if, b_ig, b_io = (None,) * 4 if b_ih is None else b_ih.chunk(4)
        b_hi, b_hf, b_hg, b_ho = (None,) * 4 if b_hh is None else b_hh.chunk(4)

        steps = range(x.shape[0])
        if direction == 1:  # the reverse direction reads the sequence from its end
            steps = reversed(steps)
        outputs = [None] * x.shape[0]
        for t in steps:
            x_t = x[t]
            i_t = torch.sigmoid(_affine(x_t, W_ii, b_ii) + _affine(h, W_hi, b_hi))
            f_t = torch.sigmoid(_affine(x_t, W_if, b_if) + _affine(h, W_hf, b_hf))
            g_t = torch.tanh(_affine(x_t, W_ig, b_ig) + _affine(h, W_hg, b_hg))
            o_t = torch.sigmoid(_affine(x_t, W_io, b_io) + _affine(h, W_ho, b_ho))
            c_t = f_t * c + i_t * g_t
            h_t = o_t * torch.tanh(c_t)
            if w_hr is not None:
                h_t = h_t @ w_hr.t()
            if mask is None:
                h, c = h_t, c_t
                outputs[t] = h_t
            else:  # sequences that have ended (or, in reverse, not yet begun) keep their state
                h = torch.where(mask[t], h_t, h)
                c = torch.where(mask[t], c_t, c)
                outputs[t] = torch.where(mask[t], h_t, torch.zeros_like(h_t))
        return torch.stack(outputs), h, c

    def forward(self, input, hx=None):
        spec = self.spec
        prep = _layout.prepare(spec, self.params, input, hx)
        x = prep.x
        mask = None
        if prep.lengths is not None:
            lengths = torch.tensor(prep.lengths, device=x.device)
            mask = (torch.arange(x.shape[0], device=x.device)[:, None] < lengths)[..., None]

        h_n, c_n = [], []
        for layer in range(spec.num_layers):
            outputs = []
            for direction in range(spec.num_directions):
                k = layer * spec.num_directions + direction
                out, h, c = self._direction(x, mask, prep.h0[k], prep.c0[k], layer, direction)
                outputs.append(out)
                h_n.append(h)
                c_n.append(c)
            x = torch.cat(outputs, dim=2)
            if layer < spec.num_layers - 1:  # dropout between layers, never on the last one
                x = F.dropout(x, spec.dropout, self.training)
        return prep.restore(x, torch.stack(h_n), torch.stack(c_n))


@conformance.register("naive-torch")
def build(spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]) -> NaiveLSTM:
    return NaiveLSTM(spec, params)
