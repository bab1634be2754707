"""Candidate "numpy": the LSTM recurrence written with NumPy arrays and an explicit time loop.

Tensors are converted to NumPy at the boundary and the results converted back to the input's
dtype and device. float32/float64 are computed in that dtype; float16 and bfloat16 (which has
no NumPy dtype) are computed in float32 and rounded back at the end.

Gradients: `_LSTMFunction` (a `torch.autograd.Function`) takes the input, h0, c0 and every
given parameter tensor as inputs, so the suite's gradients reach them. When a gradient can be
asked for, `run_direction` records per step what backpropagation through time needs
(previous state, gate activations, tanh of the new cell state), and `numpy_bptt` replays the
recurrence in reverse from that cache, in NumPy.

Per step, with the gate rows stacked i, f, g, o (as in nn.LSTM):

    i, f, g, o = split(x_t W_ih^T + b_ih + h_{t-1} W_hh^T + b_hh)
    i, f, o = sigmoid(i), sigmoid(f), sigmoid(o);  g = tanh(g)
    c_t = f * c_{t-1} + i * g
    h_t = o * tanh(c_t)                 (then h_t = h_t W_hr^T when proj_size > 0)
"""
from __future__ import annotations

import numpy as np
import torch
from torch.autograd.function import once_differentiable

import conformance

from . import _layout, numpy_bptt

# NumPy dtype each torch dtype is computed in.
_COMPUTE_DTYPE = {
    torch.float64: np.float64,
    torch.float32: np.float32,
    torch.float16: np.float32,
    torch.bfloat16: np.float32,
}


def sigmoid(x: np.ndarray) -> np.ndarray:
    """Logistic function 1 / (1 + e^-x), into a new array.

    For x below about -88 (float32) e^-x overflows to inf and the result is 1/inf = 0, the
    correctly rounded value, so the overflow warning is silenced. Three passes over the array
    (exp, add, reciprocal) instead of the branch-free stable form's six: it is per step.
    """
    with np.errstate(over="ignore"):
        e = np.exp(-x)
    e += 1
    return np.reciprocal(e, out=e)


def _ifog(w: np.ndarray) -> np.ndarray:
    """Gate blocks (i, f, g, o) of a weight or bias -> (i, f, o, g): the three sigmoid gates
    side by side, so that one call covers them (an exact permutation of rows)."""
    i, f, g, o = np.split(w, 4, axis=0)
    return np.concatenate([i, f, o, g])


def run_direction(x, lengths, h0, c0, w_ih, w_hh, bias, w_hr, reverse, record=True):
    """One layer in one direction over all time steps.

    x: (T, N, I) input; lengths: (N,) steps of each sequence (its later steps are padding);
    h0: (N, H_out), c0: (N, H); w_ih: (4H, I), w_hh: (4H, H_out), bias: (4H,) or None
    (b_ih + b_hh), w_hr: (H_out, H) or None.

    The forward direction runs t = 0 .. T-1, the reverse one t = T-1 .. 0. A sequence's state
    only changes at its own steps t < length, so the forward state stops at the sequence's
    last element and the reverse state starts there (until then it stays h0, c0).

    Returns output (T, N, H_out) (zeros at padding), h_n, c_n, and the cache: a dict of
    arrays indexed by time step t (first axis T) holding what BPTT (`numpy_bptt`) needs, or
    None when `record` is false (no gradient wanted).
    """
    steps, batch, _ = x.shape
    hidden = c0.shape[1]
    output = np.zeros((steps, batch, h0.shape[1]), dtype=x.dtype)
    active_all = (np.arange(steps)[:, None] < lengths[None, :])[:, :, None]  # (T, N, 1)
    padded = not active_all.all()
    cache = None
    if record:
        cache = {
            "x": x,
            "active": active_all,
            "h_prev": np.zeros((steps,) + h0.shape, dtype=x.dtype),
            "c_prev": np.zeros((steps,) + c0.shape, dtype=x.dtype),
            **{name: np.zeros((steps, batch, hidden), dtype=x.dtype)
               for name in ("i", "f", "g", "o", "tanh_c")},
        }

    # Speed (the loop is most of the time): gate rows reordered to (i, f, o, g) so that one
    # sigmoid covers three gates; weights transposed into contiguous arrays once (a matmul
    # with a transposed view is about 35% slower per step); the input's share of the gates
    # does not depend on the state, so it is one matmul for all steps.
    w_hh_t = np.ascontiguousarray(_ifog(w_hh).T)
    w_hr_t = None if w_hr is None else np.ascontiguousarray(w_hr.T)
    x_gates = x.reshape(steps * batch, x.shape[2]) @ np.ascontiguousarray(_ifog(w_ih).T)
    x_gates = x_gates.reshape(steps, batch, 4 * hidden)
    if bias is not None:
        x_gates += _ifog(bias)

    h, c = h0, c0
    for t in (reversed(range(steps)) if reverse else range(steps)):
        gates = h @ w_hh_t
        gates += x_gates[t]
        ifo = sigmoid(gates[:, :3 * hidden])
        i, f, o = ifo[:, :hidden], ifo[:, hidden:2 * hidden], ifo[:, 2 * hidden:]
        g = np.tanh(gates[:, 3 * hidden:])
        c_new = f * c
        c_new += i * g
        tanh_c = np.tanh(c_new)
        h_new = o * tanh_c
        if w_hr_t is not None:
            h_new = h_new @ w_hr_t

        if record:
            for name, value in (("h_prev", h), ("c_prev", c), ("i", i), ("f", f), ("g", g),
                                ("o", o), ("tanh_c", tanh_c)):
                cache[name][t] = value

        if padded:  # sequences without a step t keep their state and output zeros
            active = active_all[t]
            h = np.where(active, h_new, h)
            c = np.where(active, c_new, c)
            output[t] = np.where(active, h_new, 0)
        else:
            h, c = h_new, c_new
            output[t] = h_new
    return output, h, c, cache


