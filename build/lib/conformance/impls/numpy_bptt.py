"""Backpropagation through time for `conformance.impls.numpy_lstm`, in NumPy.

The inverse of `numpy_lstm.run_direction` / `numpy_lstm.lstm_forward`: from the gradients of
(output, h_n, c_n) and the per-step caches the forward recorded, the gradients of the layer
input, h0, c0 and the weights. Per step (processing order reversed), with a the step's
active mask (0 at padding: the state passes through unchanged, the output is 0):

    dh_new = a * (dh + d_output_t);  dc_new = a * dc      (carried on: (1 - a) * dh, dc)
    projection:  d W_hr += dh_new^T hh,  dhh = dh_new W_hr       (hh = o * tanh(c_t))
    do = dhh * tanh(c_t);  dc_new += dhh * o * (1 - tanh(c_t)^2)
    di = dc_new * g;  df = dc_new * c_{t-1};  dg = dc_new * i;  dc_{t-1} = dc_new * f
    d gates = [di i(1-i), df f(1-f), dg (1-g^2), do o(1-o)]
    dh_{t-1} = d gates W_hh

Only the recurrent part runs step by step; the gradients of the input, W_ih, W_hh and the
bias are one matmul each over all steps, from the stacked d gates.
"""
from __future__ import annotations

import numpy as np


def direction_backward(cache, d_output, d_h, d_c, w_ih, w_hh, w_hr, reverse):
    """Gradients of one layer in one direction.

    cache: `run_direction`'s; d_output: (T, N, H_out) gradient of its output; d_h, d_c:
    gradient of its final state h_n (N, H_out), c_n (N, H). Weights as for `run_direction`.

    Returns (dx (T, N, I), dh0, dc0, dw_ih, dw_hh, dbias (4H,), dw_hr or None).
    """
    steps, batch, _ = cache["x"].shape
    hidden = d_c.shape[1]
    d_gates = np.zeros((steps, batch, 4 * hidden), dtype=d_c.dtype)
    dw_hr = None if w_hr is None else np.zeros_like(w_hr)

    # Processing order reversed: the forward direction goes back from T-1, the reverse one
    # from 0.
    for t in (range(steps) if reverse else reversed(range(steps))):
        active = cache["active"][t]
        dh_new = np.where(active, d_h + d_output[t], 0)
        dc_new = np.where(active, d_c, 0)
        i, f, g, o = (cache[name][t] for name in "ifgo")
        tanh_c = cache["tanh_c"][t]

        if w_hr is not None:
            dw_hr += dh_new.T @ (o * tanh_c)
            dh_new = dh_new @ w_hr
        dc_new = dc_new + dh_new * o * (1 - tanh_c * tanh_c)

        dg = d_gates[t]
        dg[:, :hidden] = dc_new * g * i * (1 - i)
        dg[:, hidden:2 * hidden] = dc_new * cache["c_prev"][t] * f * (1 - f)
        dg[:, 2 * hidden:3 * hidden] = dc_new * i * (1 - g * g)
        dg[:, 3 * hidden:] = dh_new * tanh_c * o * (1 - o)

        d_h = np.where(active, dg @ w_hh, d_h)
        d_c = np.where(active, dc_new * f, d_c)

    flat = d_gates.reshape(steps * batch, 4 * hidden)
    dx = (flat @ w_ih).reshape(steps, batch, w_ih.shape[1])
    dw_ih = flat.T @ cache["x"].reshape(steps * batch, w_ih.shape[1])
    dw_hh = flat.T @ cache["h_prev"].reshape(steps * batch, w_hh.shape[1])
    return dx, d_h, d_c, dw_ih, dw_hh, flat.sum(axis=0), dw_hr


def lstm_backward(caches, weights, dropout_masks, d_output, d_h_n, d_c_n):
    """Gradients of the whole stack, from `lstm_forward`'s caches.

    d_output: (T, N, D*H_out); d_h_n, d_c_n: like h_n, c_n. Returns (dx, dh0, dc0, dweights)
    with dweights[layer][direction] = (dw_ih, dw_hh, dbias, dw_hr or None).
    """
    num_layers, num_directions = len(weights), len(weights[0])
    dh0, dc0 = np.zeros_like(d_h_n), np.zeros_like(d_c_n)
    dweights = [[None] * num_directions for _ in range(num_layers)]
    d_layer_output = d_output
    for layer in reversed(range(num_layers)):
        if dropout_masks is not None and layer < num_layers - 1:
            d_layer_output = d_layer_output * dropout_masks[layer]  # same mask as the forward
        d_outputs = np.split(d_layer_output, num_directions, axis=2)
        d_input = 0
        for direction, (w_ih, w_hh, _, w_hr) in enumerate(weights[layer]):
            k = layer * num_directions + direction
            dx, dh0[k], dc0[k], *grads = direction_backward(
                caches[layer][direction], d_outputs[direction], d_h_n[k], d_c_n[k],
                w_ih, w_hh, w_hr, reverse=direction == 1)
            dweights[layer][direction] = tuple(grads)
            d_input = d_input + dx  # both directions read the same layer input
        d_layer_output = d_input
    return d_layer_output, dh0, dc0, dweights
