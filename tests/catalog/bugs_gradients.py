"""Gradient-only bugs: the forward pass is exactly nn.LSTM's, only the backward pass is wrong.

Each is a subclass of the correct `BaseLSTM` that changes one method without changing a
single forward value: a detach, a copy, or a hand-written `torch.autograd.Function` whose
forward is the exact operation and whose backward has the mistake. Each is registered as
candidate ``bug-grad-<slug>`` through ``build_grad_<slug>`` (so
``--impl tests.catalog.bugs_gradients:build_grad_<slug>`` loads it) and listed in `CATALOG`,
in the format of `bugs.CATALOG`. The forward families cannot see any of them; the gradient
family (`conformance/suite/test_gradients.py`) must.
"""
from __future__ import annotations


import torch
from torch.nn.utils.rnn import PackedSequence


from .base import BaseLSTM, Weights
from .entry import Bug, bug_decorator


CATALOG: list[Bug] = []
bug = bug_decorator(globals(), CATALOG, "bug-grad-", "build_grad_")


# ---------------------------------------------------------------------------------------
# Detached or copied tensors: a path of the graph is cut
# ---------------------------------------------------------------------------------------

@bug("c-detached", first="test_gradients.py")
class CellStateDetached(BaseLSTM):
    """The cell state is detached between time steps (truncated BPTT on c): no gradient flows
    along c from one step to the previous one, nor into c0.

    Needs: seq_len >= 2, or hx given (c0 then gets no gradient).
    """

    def step(self, x_t, h, c, w: Weights):
        return super().step(x_t, h, c.detach(), w)


@bug("h0-detached", first="test_gradients.py")
class InitialHiddenDetached(BaseLSTM):
    """h0 is detached when hx is read (e.g. `hx[0].data`): h0 gets no gradient.

    Needs: hx given (random or zeros).
    """

    def read_hx(self, hx):
        h0, c0 = hx
        return h0.detach(), c0


@bug("params-copied", first="test_gradients.py")
class ParamsCopied(BaseLSTM):
    """The parameters are copied at build time into the module's own tensors (as
    `load_state_dict` would), so the given tensors never get a gradient.

    Needs: any input.
    """

    def __init__(self, spec, params):
        super().__init__(spec, {name: p.detach().clone() for name, p in params.items()})


@bug("bias-folded", first="test_gradients.py")
class BiasFoldedConstant(BaseLSTM):
    """b_ih + b_hh is folded into one constant outside the graph (computed once under
    no_grad): the biases get no gradient.

    Needs: bias=True.
    """

    def bias(self, w: Weights):
        return (w.b_ih + w.b_hh).detach()


@bug("layer-input-detached", first="test_gradients.py")
class LayerInputDetached(BaseLSTM):
    """Each layer's input is detached from the layer below (layers "trained separately"): no
    gradient from the upper layers reaches the lower layers, their parameters or the input.

    Needs: num_layers >= 2.
    """

    def next_layer_input(self, outputs, x):
        return super().next_layer_input(outputs, x).detach()


@bug("projection-dropped", first="test_gradients.py")
class ProjectionGradientDropped(BaseLSTM):
    """The projection h W_hr^T passes no gradient back into the cell (its input is detached):
    W_hr still gets its gradient, but nothing before the projection does through h.

    Needs: proj_size > 0.
    """

    def project(self, h, w: Weights):
        return h if w.w_hr is None else h.detach() @ w.w_hr.T


@bug("packed-data-detached", first="test_gradients.py")
class PackedDataDetached(BaseLSTM):
    """A PackedSequence is padded from a copy of its data outside the graph (e.g. through
    NumPy): the packed input gets no gradient.

    Needs: PackedSequence input.
    """

    def unpack(self, packed: PackedSequence):
        detached = PackedSequence(packed.data.detach(), packed.batch_sizes,
                                  packed.sorted_indices, packed.unsorted_indices)
        return super().unpack(detached)


# ---------------------------------------------------------------------------------------
# Hand-written derivatives: exact forward, wrong backward
# ---------------------------------------------------------------------------------------

class _SigmoidTanhDerivative(torch.autograd.Function):
    """sigmoid, differentiated as if it were tanh: 1 - y^2 instead of y (1 - y)."""

    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(x)
        ctx.save_for_backward(y)
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        return grad * (1 - y * y)


