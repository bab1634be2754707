"""Input validation and layout bookkeeping shared by the built-in candidates.

This module holds no LSTM arithmetic. It turns whatever `nn.LSTM.forward` accepts into one
canonical layout, and turns a result in that layout back into what `nn.LSTM.forward` returns:

    x       (T, N, input_size)             time-major; padded with zeros for packed input
    h0, c0  (D*num_layers, N, H_out), (D*num_layers, N, hidden_size); zeros when hx is None
    lengths per-sequence lengths, non-increasing, for PackedSequence input; None when every
            sequence is T steps long

For a PackedSequence the batch is in *sorted order* (longest first), like `batch_sizes`: hx is
permuted into that order here and h_n/c_n are permuted back by `Prepared.restore`.

Validation follows nn.LSTM (torch 2.x), with the same exception types and messages where
nn.LSTM raises ValueError or RuntimeError; where nn.LSTM fails with an incidental error
(IndexError for a 1-tuple hx, TypeError for a stacked hx tensor, a shape error deep inside
a matmul for packed input) a RuntimeError with a clear message is raised instead.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence


@dataclass(frozen=True)
class Prepared:
    """The canonical layout of one forward call, and how to undo it."""

    x: Tensor
    h0: Tensor
    c0: Tensor
    lengths: tuple[int, ...] | None  # sorted order, non-increasing; None: all T steps
    kind: str  # "batched", "unbatched" or "packed"
    batch_first: bool
    packed: PackedSequence | None = None
    packed_index: Tensor | None = None  # row of each packed element in x.flatten(0, 1)

    @property
    def batch_sizes(self) -> tuple[int, ...] | None:
        """Number of sequences still running at each time step (packed input only)."""
        return None if self.packed is None else tuple(self.packed.batch_sizes.tolist())

    def restore(self, output: Tensor, h_n: Tensor, c_n: Tensor):
        """(output (T, N, D*H_out), h_n, c_n) in the canonical layout -> nn.LSTM's return value."""
        if self.kind == "packed":
            packed = self.packed
            data = output.flatten(0, 1).index_select(0, self.packed_index)
            out = PackedSequence(data, packed.batch_sizes, packed.sorted_indices,
                                 packed.unsorted_indices)
            if packed.unsorted_indices is not None:  # back to the user's batch order
                h_n = h_n.index_select(1, packed.unsorted_indices)
                c_n = c_n.index_select(1, packed.unsorted_indices)
            return out, (h_n, c_n)
        if self.kind == "unbatched":
            return output.squeeze(1), (h_n.squeeze(1), c_n.squeeze(1))
        if self.batch_first:
            output = output.transpose(0, 1)
        return output, (h_n, c_n)


def _hx_pair(hx):
    """hx as (h, c) or None; rejects anything but a 2-element tuple/list of tensors."""
    if hx is None:
        return None
    if isinstance(hx, Tensor):
        raise RuntimeError(
            "LSTM expects hx to be a tuple (h_0, c_0) of two tensors, got a single Tensor"
        )
    if not isinstance(hx, (tuple, list)) or len(hx) != 2:
        what = f"a {type(hx).__name__} of length {len(hx)}" if isinstance(hx, (tuple, list)) \
            else f"a {type(hx).__name__}"
        raise RuntimeError(f"LSTM expects hx to be a tuple (h_0, c_0) of two tensors, got {what}")
    h, c = hx
    if not isinstance(h, Tensor) or not isinstance(c, Tensor):
        raise RuntimeError(
            f"LSTM expects hx to hold two tensors, got ({type(h).__name__}, {type(c).__name__})"
        )
    return h, c


def _packed_to_padded(packed: PackedSequence) -> tuple[Tensor, Tensor]:
    """Padded (T, N, features) time-major tensor of a PackedSequence (sorted order), and the
    row of every packed element in its flatten(0, 1): packed data is time step after time step,
    each holding the first batch_sizes[t] sequences. Differentiable w.r.t. packed.data."""
    data = packed.data
    batch_sizes = packed.batch_sizes.tolist()
    steps, batch = len(batch_sizes), batch_sizes[0]
    index = torch.cat([torch.arange(n) + t * batch for t, n in enumerate(batch_sizes)])
    index = index.to(data.device)
    padded = data.new_zeros(steps * batch, data.size(-1)).index_copy(0, index, data)
    return padded.view(steps, batch, data.size(-1)), index