def lstm_forward(x, lengths, h0, c0, weights, dropout_masks, record=True):
    """The whole stacked (and possibly bidirectional) LSTM.

    weights[layer][direction] = (w_ih, w_hh, bias, w_hr) as for `run_direction`;
    h0, c0: (D*num_layers, N, ...) with state index layer*D + direction;
    dropout_masks: one (T, N, D*H_out) scaled keep-mask per layer but the last, or None.

    Returns output (T, N, D*H_out), h_n, c_n and caches[layer][direction].
    """
    num_directions = len(weights[0])
    layer_input = x
    h_n, c_n, caches = [], [], []
    for layer, layer_weights in enumerate(weights):
        outputs, layer_caches = [], []
        for direction, (w_ih, w_hh, bias, w_hr) in enumerate(layer_weights):
            k = layer * num_directions + direction
            out, h, c, cache = run_direction(layer_input, lengths, h0[k], c0[k],
                                             w_ih, w_hh, bias, w_hr, reverse=direction == 1,
                                             record=record)
            outputs.append(out)
            h_n.append(h)
            c_n.append(c)
            layer_caches.append(cache)
        caches.append(layer_caches)
        layer_input = np.concatenate(outputs, axis=2)  # [forward, reverse] features
        if dropout_masks is not None and layer < len(weights) - 1:
            layer_input = layer_input * dropout_masks[layer]
    return layer_input, np.stack(h_n), np.stack(c_n), caches


def _to_numpy(tensor: torch.Tensor, compute) -> np.ndarray:
    """A detached CPU NumPy copy (or view) of `tensor` in the compute dtype."""
    tensor = tensor.detach().cpu()
    if tensor.dtype in (torch.float16, torch.bfloat16):
        tensor = tensor.float()  # bfloat16 has no NumPy dtype
    return tensor.numpy().astype(compute, copy=False)


def _to_torch(array: np.ndarray, like) -> torch.Tensor:
    """`array` as a tensor of the dtype and device of `like` (a tensor, or a (dtype, device)
    pair), rounded once, at the end."""
    dtype, device = (like.dtype, like.device) if isinstance(like, torch.Tensor) else like
    return torch.from_numpy(np.ascontiguousarray(array)).to(device=device, dtype=dtype)


def _group(spec, flat_params):
    """The flat parameter list (as `_param_list` orders it) as weights[layer][direction] =
    (w_ih, w_hh, b_ih, b_hh, w_hr) with None for what the spec has not."""
    it = iter(flat_params)
    return [[(next(it), next(it), *((next(it), next(it)) if spec.bias else (None, None)),
              next(it) if spec.proj_size > 0 else None)
             for _ in range(spec.num_directions)] for _ in range(spec.num_layers)]


def _param_list(spec, params):
    """The parameter tensors in a fixed order: layer by layer, direction by direction,
    w_ih, w_hh, (b_ih, b_hh), (w_hr)."""
    return [p for layer in range(spec.num_layers) for direction in range(spec.num_directions)
            for p in _layout.layer_params(params, layer, direction) if p is not None]


