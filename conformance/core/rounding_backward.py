"""The rounding model's autograd Functions (conformance.core.rounding): what its backward
adds to autograd's exact gradients.

- `_Perturb`, `_Gates`: an op's forward rounding, and another ulp on its back-propagated
  gradient (an activation's derivative from its perturbed value, as implementations compute
  it from their saved gates);
- `_Product`, `_BiasAdd`: the backward's sums (d/dx over the output features, d/dW and the
  bias gradient over every row that used the weight) with the accumulation error the
  forward's products carry (`_Rounder.backward_accumulation`).
"""
from __future__ import annotations

import torch


class _Perturb(torch.autograd.Function):
    """Forward: x * forward_factor; backward: grad * forward_factor * backward_factor."""

    @staticmethod
    def forward(ctx, x, forward_factor, backward_factor):
        ctx.save_for_backward(forward_factor * backward_factor)
        return x * forward_factor

    @staticmethod
    def backward(ctx, grad):
        (factor,) = ctx.saved_tensors
        return grad * factor, None, None


class _Gates(torch.autograd.Function):
    """Forward: the four gate activations of z (sigmoid, except tanh where `is_tanh`) plus
    `shift` (the model's error); backward from those perturbed values, as implementations do
    from their saved gates: grad * act'(y) * backward_factor."""

    @staticmethod
    def forward(ctx, z, is_tanh, shift, backward_factor):
        y = torch.where(is_tanh, torch.tanh(z), torch.sigmoid(z)) + shift
        ctx.save_for_backward(y, is_tanh, backward_factor)
        return y

    @staticmethod
    def backward(ctx, grad):
        y, is_tanh, factor = ctx.saved_tensors
        slope = torch.where(is_tanh, 1 - y * y, y * (1 - y))
        return grad * slope * factor, None, None, None


class _Product(torch.autograd.Function):
    """Forward: x @ w.T, exact (the caller adds the forward rounding). Backward: the exact
    gradients, each sum with its accumulation error as the forward's (`_Rounder.matmul`):
    accumulation_eps * accumulation_terms(k) * sqrt(sum of the squared terms), random signs;
    k is w's rows for d/dx and `rows` for d/dw, the rows of every call that uses w."""

    @staticmethod
    def forward(ctx, x, w, rounder, rows):
        ctx.save_for_backward(x, w)
        ctx.rounder, ctx.rows = rounder, rows
        return x @ w.T

    @staticmethod
    def backward(ctx, grad):
        x, w = ctx.saved_tensors
        r = ctx.rounder
        grad_x = grad_w = None
        if ctx.needs_input_grad[0]:
            grad_x = grad @ w + r.backward_accumulation((grad * grad) @ (w * w), w.shape[0])
        if ctx.needs_input_grad[1]:
            g, v = grad.reshape(-1, grad.shape[-1]), x.reshape(-1, x.shape[-1])
            grad_w = g.T @ v + r.backward_accumulation((g * g).T @ (v * v), ctx.rows)
        return grad_x, grad_w, None, None


class _BiasAdd(torch.autograd.Function):
    """Forward: z + bias, exact. Backward: the bias gradient, a sum over every row that adds
    the bias (`rows` in all), with its accumulation error as `_Product`'s."""

    @staticmethod
    def forward(ctx, z, bias, rounder, rows):
        ctx.rounder, ctx.rows = rounder, rows
        return z + bias

    @staticmethod
    def backward(ctx, grad):
        grad_bias = None
        if ctx.needs_input_grad[1]:
            g = grad.reshape(-1, grad.shape[-1])
            grad_bias = g.sum(0) + ctx.rounder.backward_accumulation((g * g).sum(0), ctx.rows)
        return grad, grad_bias, None, None
