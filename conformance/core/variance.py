"""The rounding model's spread: per element, the root mean square of its error over its random
signs (rounding.py samples one draw of them), propagated to first order."""
from __future__ import annotations

import torch

from conformance.core.rounding import (ACTIVATION_ABSOLUTE, CANDIDATE_ABSOLUTE, _finish, _layout,
                                       accumulation_eps)
from conformance.model.cases import Case


def rms_error(case: Case, eps: float, accumulation: float | None = None,
           training: bool = False) -> tuple:
    """Per element of (output, h_n, c_n): the root mean square of the model's error over its
    random signs, to first order (each operation's error carried by the derivatives, as
    variances; the errors of different operations taken as independent).

    A sample of the model (`results`) can be lucky where a few errors of equal size meet with
    opposite signs: two of them cancel in one element of four (pins.FEW_EQUAL_ERRORS, a
    float64 output of 1e-5 from layers of hidden size 1, where a correct candidate's errors
    add). The spread cannot cancel."""
    acc = accumulation_eps(eps) if accumulation is None else accumulation
    eps2, acc2 = eps * eps, acc * acc
    spec, p = case.spec, case.params
    with torch.no_grad():
        x, lengths, h0, c0, kind = _layout(case)
        L, D = spec.num_layers, spec.num_directions
        steps, n = x.shape[0], x.shape[1]
        lengths_t = torch.tensor(lengths, dtype=torch.long)
        batch = torch.arange(n)
        hidden = spec.hidden_size
        is_tanh = torch.zeros(4 * hidden, dtype=torch.bool)
        is_tanh[2 * hidden:3 * hidden] = True
        absolute2 = torch.where(is_tanh, CANDIDATE_ABSOLUTE, ACTIVATION_ABSOLUTE
                                ).to(torch.float64).square() * eps2

        def matmul(v, var, w):
            """(value, variance) of v @ w.T: carried input variance, accumulation, rounding."""
            value = v @ w.T
            w2 = (w * w).T
            return value, var @ w2 + acc2 * ((v * v) @ w2) + eps2 * value * value

        h_n_var, c_n_var = [None] * (L * D), [None] * (L * D)
        layer_input, layer_var = x, torch.zeros_like(x)
        for layer in range(L):
            if layer and training and spec.dropout >= 1:
                layer_input, layer_var = torch.zeros_like(layer_input), torch.zeros_like(layer_var)
            outs, out_vars = [], []
            for d in range(D):
                k = layer * D + d
                sfx = f"_l{layer}" + ("_reverse" if d else "")
                w_ih, w_hh = p[f"weight_ih{sfx}"], p[f"weight_hh{sfx}"]
                b_ih, w_hr = p.get(f"bias_ih{sfx}"), p.get(f"weight_hr{sfx}")
                bias = None if b_ih is None else b_ih + p[f"bias_hh{sfx}"]
                projected, projected_var = matmul(layer_input, layer_var, w_ih)
                h, c = h0[k], c0[k]
                h_var, c_var = torch.zeros_like(h), torch.zeros_like(c)
                rows = [None] * steps
                for s in range(steps):
                    active = s < lengths_t
                    t = (lengths_t - 1 - s).clamp_min(0) if d else torch.full((n,), s)
                    zh, zh_var = matmul(h, h_var, w_hh)
                    z = projected[t, batch] + zh
                    z_var = projected_var[t, batch] + zh_var + eps2 * z * z
                    if bias is not None:
                        z = z + bias
                        z_var = z_var + eps2 * (bias * bias + z * z)
                    act = torch.where(is_tanh, torch.tanh(z), torch.sigmoid(z))
                    slope = torch.where(is_tanh, 1 - act * act, act * (1 - act))
                    act_var = slope * slope * z_var + eps2 * act * act + absolute2
                    (i, f, g, o), (vi, vf, vg, vo) = act.chunk(4, -1), act_var.chunk(4, -1)
                    fc, ig = f * c, i * g
                    c_new = fc + ig
                    c_new_var = (c * c * vf + f * f * c_var + eps2 * fc * fc
                                 + g * g * vi + i * i * vg + eps2 * ig * ig
                                 + eps2 * c_new * c_new)
                    tc = torch.tanh(c_new)
                    tc_var = ((1 - tc * tc) ** 2 * c_new_var + eps2 * tc * tc
                              + ACTIVATION_ABSOLUTE ** 2 * eps2)
                    h_new = o * tc
                    h_new_var = tc * tc * vo + o * o * tc_var + eps2 * h_new * h_new
                    if w_hr is not None:
                        h_new, h_new_var = matmul(h_new, h_new_var, w_hr)
                    mask = active[:, None]
                    h, h_var = torch.where(mask, h_new, h), torch.where(mask, h_new_var, h_var)
                    c, c_var = torch.where(mask, c_new, c), torch.where(mask, c_new_var, c_var)
                    rows[s] = (t, active, h_new, h_new_var)
                out = x.new_zeros(steps, n, h.shape[-1])
                out_var = torch.zeros_like(out)
                for t, active, row, row_var in rows:
                    where = (t[active], batch[active])
                    out = out.index_put(where, row[active])
                    out_var = out_var.index_put(where, row_var[active])
                outs.append(out)
                out_vars.append(out_var)
                h_n_var[k], c_n_var[k] = h_var, c_var
            layer_input, layer_var = torch.cat(outs, dim=-1), torch.cat(out_vars, dim=-1)
        variances = _finish(case, kind, n, layer_var, torch.stack(h_n_var), torch.stack(c_n_var))
    return tuple(v.clamp_min(0).sqrt() for v in variances)
