"""Candidate "lstmcell-loop": torch.nn.LSTMCell stepped through time, per layer and direction.

Each layer and direction has an `nn.LSTMCell` that serves as a blueprint only: its own
parameters live on the meta device (no memory), and every step calls it through
`torch.func.functional_call` with the given nn.LSTM parameters, so autograd reaches them.

Projection (proj_size > 0): LSTMCell computes m_t = o_t * tanh(c_t) of width hidden_size and
expects the recurrent h as wide as c. Here h_t = m_t W_hr^T is only proj_size wide and W_hh
has proj_size columns, so both are zero-padded to hidden_size before the cell is called:
the padding contributes exact zeros to the gates. The projection is applied after each step.

PackedSequence input: sequences of equal length run together as one plain padded batch
(each group is a contiguous range of the sorted batch), so the cell loop itself never sees
padding; the groups' outputs are padded back to the full length and joined.
"""
from __future__ import annotations

import torch
from torch import nn
from torch.nn import functional as F

import conformance

from . import _layout


class CellLoopLSTM(nn.Module):
    def __init__(self, spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]):
        super().__init__()
        self.spec = spec
        self.params = params  # plain dict: the given tensors, not copies
        # cells[layer][direction]; a plain list, so the meta-device blueprints are not
        # registered as submodules (their parameters are never used).
        self.cells = []
        for layer in range(spec.num_layers):
            layer_input = spec.input_size if layer == 0 else spec.output_size * spec.num_directions
            self.cells.append([nn.LSTMCell(layer_input, spec.hidden_size, bias=spec.bias,
                                           device="meta", dtype=spec.dtype)
                               for _ in range(spec.num_directions)])
        self.eval()  # like a fresh nn.LSTM after .eval(); training mode only enables dropout

    def _cell_params(self, layer, direction):
        """The LSTMCell parameter dict for functional_call, and W_hr (or None)."""
        w_ih, w_hh, b_ih, b_hh, w_hr = _layout.layer_params(self.params, layer, direction)
        pad = self.spec.hidden_size - w_hh.shape[1]  # > 0 only with projection
        cell_params = {"weight_ih": w_ih, "weight_hh": F.pad(w_hh, (0, pad)) if pad else w_hh}
        if b_ih is not None:
            cell_params.update(bias_ih=b_ih, bias_hh=b_hh)
        return cell_params, w_hr

    def _run(self, x, h0, c0):
        """The stacked LSTM on a batch whose sequences all have x.shape[0] steps."""
        spec = self.spec
        h_n, c_n = [], []
        for layer in range(spec.num_layers):
            outputs = []
            for direction in range(spec.num_directions):
                cell = self.cells[layer][direction]
                cell_params, w_hr = self._cell_params(layer, direction)
                k = layer * spec.num_directions + direction
                h, c = h0[k], c0[k]
                steps = x.unbind(0)
                if direction == 1:  # the reverse direction reads the sequence from its end
                    steps = steps[::-1]
                out = []
                for x_t in steps:
                    if w_hr is not None:  # widen h to hidden_size for the cell (exact zeros)
                        h = F.pad(h, (0, spec.hidden_size - h.shape[1]))
                    h, c = torch.func.functional_call(cell, cell_params, (x_t, (h, c)))
                    if w_hr is not None:
                        h = h @ w_hr.t()
                    out.append(h)
                if direction == 1:
                    out.reverse()
                outputs.append(torch.stack(out))
                h_n.append(h)
                c_n.append(c)
            x = torch.cat(outputs, dim=2)
            if layer < spec.num_layers - 1:  # dropout between layers, never on the last one
                x = F.dropout(x, spec.dropout, self.training)
        return x, torch.stack(h_n), torch.stack(c_n)

    def forward(self, input, hx=None):
        prep = _layout.prepare(self.spec, self.params, input, hx)
        x, h0, c0 = prep.x, prep.h0, prep.c0
        steps = x.shape[0]
        if prep.lengths is None:
            return prep.restore(*self._run(x, h0, c0))

        # Runs of equal length in the sorted (non-increasing) lengths: rows start .. end-1.
        outputs, h_n, c_n = [], [], []
        start = 0
        while start < len(prep.lengths):
            length = prep.lengths[start]
            end = start
            while end < len(prep.lengths) and prep.lengths[end] == length:
                end += 1
            out, h, c = self._run(x[:length, start:end], h0[:, start:end], c0[:, start:end])
            outputs.append(F.pad(out, (0, 0, 0, 0, 0, steps - length)))  # zeros after the end
            h_n.append(h)
            c_n.append(c)
            start = end
        return prep.restore(torch.cat(outputs, dim=1), torch.cat(h_n, dim=1),
                            torch.cat(c_n, dim=1))


@conformance.register("lstmcell-loop")
def build(spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]) -> CellLoopLSTM:
    return CellLoopLSTM(spec, params)