@bug("sigmoid-derivative", first="test_gradients.py")
class SigmoidDerivative(BaseLSTM):
    """A hand-written sigmoid whose backward uses tanh's derivative (1 - y^2, not y (1 - y))
    for the i, f and o gates.

    Needs: any input.
    """

    def activate(self, i, f, g, o):
        s = _SigmoidTanhDerivative.apply
        return s(i), s(f), torch.tanh(g), s(o)


class _SigmoidSavedLowPrecision(torch.autograd.Function):
    """sigmoid whose activation is saved for backward in bfloat16 to save memory: the exact
    forward, a derivative y (1 - y) off by ~0.4% relative."""

    @staticmethod
    def forward(ctx, x):
        y = torch.sigmoid(x)
        ctx.save_for_backward(y.to(torch.bfloat16))
        return y

    @staticmethod
    def backward(ctx, grad):
        (y,) = ctx.saved_tensors
        y = y.to(grad.dtype)
        return grad * y * (1 - y)


@bug("saved-activations-bf16", first="test_gradients.py")
class SavedActivationsBfloat16(BaseLSTM):
    """Gate activations are saved for the backward pass in bfloat16 (activation compression):
    the forward is exact, every gradient is off by a few tenths of a percent.

    Needs: float32 or float64 (any input).
    """

    def activate(self, i, f, g, o):
        s = _SigmoidSavedLowPrecision.apply
        return s(i), s(f), torch.tanh(g), s(o)


class _CellOutputMissingTanhDerivative(torch.autograd.Function):
    """h = o * tanh(c), whose backward forgets tanh'(c): dc = dh * o instead of
    dh * o * (1 - tanh(c)^2)."""

    @staticmethod
    def forward(ctx, o, c):
        tanh_c = torch.tanh(c)
        ctx.save_for_backward(o, tanh_c)
        return o * tanh_c

    @staticmethod
    def backward(ctx, grad):
        o, tanh_c = ctx.saved_tensors
        return grad * tanh_c, grad * o


@bug("cell-output-derivative", first="test_gradients.py")
class CellOutputDerivative(BaseLSTM):
    """A hand-written h = o * tanh(c) whose backward omits the tanh'(c) factor towards c.

    Needs: any input.
    """

    def cell_output(self, o, c):
        return _CellOutputMissingTanhDerivative.apply(o, c)


class _CellUpdateForgetsF(torch.autograd.Function):
    """c = f * c_prev + i * g, whose backward passes dc to c_prev unscaled (forgets the f)."""

    @staticmethod
    def forward(ctx, c_prev, i, f, g):
        ctx.save_for_backward(c_prev, i, f, g)
        return f * c_prev + i * g

    @staticmethod
    def backward(ctx, grad):
        c_prev, i, f, g = ctx.saved_tensors
        return grad, grad * g, grad * c_prev, grad * i


@bug("cell-update-derivative", first="test_gradients.py")
class CellUpdateDerivative(BaseLSTM):
    """A hand-written c = f * c_prev + i * g whose backward gives c_prev the gradient dc
    instead of dc * f (BPTT through the cell state without the forget gate).

    Needs: seq_len >= 2, or hx given (the gradient of c0).
    """

    def cell_update(self, c, i, f, g):
        return _CellUpdateForgetsF.apply(c, i, f, g)


class _ScaledGradient(torch.autograd.Function):
    """Identity forward; backward multiplies the gradient by `factor`."""

    @staticmethod
    def forward(ctx, x, factor):
        ctx.factor = factor
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return grad * ctx.factor, None


@bug("w-hh-grad-scaled-1e-3", first="test_gradients.py")
class RecurrentWeightGradientScaled(BaseLSTM):
    """The gradient of W_hh is 0.1% too large (a hand-written backward whose accumulation of
    dW_hh over time steps is scaled by 1.001, e.g. a stale loss-scale factor): the forward is
    exact, every other gradient is right.

    Needs: backward, float32 or float64, seq_len >= 2 or hx given (W_hh gets a gradient).
    """

    def preactivation(self, x_t, h, w: Weights):
        return super().preactivation(x_t, h, w._replace(w_hh=_ScaledGradient.apply(w.w_hh, 1.001)))
