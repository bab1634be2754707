"""A correct, deliberately plain LSTM: the control of the bug catalog.

Every step of `nn.LSTM.forward` is its own small method, so that each bug in `bugs.py` is a
subclass overriding exactly the method where that mistake would be made:

    forward            read_input -> initial_state -> run_layers -> restore_output/final_state
    read_input         any input -> time-major x (T, N, F), plus per-sequence lengths if packed
    unpack / pack      PackedSequence <-> padded tensor in *sorted* batch order
    initial_state      hx (or zeros) -> (D*L, N, H_out), (D*L, N, H) in the working batch order
    run_layers         layer by layer, direction by direction; h_n[layer*D + direction]
    run_direction      one layer, one direction: a time loop of `step` with length masking
    step               preactivation -> split_gates -> activate -> cell_update -> cell_output
                       -> project

Arithmetic per step (gate rows stacked i, f, g, o as in nn.LSTM):

    i, f, g, o = split(x_t W_ih^T + h W_hh^T + b_ih + b_hh)
    c = sigmoid(f) * c + sigmoid(i) * tanh(g)
    h = sigmoid(o) * tanh(c)                (then h = h W_hr^T when proj_size > 0)

PackedSequence input runs as a padded batch in sorted order (longest first); a sequence's
state stops changing after its last step (masking), and the reverse direction reverses each
sequence within its own length, so it starts at that sequence's own last element.
"""
from __future__ import annotations

from typing import NamedTuple

import torch
from torch import Tensor
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence

import conformance


class Weights(NamedTuple):
    """Parameters of one layer and direction (biases None without bias, w_hr None without
    projection)."""

    w_ih: Tensor
    w_hh: Tensor
    b_ih: Tensor | None
    b_hh: Tensor | None
    w_hr: Tensor | None


