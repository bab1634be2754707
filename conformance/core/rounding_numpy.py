"""The rounding model's forward (rounding.results) where nothing needs a gradient, in numpy.

The same operations in the same order, with the same random signs (drawn from the same torch
generator, in the same sizes): the values differ from rounding.results' only where float64
arithmetic itself differs between numpy and torch (the order of a matrix product's sums,
tanh and sigmoid to within an ulp of float64), ten orders of magnitude below the errors the
model models. The model is a loop over time steps of a few dozen operations on tiny arrays,
where numpy's overhead per operation is a fraction of torch's: rounding.run, which the
forward checks' gauges call, runs this (tests/test_rounding.py holds the two to each other).
"""
from __future__ import annotations

import itertools
import math

import numpy as np
import torch

from conformance.core.rounding import (ACTIVATION_ABSOLUTE, CANDIDATE_ABSOLUTE, _finish, _Rounder,
                                       _Signs, accumulation_eps, accumulation_terms,
                                       layer_weights)
from conformance.core.variance import numpy_layout, sigmoid
from conformance.model.cases import Case


class _NumpySigns(_Signs):
    """_Signs' draws, as numpy arrays."""

    def begin_step(self) -> None:
        shapes, self.asked = self.asked, []
        if not shapes:
            self.queue = []
            return
        rows = shapes[0][0] if len(shapes[0]) == 2 else None
        if rows and all(len(shape) == 2 and shape[0] == rows for shape in shapes):  # (N, w) each
            widths = [shape[1] for shape in shapes]
            e, f, a = self._kinds(self.draw(rows * sum(widths)).reshape(rows, -1))
            self.queue = [(e[:, i:j], f[:, i:j], a[:, i:j]) for i, j in _spans(widths)][::-1]
        else:
            sizes = [math.prod(shape) for shape in shapes]
            e, f, a = self._kinds(self.draw(sum(sizes)))
            self.queue = [(e[i:j].reshape(shape), f[i:j].reshape(shape), a[i:j].reshape(shape))
                          for (i, j), shape in zip(_spans(sizes), shapes)][::-1]

    def draw(self, size: int) -> np.ndarray:
        drawn = torch.randint(0, 2, (size,), generator=self.generator, dtype=torch.int8)
        return 2.0 * drawn.numpy().astype(np.float64) - 1  # as _Signs.draw

    def take(self, shape, kind: int) -> np.ndarray:
        self.asked.append(shape)
        if self.queue:
            piece = self.queue.pop()
            if piece[0].shape == shape:
                return piece[kind]
            self.queue = []
        return self._kinds(self.draw(math.prod(shape)).reshape(shape))[kind]


def _spans(sizes: list[int]) -> list[tuple[int, int]]:
    """(start, end) of consecutive pieces of these sizes."""
    ends = list(itertools.accumulate(sizes))
    return list(zip([0] + ends[:-1], ends))


def results(case: Case, eps: float, seed=0, training: bool = False,
            accumulation: float | None = None, samples: int | None = None,
            arithmetic: float = 1.0):
    """rounding.results(case, eps, seed, training, accumulation) without autograd.

    arithmetic: the ulps by which each arithmetic result (a sum, a product, a matrix
    product's sum rounded to the dtype) is off; activations stay one ulp off and the
    accumulation error as it is (see tolerance.ARITHMETIC_ULPS).

    samples: a list of that many independent samples of the model instead, from one run over
    the batch repeated `samples` times (every operation's signs are drawn per element, so
    each copy of the batch is a sample of its own; only the bias sum, one rounding per
    parameter, is shared). The loop's cost is its per-operation overhead, so six samples
    take 1.4x the time of one (100 random examples)."""
    copies = 1 if samples is None else samples
    r = _Rounder(eps, seed, accumulation_eps(eps) if accumulation is None else accumulation)
    signs = _NumpySigns(r.signs.generator, r.eps, r.accumulation_eps, arithmetic)
    error = lambda shape: signs.take(shape, 0)
    factor = lambda shape: signs.take(shape, 1)
    rounded = lambda v: v * factor(v.shape)

    def matmul(v, w, w2):
        exact = v @ w.T
        return rounded(exact + signs.take(exact.shape, 2) * np.sqrt((v * v) @ w2)
                       * accumulation_terms(w.shape[-1]))

    spec = case.spec
    p, x, h0, c0, kind, lengths_a, batch, forward_steps = numpy_layout(case)
    n = x.shape[1]  # of the case; the run's batch is `copies` times that
    if copies > 1:
        x, h0, c0 = (np.concatenate([a] * copies, axis=1) for a in (x, h0, c0))
        lengths_a = np.tile(lengths_a, copies)
        forward_steps = np.tile(forward_steps, (1, copies))
        batch = np.arange(copies * n)
    L, D = spec.num_layers, spec.num_directions
    steps, rows = x.shape[0], x.shape[1]
    hidden = spec.hidden_size
    g_gate = slice(2 * hidden, 3 * hidden)
    absolute = np.full(4 * hidden, ACTIVATION_ABSOLUTE)
    absolute[g_gate] = CANDIDATE_ABSOLUTE
    h_n, c_n = [None] * (L * D), [None] * (L * D)
    layer_input = x
    for layer in range(L):
        if layer and training and spec.dropout >= 1:
            layer_input = np.zeros_like(layer_input)
        outs = []
        for d in range(D):
            k = layer * D + d
            w_ih, w_hh, b_ih, b_hh, w_hr = layer_weights(p, layer, d)
            bias = None if b_ih is None else rounded(b_ih + b_hh)
            w_hh2 = (w_hh * w_hh).T
            w_hr2 = None if w_hr is None else (w_hr * w_hr).T
            projected = matmul(layer_input, w_ih, (w_ih * w_ih).T)  # (T, N, 4H)
            h, c = h0[k], c0[k]
            out = np.zeros((steps, rows, h.shape[-1]))
            for s in range(steps):
                signs.begin_step()
                active = s < lengths_a
                t = np.maximum(lengths_a - 1 - s, 0) if d else forward_steps[s]
                z = rounded(projected[t, batch] + matmul(h, w_hh, w_hh2))
                if bias is not None:
                    z = rounded(z + bias)
                exact = sigmoid(z)
                exact[:, g_gate] = np.tanh(z[:, g_gate])
                gates = exact + (np.abs(exact) * error(z.shape) + absolute * error(z.shape))
                i, f, g, o = (gates[:, j * hidden:(j + 1) * hidden] for j in range(4))
                c_new = rounded(rounded(f * c) + rounded(i * g))
                tanh_c = np.tanh(c_new)
                tanh_c = tanh_c + (np.abs(tanh_c) * error(c_new.shape)
                                   + ACTIVATION_ABSOLUTE * error(c_new.shape))
                h_new = rounded(o * tanh_c)
                if w_hr is not None:
                    h_new = matmul(h_new, w_hr, w_hr2)
                mask = active[:, None]
                h = np.where(mask, h_new, h)
                c = np.where(mask, c_new, c)
                out[t[active], batch[active]] = h_new[active]
            outs.append(out)
            h_n[k], c_n[k] = h, c
        layer_input = np.concatenate(outs, axis=-1)
    as_tensor = torch.from_numpy
    output, h_n, c_n = layer_input, np.stack(h_n), np.stack(c_n)
    drawn = [_finish(case, kind, n, as_tensor(output[:, k * n:(k + 1) * n]),
                     as_tensor(h_n[:, k * n:(k + 1) * n]), as_tensor(c_n[:, k * n:(k + 1) * n]))
             for k in range(copies)]
    return drawn[0] if samples is None else drawn
