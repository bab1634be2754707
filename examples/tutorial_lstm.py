"""A third-party LSTM checked against torch.nn.LSTM: the README's worked example.

`TutorialLSTM` is written the way tutorials write it: one (input, hidden) matrix U_* and one
(hidden, hidden) matrix V_* per gate, x @ U + h @ V + b, batch_first input, one layer, one
direction. `build` is the adapter: it maps nn.LSTM's parameters onto the tutorial's (as views,
so gradients reach them), converts the calling convention, and rejects what the tutorial
model cannot do. Run it, from the directory that holds this file, with:

    PYTHONPATH=. lstm-conformance --impl tutorial_lstm:build
"""
import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence

import conformance


class TutorialLSTM(nn.Module):
    def __init__(self, input_size, hidden_size):
        super().__init__()
        self.hidden_size = hidden_size
        for gate in "ifgo":  # input, forget, cell candidate, output
            setattr(self, f"U_{gate}", nn.Parameter(torch.randn(input_size, hidden_size)))
            setattr(self, f"V_{gate}", nn.Parameter(torch.randn(hidden_size, hidden_size)))
            setattr(self, f"b_{gate}", nn.Parameter(torch.zeros(hidden_size)))

    def forward(self, x, init_states=None):
        """x: (batch, seq, feature) -> (hidden_seq, (h_t, c_t)), h_t and c_t (batch, hidden)."""
        batch, seq_len, _ = x.size()
        if init_states is None:
            h_t = x.new_zeros(batch, self.hidden_size)
            c_t = x.new_zeros(batch, self.hidden_size)
        else:
            h_t, c_t = init_states
        hidden_seq = []
        for t in range(seq_len):
            x_t = x[:, t, :]
            i_t = torch.sigmoid(x_t @ self.U_i + h_t @ self.V_i + self.b_i)
            f_t = torch.sigmoid(x_t @ self.U_f + h_t @ self.V_f + self.b_f)
            g_t = torch.tanh(x_t @ self.U_g + h_t @ self.V_g + self.b_g)
            o_t = torch.sigmoid(x_t @ self.U_o + h_t @ self.V_o + self.b_o)
            c_t = f_t * c_t + i_t * g_t
            h_t = o_t * torch.tanh(c_t)
            hidden_seq.append(h_t.unsqueeze(0))
        hidden_seq = torch.cat(hidden_seq, dim=0).transpose(0, 1).contiguous()
        return hidden_seq, (h_t, c_t)


@conformance.register("tutorial", unsupported={
    "num_layers", "bidirectional", "proj_size", "seq_first", "unbatched", "packed", "dropout"})
def build(spec, params):
    if (spec.num_layers, spec.bidirectional, spec.proj_size, spec.dropout, spec.batch_first) \
            != (1, False, 0, 0.0, True):
        raise NotImplementedError(f"TutorialLSTM: one layer, one direction, batch_first: {spec}")
    H = spec.hidden_size
    zeros = torch.zeros(4 * H, dtype=spec.dtype, device=spec.device)  # for bias=False
    bias = params.get("bias_ih_l0", zeros) + params.get("bias_hh_l0", zeros)
    weights = {}  # nn.LSTM stacks the gate rows i, f, g, o; the tutorial wants (in, hidden)
    for gate, w_ih, w_hh, b in zip("ifgo", params["weight_ih_l0"].split(H),
                                   params["weight_hh_l0"].split(H), bias.split(H)):
        weights.update({f"U_{gate}": w_ih.T, f"V_{gate}": w_hh.T, f"b_{gate}": b})
    model = TutorialLSTM(spec.input_size, H)

    def forward(input, hx=None):
        if isinstance(input, PackedSequence) or input.dim() != 3:
            raise NotImplementedError("TutorialLSTM takes a batched (N, L, H_in) tensor")
        if hx is not None:
            if not isinstance(hx, (tuple, list)) or len(hx) != 2 \
                    or any(s.shape != (1, input.shape[0], H) for s in hx):
                raise ValueError(f"hx: expected (h0, c0), each of shape (1, N, {H})")
            hx = (hx[0][0], hx[1][0])
        output, (h, c) = torch.func.functional_call(model, weights, (input, hx))
        return output, (h.unsqueeze(0), c.unsqueeze(0))

    return forward
