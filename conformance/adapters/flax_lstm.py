"""Candidate "flax-lstm": Flax linen `nn.LSTMCell` over `nn.RNN` (and `nn.Bidirectional`), on
JAX, loaded with nn.LSTM's parameters.

One `nn.RNN(nn.LSTMCell(H), return_carry=True)` per layer; bidirectional layers are
`nn.Bidirectional(forward RNN, nn.RNN(..., reverse=True, keep_order=True))` with the default
concatenation; packed input goes in as `seq_lengths`; hx as `initial_carry` (Flax's LSTM
carry is `(c, h)`); the cell is built with `dtype` and `param_dtype` the spec's dtype. Each
layer's `apply` runs under `jax.jit`, made once per (hidden size, dtype, direction) and kept,
as a deployed Flax model runs: XLA compiles once per input shape and parameters are arguments.

float64: JAX computes in float32 unless `jax_enable_x64` is on. Building a float64 candidate
turns it on (`jax.config.update("jax_enable_x64", True)`, process-wide, and kept on: it
changes nothing for the other dtypes, which are explicit here); without it JAX would quietly
truncate the float64 parameters to float32, which is the divergence the float64 column would
then show. Tensors cross to JAX through numpy (copies; bfloat16 through float32, exact).

Parameter mapping, per layer k and direction (`forward_rnn` / `backward_rnn` for `_reverse`):

| nn.LSTM                                  | Flax LSTMCell params           | conversion              |
|------------------------------------------|--------------------------------|-------------------------|
| weight_ih_l{k} rows i, f, g, o (4H, I)   | ii, if, ig, io .kernel (I, H)  | split in 4, transpose   |
| weight_hh_l{k} rows i, f, g, o (4H, H)   | hi, hf, hg, ho .kernel (H, H)  | split in 4, transpose   |
| bias_ih_l{k} + bias_hh_l{k} (4H)         | hi, hf, hg, ho .bias (H)       | summed (Flax has one bias, on the hidden Dense) |
| bias=False                               | hi..ho .bias = 0               | Flax's cell always has the bias |
| h0[k*D + d], c0[k*D + d]                 | initial_carry (c, h)           |                         |
| PackedSequence lengths                   | seq_lengths (N,)               | sorted order            |
| output (T, N, D*H)                       | outputs (N, T, D*H)            | transpose               |

Unsupported: proj_size (no projection in Flax's cell), backward (JAX computes outside torch's
autograd), dropout (linen's Dropout needs a PRNG key threaded through every call and
`deterministic` at call time; not wired to .train()/.eval() here, so not claimed),
cuda/mps (JAX's devices are its own; this adapter runs on JAX's CPU).
"""
from __future__ import annotations

import numpy as np
import torch

import conformance
from conformance.impls import _layout

from ._common import reject_autograd, require, versions

require("jax", "flax", extra="flax")

GATES = ("i", "f", "g", "o")  # nn.LSTM's row blocks; Flax names them ii.., hi.. alike


def _jax_dtype(dtype: torch.dtype):
    import jax.numpy as jnp

    return {torch.float16: jnp.float16, torch.bfloat16: jnp.bfloat16,
            torch.float32: jnp.float32, torch.float64: jnp.float64}[dtype]


def to_jax(t: torch.Tensor):
    import jax.numpy as jnp

    t = t.detach().cpu()
    if t.dtype == torch.bfloat16:
        return jnp.asarray(t.float().numpy()).astype(jnp.bfloat16)  # exact
    return jnp.asarray(t.numpy())


def to_torch(a, dtype: torch.dtype) -> torch.Tensor:
    a = np.asarray(a)
    if dtype == torch.bfloat16:
        return torch.from_numpy(a.astype(np.float32)).to(torch.bfloat16)  # exact
    return torch.from_numpy(np.array(a))


def cell_params(params, suffix: str, hidden: int, bias: bool, dtype: torch.dtype) -> dict:
    """Flax LSTMCell params of one layer and direction from nn.LSTM's."""
    w_ih = params[f"weight_ih{suffix}"].detach().chunk(4)
    w_hh = params[f"weight_hh{suffix}"].detach().chunk(4)
    b = ((params[f"bias_ih{suffix}"] + params[f"bias_hh{suffix}"]).detach().chunk(4) if bias
         else [torch.zeros(hidden, dtype=dtype)] * 4)
    out = {}
    for gate, wi, wh, bg in zip(GATES, w_ih, w_hh, b):
        out[f"i{gate}"] = {"kernel": to_jax(wi.t())}
        out[f"h{gate}"] = {"kernel": to_jax(wh.t()), "bias": to_jax(bg)}
    return out