class _LSTMFunction(torch.autograd.Function):
    """(x, h0, c0, *parameters) -> (output, h_n, c_n) in the canonical layout, computed by
    `lstm_forward`, differentiated by `numpy_bptt.lstm_backward` with the same dropout masks.

    `setup` = (spec, lengths, dropout_masks, record) is not differentiable; record is false
    when no gradient can be asked for (no per-step cache then)."""

    @staticmethod
    def forward(ctx, setup, x, h0, c0, *flat_params):
        spec, lengths, dropout_masks, record = setup
        compute = _COMPUTE_DTYPE[x.dtype]
        weights = [[(_to_numpy(w_ih, compute), _to_numpy(w_hh, compute),
                     None if b_ih is None else _to_numpy(b_ih, compute) + _to_numpy(b_hh, compute),
                     None if w_hr is None else _to_numpy(w_hr, compute))
                    for w_ih, w_hh, b_ih, b_hh, w_hr in layer]
                   for layer in _group(spec, flat_params)]
        output, h_n, c_n, caches = lstm_forward(
            _to_numpy(x, compute), lengths, _to_numpy(h0, compute), _to_numpy(c0, compute),
            weights, dropout_masks, record)
        # NumPy state for backward: ctx.save_for_backward only takes tensors.
        ctx.numpy_state = (spec, compute, weights, caches, dropout_masks)
        ctx.like = [(t.dtype, t.device) for t in (x, h0, c0, *flat_params)]  # of each gradient
        return _to_torch(output, x), _to_torch(h_n, h0), _to_torch(c_n, c0)

    @staticmethod
    @once_differentiable
    def backward(ctx, d_output, d_h_n, d_c_n):
        spec, compute, weights, caches, dropout_masks = ctx.numpy_state
        dx, dh0, dc0, dweights = numpy_bptt.lstm_backward(
            caches, weights, dropout_masks, _to_numpy(d_output, compute),
            _to_numpy(d_h_n, compute), _to_numpy(d_c_n, compute))
        grads = [dx, dh0, dc0]
        for layer in dweights:
            for dw_ih, dw_hh, dbias, dw_hr in layer:
                grads += [dw_ih, dw_hh]
                if spec.bias:
                    grads += [dbias, dbias]  # the gates see b_ih + b_hh
                if dw_hr is not None:
                    grads.append(dw_hr)
        return (None, *(_to_torch(g, like) for g, like in zip(grads, ctx.like)))


class NumpyLSTM:
    """forward(input, hx=None) like nn.LSTM.forward, with nn.Module-style train()/eval()."""

    def __init__(self, spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]):
        self.spec = spec
        self.params = params
        self.training = False

    def train(self, mode: bool = True) -> "NumpyLSTM":
        self.training = bool(mode)
        return self

    def eval(self) -> "NumpyLSTM":
        return self.train(False)

    def __call__(self, input, hx=None):
        spec = self.spec
        prep = _layout.prepare(spec, self.params, input, hx)
        compute = _COMPUTE_DTYPE[prep.x.dtype]
        steps, batch = prep.x.shape[:2]
        lengths = np.full(batch, steps) if prep.lengths is None else np.asarray(prep.lengths)

        dropout_masks = None
        if self.training and spec.dropout > 0 and spec.num_layers > 1:
            # Drawn from torch's generator so that torch.manual_seed makes runs repeatable.
            # Kept elements are scaled by 1/(1-p); p = 1 drops everything (no 0/0).
            keep = 1 - spec.dropout
            scale = compute(1 / keep if keep > 0 else 0)
            shape = (steps, batch, spec.num_directions * spec.output_size)
            dropout_masks = [_to_numpy(torch.empty(shape).bernoulli_(keep), compute) * scale
                             for _ in range(spec.num_layers - 1)]

        # prep.x and prep.h0/c0 are differentiable views of the user's tensors (packed data,
        # transposed, unsqueezed, permuted), so the gradients flow on to them through torch.
        flat_params = _param_list(spec, self.params)
        record = torch.is_grad_enabled() and any(
            t.requires_grad for t in (prep.x, prep.h0, prep.c0, *flat_params))
        output, h_n, c_n = _LSTMFunction.apply((spec, lengths, dropout_masks, record), prep.x,
                                               prep.h0, prep.c0, *flat_params)
        return prep.restore(output, h_n, c_n)


@conformance.register("numpy")
def build(spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]) -> NumpyLSTM:
    return NumpyLSTM(spec, params)