def prepare(spec, params: dict[str, Tensor], input, hx=None) -> Prepared:
    """Validate `forward(input, hx)` like nn.LSTM does and bring it into the canonical layout."""
    weight = params["weight_ih_l0"]

    # Kind of input, and its number of dimensions.
    if isinstance(input, PackedSequence):
        kind, data = "packed", input.data
        if data.dim() != 2:
            raise RuntimeError(f"input must have 2 dimensions, got {data.dim()}")
    elif isinstance(input, Tensor):
        if input.dim() not in (2, 3):
            raise ValueError(f"LSTM: Expected input to be 2D or 3D, got {input.dim()}D instead")
        kind, data = ("batched" if input.dim() == 3 else "unbatched"), input
    else:
        raise TypeError(
            f"LSTM expects a Tensor or a PackedSequence as input, got {type(input).__name__}"
        )

    # hx: container and number of dimensions (before any size check, like nn.LSTM).
    pair = _hx_pair(hx)
    if pair is not None:
        want = 2 if kind == "unbatched" else 3
        if pair[0].dim() != want or pair[1].dim() != want:
            where = {"batched": "batched 3-D input", "unbatched": "unbatched 2-D input",
                     "packed": "PackedSequence input"}[kind]
            raise RuntimeError(
                f"For {where}, hx and cx should also be {want}-D but got "
                f"({pair[0].dim()}-D, {pair[1].dim()}-D) tensors"
            )

    # Input dtype, device and feature size.
    if data.dtype != weight.dtype:
        raise ValueError(
            f"RNN input dtype ({data.dtype}) does not match weight dtype ({weight.dtype}). "
            f"Convert input: input.to({weight.dtype}), or convert model: model.to({data.dtype})"
        )
    if data.device != weight.device:
        raise RuntimeError(
            f"Input and parameter tensors are not on the same device, found input on "
            f"{data.device} and parameters on {weight.device}"
        )
    if data.size(-1) != spec.input_size:
        raise RuntimeError(
            f"input.size(-1) must be equal to input_size. Expected {spec.input_size}, "
            f"got {data.size(-1)}"
        )

    # Canonical time-major x.
    packed, packed_index, lengths = None, None, None
    if kind == "packed":
        packed = input
        x, packed_index = _packed_to_padded(input)
        batch_sizes = input.batch_sizes.tolist()
        lengths = tuple(sum(1 for n in batch_sizes if n > b) for b in range(batch_sizes[0]))
    elif kind == "unbatched":
        x = input.unsqueeze(1)  # batch_first is ignored for unbatched input
    else:
        x = input.transpose(0, 1) if spec.batch_first else input
    steps, batch = x.shape[0], x.shape[1]

    # Initial state: zeros, or the user's, checked and in sorted order.
    h_shape, c_shape = spec.state_shapes(batch)
    if pair is None:
        h0 = torch.zeros(h_shape, dtype=x.dtype, device=x.device)
        c0 = torch.zeros(c_shape, dtype=x.dtype, device=x.device)
    else:
        h0, c0 = pair
        if kind == "unbatched":
            h0, c0 = h0.unsqueeze(1), c0.unsqueeze(1)
        for i, (state, shape) in enumerate(((h0, h_shape), (c0, c_shape))):
            if state.shape != shape:
                raise RuntimeError(f"Expected hidden[{i}] size {shape}, got {list(state.shape)}")
            if state.dtype != weight.dtype:
                raise RuntimeError(
                    f"Expected hidden[{i}] dtype {weight.dtype}, got {state.dtype}"
                )
            if state.device != x.device:
                raise RuntimeError(
                    f"Expected hidden[{i}] on device {x.device}, got {state.device}"
                )
        if packed is not None and packed.sorted_indices is not None:
            h0 = h0.index_select(1, packed.sorted_indices)
            c0 = c0.index_select(1, packed.sorted_indices)

    if steps == 0:
        raise RuntimeError("Expected sequence length to be larger than 0 in RNN")

    return Prepared(x=x, h0=h0, c0=c0, lengths=lengths, kind=kind,
                    batch_first=spec.batch_first, packed=packed, packed_index=packed_index)


def layer_params(params: dict[str, Tensor], layer: int, direction: int):
    """(weight_ih, weight_hh, bias_ih, bias_hh, weight_hr) of one layer and direction; the
    biases are None when bias=False and weight_hr is None without projection."""
    suffix = f"_l{layer}" + ("_reverse" if direction == 1 else "")
    return tuple(params.get(name + suffix)
                 for name in ("weight_ih", "weight_hh", "bias_ih", "bias_hh", "weight_hr"))