def _layer(hidden: int, dtype: torch.dtype, bidirectional: bool):
    """One layer's module and its jitted apply(variables, x, carry, seq_lengths), made once
    per configuration: a module built anew per candidate would be traced and compiled anew
    on every call (about 0.8 s even for a shape seen before), where jax.jit keeps the
    compiled program per input shape, as a deployed Flax model does."""
    import jax

    key = (hidden, dtype, bidirectional)
    if sum(apply._cache_size() for apply in _LAYERS.values()) > MAX_PROGRAMS:
        _LAYERS.clear()  # XLA keeps every program compiled; a long run would fill memory
        jax.clear_caches()
    if key not in _LAYERS:
        from flax import linen as nn

        dt = _jax_dtype(dtype)

        def rnn(reverse=False):
            cell = nn.LSTMCell(hidden, dtype=dt, param_dtype=dt)
            return nn.RNN(cell, return_carry=True, reverse=reverse, keep_order=reverse)

        layer = (nn.Bidirectional(rnn(), rnn(reverse=True), return_carry=True) if bidirectional
                 else rnn())
        _LAYERS[key] = jax.jit(lambda variables, x, carry, seq_lengths: layer.apply(
            variables, x, initial_carry=carry, seq_lengths=seq_lengths))
    return _LAYERS[key]


_LAYERS: dict = {}
# Compiled programs kept at most (one per layer configuration and input shape), then all
# dropped: XLA keeps what it compiled, and a sweep process that compiled a new shape per
# example died after 15 minutes ("LLVM compilation error: Cannot allocate memory").
MAX_PROGRAMS = 500


class FlaxLSTM:
    def __init__(self, spec, params):
        import jax

        if spec.proj_size > 0:
            raise NotImplementedError("Flax's LSTMCell has no projection (proj_size)")
        if spec.dropout > 0:
            raise NotImplementedError("dropout is not wired to train()/eval() for Flax")
        if spec.device != "cpu":
            raise NotImplementedError("this adapter runs on JAX's CPU")
        if spec.dtype == torch.float64:
            jax.config.update("jax_enable_x64", True)
        self.spec, self.params = spec, params
        self.apply = _layer(spec.hidden_size, spec.dtype, spec.bidirectional)
        self.variables = []
        for k in range(spec.num_layers):
            one = lambda s: cell_params(params, f"_l{k}{s}", spec.hidden_size, spec.bias,
                                        spec.dtype)
            self.variables.append(
                {"params": {"forward_rnn": {"cell": one("")},
                            "backward_rnn": {"cell": one("_reverse")}}}
                if spec.bidirectional else {"params": {"cell": one("")}})

    def __call__(self, input, hx=None):
        import jax.numpy as jnp

        reject_autograd("JAX", self.params, input, hx)
        spec = self.spec
        prep = _layout.prepare(spec, self.params, input, hx)
        x = to_jax(prep.x.transpose(0, 1))  # (N, T, I)
        seq_lengths = None if prep.lengths is None else jnp.asarray(prep.lengths)
        h0, c0 = to_jax(prep.h0), to_jax(prep.c0)
        dirs = spec.num_directions
        h_n, c_n = [], []
        for k, variables in enumerate(self.variables):
            carries = [(c0[k * dirs + d], h0[k * dirs + d]) for d in range(dirs)]
            carry = carries[0] if dirs == 1 else tuple(carries)
            carry, x = self.apply(variables, x, carry, seq_lengths)
            for c, h in ([carry] if dirs == 1 else carry):
                h_n.append(h)
                c_n.append(c)
        dtype = spec.dtype
        return prep.restore(to_torch(x, dtype).transpose(0, 1),
                            to_torch(jnp.stack(h_n), dtype), to_torch(jnp.stack(c_n), dtype))


@conformance.register("flax-lstm", opt_in=True, versions=versions("jax", "jaxlib", "flax"),
                      unsupported={"proj_size", "backward", "dropout", "cuda", "mps"})
def build(spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]) -> FlaxLSTM:
    return FlaxLSTM(spec, params)
