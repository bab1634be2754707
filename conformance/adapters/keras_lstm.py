"""Candidate "keras-lstm": Keras 3 `keras.layers.LSTM` (and `keras.layers.Bidirectional`) on
Keras' torch backend, loaded with nn.LSTM's parameters.

Keras picks its backend at its first import from `KERAS_BACKEND`. This module sets
`KERAS_BACKEND=torch` when it is unset (so import it, or build the candidate, before anything
else imports keras); when it is set to another backend the candidate is unavailable, since
the torch tensors must stay torch tensors.

One `keras.layers.LSTM(H, return_sequences=True, return_state=True)` per layer, wrapped in
`Bidirectional(merge_mode="concat")` when bidirectional (its backward layer runs with
`go_backwards=True`); `dtype=` the spec's dtype (a Keras dtype policy of that name);
`initial_state=[h, c]` (`[h_fw, c_fw, h_bw, c_bw]` for Bidirectional); `mask=` (N, T) booleans
for packed input; between layers `keras.layers.Dropout(p)`, called with `training=` the
forward object's mode (`.train()` / `.eval()`).

Parameter mapping, per layer k (weights assigned with `Variable.assign`, values copied):

| nn.LSTM                               | Keras LSTMCell variable      | conversion                         |
|---------------------------------------|------------------------------|------------------------------------|
| weight_ih_l{k}[_reverse] (4H, I)      | kernel (I, 4H)               | transpose; gates i,f,g,o = Keras i,f,c,o (same order) |
| weight_hh_l{k}[_reverse] (4H, H)      | recurrent_kernel (H, 4H)     | transpose                          |
| bias_ih_l{k} + bias_hh_l{k} (4H)      | bias (4H)                    | the two biases summed (Keras has one) |
| bias=False                            | use_bias=False               |                                    |
| forward / `_reverse` direction        | Bidirectional.forward_layer / .backward_layer | |
| h0[k*D + d], c0[k*D + d] (N, H)       | initial_state [h, c] per direction | |
| PackedSequence lengths                | mask (N, T): t < length      | batch-major, sorted order          |
| output (T, N, D*H)                    | sequences (N, T, D*H)        | transpose(0, 1)                    |
| h_n[k*D + d], c_n[k*D + d]            | returned states of layer k   |                                    |

Divergence, left visible as FAIL (keras 3.15.1): with a mask, float64 results carry
float32-sized errors (~1e-8; without a mask they match to ~1e-16), so packed float64
examples fail (docs/divergences/keras_mask_float64.py). Not declared xfail: it needs two
features at once, and a strict xfail on either column alone would XPASS on the examples
without the other.

Unsupported: proj_size (Keras' LSTM has no projection); backward (Keras keeps its own
variables, into which the parameters are copied: gradients would reach those, not the given
tensors).
"""
from __future__ import annotations

import os

import torch

import conformance
from conformance.impls import _layout

from ._common import reject_autograd, require, versions

require("keras", extra="keras")
os.environ.setdefault("KERAS_BACKEND", "torch")
if os.environ["KERAS_BACKEND"] != "torch":
    raise conformance.LibraryUnavailable(
        f"keras-lstm runs on Keras' torch backend, but KERAS_BACKEND="
        f"{os.environ['KERAS_BACKEND']!r} is set")

# The weights are assigned right after building, so the initializers only cost time; and
# the default orthogonal recurrent initializer cannot even run in float16/bfloat16 on
# torch's CPU ("geqrf_cpu" not implemented for 'Half').
ZERO_INIT = dict(kernel_initializer="zeros", recurrent_initializer="zeros",
                 bias_initializer="zeros")
DTYPE_NAMES = {torch.float16: "float16", torch.bfloat16: "bfloat16",
               torch.float32: "float32", torch.float64: "float64"}


def _assign(cell, params, suffix: str) -> None:
    """Copy nn.LSTM's weights of one layer and direction into a built Keras LSTMCell."""
    cell.kernel.assign(params[f"weight_ih{suffix}"].detach().t())
    cell.recurrent_kernel.assign(params[f"weight_hh{suffix}"].detach().t())
    if cell.use_bias:
        cell.bias.assign((params[f"bias_ih{suffix}"] + params[f"bias_hh{suffix}"]).detach())


class KerasLSTM:
    """The stack of Keras layers; forward(input, hx=None); train()/eval() for its dropout."""

    def __init__(self, spec, params):
        import keras

        if keras.backend.backend() != "torch":
            raise NotImplementedError(f"keras runs on {keras.backend.backend()!r}, not torch")
        if spec.proj_size > 0:
            raise NotImplementedError("keras.layers.LSTM has no projection (proj_size)")
        self.spec, self.params, self.training = spec, params, False
        dtype = DTYPE_NAMES[spec.dtype]
        self.layers = []
        for k in range(spec.num_layers):
            def lstm(go_backwards=False):
                return keras.layers.LSTM(spec.hidden_size, use_bias=spec.bias, dtype=dtype,
                                         return_sequences=True, return_state=True,
                                         go_backwards=go_backwards, **ZERO_INIT)
            layer = (keras.layers.Bidirectional(lstm(), merge_mode="concat", dtype=dtype)
                     if spec.bidirectional else lstm())
            width = spec.input_size if k == 0 else spec.hidden_size * spec.num_directions
            layer.build((None, None, width))
            if spec.bidirectional:
                _assign(layer.forward_layer.cell, params, f"_l{k}")
                _assign(layer.backward_layer.cell, params, f"_l{k}_reverse")
            else:
                _assign(layer.cell, params, f"_l{k}")
            self.layers.append(layer)
        self.dropout = keras.layers.Dropout(spec.dropout, dtype=dtype) if spec.dropout else None

    def train(self, mode: bool = True):
        self.training = mode
        return self

    def eval(self):
        return self.train(False)

    def __call__(self, input, hx=None):
        reject_autograd("Keras (its own variables)", self.params, input, hx)
        spec = self.spec
        prep = _layout.prepare(spec, self.params, input, hx)
        x = prep.x.transpose(0, 1)  # Keras is batch-major: (N, T, I)
        mask = None
        if prep.lengths is not None:
            steps = torch.arange(x.shape[1], device=x.device)
            mask = steps[None, :] < torch.tensor(prep.lengths, device=x.device)[:, None]
        dirs = spec.num_directions
        h_n, c_n = [], []
        for k, layer in enumerate(self.layers):
            state = []
            for d in range(dirs):
                state += [prep.h0[k * dirs + d], prep.c0[k * dirs + d]]
            out = layer(x, initial_state=state, mask=mask)
            x, states = out[0], out[1:]
            h_n += list(states[0::2])
            c_n += list(states[1::2])
            if self.dropout is not None and k < spec.num_layers - 1:
                x = self.dropout(x, training=self.training)
        return prep.restore(torch.as_tensor(x).transpose(0, 1),
                            torch.stack([torch.as_tensor(h) for h in h_n]),
                            torch.stack([torch.as_tensor(c) for c in c_n]))


@conformance.register("keras-lstm", opt_in=True, versions=versions("keras"),
                      unsupported={"proj_size", "backward"})
def build(spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]) -> KerasLSTM:
    return KerasLSTM(spec, params)