class BaseLSTM:
    """forward(input, hx=None) -> (output, (h_n, c_n)), exactly like nn.LSTM.forward."""

    def __init__(self, spec: conformance.LSTMSpec, params: dict[str, Tensor]):
        self.spec = spec
        self.params = params
        self.training = False  # like nn.LSTM after .eval(); training only enables dropout

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, input, hx=None):
        return self.forward(input, hx)

    # -- outline ------------------------------------------------------------------------

    def forward(self, input, hx=None):
        x, lengths = self.read_input(input)
        h0, c0 = self.initial_state(hx, input, x)
        output, h_n, c_n = self.run_layers(x, lengths, h0, c0)
        return self.restore_output(input, output), self.final_state(input, h_n, c_n)

    # -- input and initial state ----------------------------------------------------------

    def read_input(self, input):
        """(x, lengths): x time-major (T, N, F); lengths (N,) for packed input, else None."""
        if isinstance(input, PackedSequence):
            return self.unpack(input)
        if input.dim() == 2:  # unbatched (L, F): a batch of one; batch_first does not apply
            return input.unsqueeze(1), None
        return (input.transpose(0, 1) if self.spec.batch_first else input), None

    def unpack(self, packed: PackedSequence):
        """Padded (T, N, F) in sorted order, and the length of each (sorted) sequence.

        packed.data holds time step after time step, each with the first batch_sizes[t]
        sequences of the sorted batch.
        """
        batch_sizes = packed.batch_sizes.tolist()
        steps, batch = len(batch_sizes), batch_sizes[0]
        x = packed.data.new_zeros(steps, batch, packed.data.shape[-1])
        start = 0
        for t, n in enumerate(batch_sizes):
            x[t, :n] = packed.data[start:start + n]
            start += n
        lengths = torch.tensor([sum(n > b for n in batch_sizes) for b in range(batch)],
                               device=x.device)
        return x, lengths

    def initial_state(self, hx, input, x):
        """(h0, c0) as (D*L, N, H_out) and (D*L, N, H), in the batch order of x."""
        if hx is None:
            return self.zero_state(x.shape[1], x)
        h0, c0 = self.read_hx(hx)
        if isinstance(input, Tensor) and input.dim() == 2:  # unbatched: (D*L, H) -> (D*L, 1, H)
            h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
        if isinstance(input, PackedSequence):
            h0, c0 = self.sort_state(h0, c0, input)
        return h0, c0

    def zero_state(self, batch: int, like: Tensor):
        h_shape, c_shape = self.spec.state_shapes(batch)
        return like.new_zeros(h_shape), like.new_zeros(c_shape)

    def read_hx(self, hx):
        h0, c0 = hx
        return h0, c0

    def sort_state(self, h0, c0, packed: PackedSequence):
        """hx is in the user's batch order; the packed batch runs in sorted order."""
        if packed.sorted_indices is None:
            return h0, c0
        return h0.index_select(1, packed.sorted_indices), c0.index_select(1, packed.sorted_indices)

    # -- layers and directions --------------------------------------------------------------

    def weights(self, layer: int, direction: int) -> Weights:
        suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
        p = self.params
        return Weights(p[f"weight_ih{suffix}"], p[f"weight_hh{suffix}"], p.get(f"bias_ih{suffix}"),
                       p.get(f"bias_hh{suffix}"), p.get(f"weight_hr{suffix}"))

    def state_index(self, layer: int, direction: int) -> int:
        return layer * self.spec.num_directions + direction

    def layer_hx(self, h0, c0, layer: int, direction: int):
        k = self.state_index(layer, direction)
        return h0[k], c0[k]

    def run_layers(self, x, lengths, h0, c0):
        """(output of the last layer (T, N, D*H_out), h_n, c_n)."""
        spec = self.spec
        h_n = [None] * (spec.num_layers * spec.num_directions)
        c_n = [None] * len(h_n)
        layer_input = x
        for layer in range(spec.num_layers):
            outputs = []
            for direction in range(spec.num_directions):
                h, c = self.layer_hx(h0, c0, layer, direction)
                out, h, c = self.run_direction(layer_input, lengths, h, c,
                                               self.weights(layer, direction),
                                               reverse=direction == 1)
                k = self.state_index(layer, direction)
                h_n[k], c_n[k] = h, c
                outputs.append(out)
            if layer < spec.num_layers - 1:
                layer_input = self.next_layer_input(outputs, x)
        return self.join_directions(outputs), torch.stack(h_n), torch.stack(c_n)

    def join_directions(self, outputs):
        return torch.cat(outputs, dim=-1)

    def next_layer_input(self, outputs, x):
        """Both directions' outputs, with dropout between layers in training mode."""
        return F.dropout(self.join_directions(outputs), self.spec.dropout, self.training)

    def run_direction(self, x, lengths, h, c, w: Weights, reverse: bool):
        """Outputs (T, N, H_out) (zero past a sequence's end), final h and c."""
        if reverse:
            x = self.reverse_time(x, lengths)
        outputs = []
        for t in range(x.shape[0]):
            h_new, c_new = self.step(x[t], h, c, w)
            active = self.active(t, lengths)
            h, c = self.advance(h, c, h_new, c_new, active)
            outputs.append(h_new if active is None else torch.where(active, h_new, 0.0))
        out = torch.stack(outputs)
        if reverse:
            out = self.reverse_time(out, lengths)
        return out, h, c

    def reverse_time(self, x, lengths):
        """x with each sequence reversed within its own length (padding stays at the end)."""
        if lengths is None:
            return x.flip(0)
        t = torch.arange(x.shape[0], device=x.device)[:, None]
        index = torch.where(t < lengths, lengths - 1 - t, t)  # (T, N)
        return x.gather(0, index[..., None].expand_as(x))

    def active(self, t: int, lengths):
        """(N, 1) mask of the sequences that have a step t, or None when all do."""
        return None if lengths is None else (t < lengths)[:, None]

    def advance(self, h, c, h_new, c_new, active):
        """The state after step t: a sequence that has ended keeps its state."""
        if active is None:
            return h_new, c_new
        return torch.where(active, h_new, h), torch.where(active, c_new, c)

    # -- one time step ------------------------------------------------------------------------

    def step(self, x_t, h, c, w: Weights):
        i, f, g, o = self.activate(*self.split_gates(self.preactivation(x_t, h, w)))
        c = self.cell_update(c, i, f, g)
        h = self.cell_output(o, c)
        return self.project(h, w), c

    def preactivation(self, x_t, h, w: Weights):
        z = x_t @ w.w_ih.T + h @ w.w_hh.T
        return z if w.b_ih is None else z + self.bias(w)

    def bias(self, w: Weights):
        return w.b_ih + w.b_hh

    def split_gates(self, z):
        return z.chunk(4, dim=-1)  # i, f, g, o

    def activate(self, i, f, g, o):
        return torch.sigmoid(i), torch.sigmoid(f), torch.tanh(g), torch.sigmoid(o)

    def cell_update(self, c, i, f, g):
        return f * c + i * g

    def cell_output(self, o, c):
        return o * torch.tanh(c)

    def project(self, h, w: Weights):
        return h if w.w_hr is None else h @ w.w_hr.T

    # -- results ------------------------------------------------------------------------

    def restore_output(self, input, output):
        """(T, N, D*H_out) -> the layout of the input."""
        if isinstance(input, PackedSequence):
            return self.pack(output, input)
        if input.dim() == 2:
            return output.squeeze(1)
        return output.transpose(0, 1) if self.spec.batch_first else output

    def pack(self, output, packed: PackedSequence):
        batch_sizes = packed.batch_sizes.tolist()
        data = torch.cat([output[t, :n] for t, n in enumerate(batch_sizes)])
        return PackedSequence(data, packed.batch_sizes, packed.sorted_indices,
                              packed.unsorted_indices)

    def final_state(self, input, h_n, c_n):
        """(h_n, c_n) in the user's batch order, without a batch dim for unbatched input."""
        if isinstance(input, PackedSequence):
            return self.unsort_state(h_n, c_n, input)
        if input.dim() == 2:
            return h_n.squeeze(1), c_n.squeeze(1)
        return h_n, c_n

    def unsort_state(self, h_n, c_n, packed: PackedSequence):
        if packed.unsorted_indices is None:
            return h_n, c_n
        return (h_n.index_select(1, packed.unsorted_indices),
                c_n.index_select(1, packed.unsorted_indices))


@conformance.register("catalog-base")
def build(spec: conformance.LSTMSpec, params: dict[str, Tensor]) -> BaseLSTM:
    return BaseLSTM(spec, params)
