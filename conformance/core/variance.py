"""The rounding model's spread: per element, the root mean square of its error over its random
signs (rounding.py samples one draw of them), propagated to first order.

In numpy: nothing here needs a gradient, and it is a loop over time steps of about a hundred
operations on tiny arrays, each costing a fraction of a torch operation's overhead.
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import torch

from conformance.core.rounding import (ACTIVATION_ABSOLUTE, CANDIDATE_ABSOLUTE, _finish, _layout,
                                       accumulation_eps, accumulation_terms,
                                       layer_weights)
from conformance.model.cases import Case


def sigmoid(z: np.ndarray) -> np.ndarray:
    """The logistic function without overflow: within an ulp of 1 of torch.sigmoid in float64
    (below z = -37 it returns 0; the model adds half an ulp of 1 of the dtype anyway)."""
    return 0.5 * np.tanh(0.5 * z) + 0.5


def as_numpy(t: torch.Tensor) -> np.ndarray:
    return t.detach().cpu().numpy()


class Arrays(NamedTuple):
    """A case as the numpy loops over time steps take it (rounding._layout's layout)."""

    params: dict  # name -> array
    x: np.ndarray  # (T, N, F), user batch order
    h0: np.ndarray  # (D*L, N, *)
    c0: np.ndarray
    kind: str  # "padded", "unbatched" or "packed"
    lengths: np.ndarray  # per sequence
    batch: np.ndarray  # arange(N)
    forward_steps: np.ndarray  # (T, N): the time index of each step, per row


def numpy_layout(case: Case) -> Arrays:
    x, lengths, h0, c0, kind = _layout(case)
    steps, n = x.shape[0], x.shape[1]
    return Arrays({name: as_numpy(t) for name, t in case.params.items()}, as_numpy(x),
                  as_numpy(h0), as_numpy(c0), kind, np.asarray(lengths, dtype=np.int64),
                  np.arange(n), np.repeat(np.arange(steps)[:, None], n, axis=1))


def rms_error(case: Case, eps: float, accumulation: float | None = None,
              training: bool = False, arithmetic: float = 1.0) -> tuple:
    """Per element of (output, h_n, c_n): the root mean square of the model's error over its
    random signs, to first order (each operation's error carried by the derivatives, as
    variances; the errors of different operations taken as independent).

    A sample of the model (`results`) can be lucky where a few errors of equal size meet with
    opposite signs: two of them cancel in one element of four (pins.FEW_EQUAL_ERRORS, a
    float64 output of 1e-5 from layers of hidden size 1, where a correct candidate's errors
    add). The spread cannot cancel.

    arithmetic: the ulps of each arithmetic result's rounding, as rounding_numpy.results';
    activations keep one ulp."""
    acc = accumulation_eps(eps) if accumulation is None else accumulation
    eps2, acc2 = (arithmetic * eps) ** 2, acc * acc  # eps2: an arithmetic result's
    act2 = eps * eps  # an activation's
    spec = case.spec
    p, x, h0, c0, kind, lengths_a, batch, forward_steps = numpy_layout(case)
    L, D = spec.num_layers, spec.num_directions
    steps, n = x.shape[0], x.shape[1]
    hidden = spec.hidden_size
    g_gate = slice(2 * hidden, 3 * hidden)
    absolute2 = np.full(4 * hidden, ACTIVATION_ABSOLUTE ** 2 * act2)
    absolute2[g_gate] = CANDIDATE_ABSOLUTE ** 2 * act2
    tanh_absolute2 = ACTIVATION_ABSOLUTE ** 2 * act2

    def matmul(v, var, w, w2):
        """(value, variance) of v @ w.T (w2: (w * w).T): carried input variance, accumulation,
        rounding."""
        value = v @ w.T
        return value, (var @ w2 + acc2 * accumulation_terms(w.shape[-1]) ** 2 * ((v * v) @ w2)
                       + eps2 * value * value)

    h_n_var, c_n_var = [None] * (L * D), [None] * (L * D)
    layer_input, layer_var = x, np.zeros_like(x)
    for layer in range(L):
        if layer and training and spec.dropout >= 1:
            layer_input, layer_var = np.zeros_like(layer_input), np.zeros_like(layer_var)
        outs, out_vars = [], []
        for d in range(D):
            k = layer * D + d
            w_ih, w_hh, b_ih, b_hh, w_hr = layer_weights(p, layer, d)
            bias = None if b_ih is None else b_ih + b_hh
            w_hh2 = (w_hh * w_hh).T
            w_hr2 = None if w_hr is None else (w_hr * w_hr).T
            projected, projected_var = matmul(layer_input, layer_var, w_ih, (w_ih * w_ih).T)
            h, c = h0[k], c0[k]
            h_var, c_var = np.zeros_like(h), np.zeros_like(c)
            out = np.zeros((steps, n, h.shape[-1]))
            out_var = np.zeros_like(out)
            for s in range(steps):
                active = s < lengths_a
                t = np.maximum(lengths_a - 1 - s, 0) if d else forward_steps[s]
                zh, zh_var = matmul(h, h_var, w_hh, w_hh2)
                z = projected[t, batch] + zh
                z_var = projected_var[t, batch] + zh_var + eps2 * z * z
                if bias is not None:
                    z = z + bias
                    z_var = z_var + eps2 * (bias * bias + z * z)
                act = sigmoid(z)
                act[:, g_gate] = np.tanh(z[:, g_gate])
                slope = act * (1 - act)
                slope[:, g_gate] = 1 - act[:, g_gate] * act[:, g_gate]
                act_var = slope * slope * z_var + act2 * act * act + absolute2
                i, f, g, o = (act[:, j * hidden:(j + 1) * hidden] for j in range(4))
                vi, vf, vg, vo = (act_var[:, j * hidden:(j + 1) * hidden] for j in range(4))
                fc, ig = f * c, i * g
                c_new = fc + ig
                c_new_var = (c * c * vf + f * f * c_var + eps2 * fc * fc
                             + g * g * vi + i * i * vg + eps2 * ig * ig
                             + eps2 * c_new * c_new)
                tc = np.tanh(c_new)
                tc_var = (1 - tc * tc) ** 2 * c_new_var + act2 * tc * tc + tanh_absolute2
                h_new = o * tc
                h_new_var = tc * tc * vo + o * o * tc_var + eps2 * h_new * h_new
                if w_hr is not None:
                    h_new, h_new_var = matmul(h_new, h_new_var, w_hr, w_hr2)
                mask = active[:, None]
                h, h_var = np.where(mask, h_new, h), np.where(mask, h_new_var, h_var)
                c, c_var = np.where(mask, c_new, c), np.where(mask, c_new_var, c_var)
                where = (t[active], batch[active])
                out[where] = h_new[active]
                out_var[where] = h_new_var[active]
            outs.append(out)
            out_vars.append(out_var)
            h_n_var[k], c_n_var[k] = h_var, c_var
        layer_input = np.concatenate(outs, axis=-1)
        layer_var = np.concatenate(out_vars, axis=-1)
    variances = _finish(case, kind, n, torch.from_numpy(layer_var),
                        torch.from_numpy(np.stack(h_n_var)), torch.from_numpy(np.stack(c_n_var)))
    return tuple(v.clamp_min(0).sqrt() for v in variances)
