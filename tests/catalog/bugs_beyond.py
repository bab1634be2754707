"""Bugs for the families beyond the forward check: invalid input, dropout, metamorphic
properties (in-place mutation, determinism).

The base here, `ValidatingLSTM`, is the catalog's correct `BaseLSTM` plus the input checks
nn.LSTM makes (BaseLSTM itself validates nothing). Each bug is a subclass that changes one
method, registered as candidate ``bug-<slug>`` through the module-level build function
``build_<slug>`` (``--impl tests.catalog.bugs_beyond:build_<slug>``) and listed in `CATALOG`
(entries like `bugs.CATALOG`'s). Each docstring says what the mistake is and, on its
``Needs:`` line, the minimal condition that exposes it.

Two correct controls are registered too (not in CATALOG): ``beyond-control``
(`ValidatingLSTM`) and ``nn-lstm-wrapper`` (torch.nn.LSTM itself behind the candidate
contract).
"""
from __future__ import annotations


import torch
from torch import Tensor
from torch.nn import functional as F
from torch.nn.utils.rnn import PackedSequence

import conformance

from .base import BaseLSTM
from .entry import Bug, bug_decorator


CATALOG: list[Bug] = []
bug = bug_decorator(globals(), CATALOG, "bug-", "build_")


# ---------------------------------------------------------------------------------------
# The correct base: BaseLSTM plus nn.LSTM's input validation
# ---------------------------------------------------------------------------------------

class ValidatingLSTM(BaseLSTM):
    """BaseLSTM that rejects what nn.LSTM rejects (messages in nn.LSTM's words)."""

    def forward(self, input, hx=None):
        self.validate(input, hx)
        return super().forward(input, hx)

    def validate(self, input, hx):
        self.check_input(input)
        self.check_length(input)
        if hx is not None:
            self.check_hx(input, hx)

    def check_input(self, input):
        weight = self.params["weight_ih_l0"]
        if isinstance(input, PackedSequence):
            data = input.data
        elif isinstance(input, Tensor):
            if input.dim() not in (2, 3):
                raise ValueError(f"LSTM: Expected input to be 2D or 3D, got {input.dim()}D "
                                 "instead")
            data = input
        else:
            raise TypeError(f"input must be a Tensor or PackedSequence, got {type(input)}")
        if data.dtype != weight.dtype:
            raise ValueError(f"RNN input dtype ({data.dtype}) does not match weight dtype "
                             f"({weight.dtype})")
        self.check_features(data)

    def check_features(self, data):
        if data.shape[-1] != self.spec.input_size:
            raise RuntimeError(f"input.size(-1) must be equal to input_size. Expected "
                               f"{self.spec.input_size}, got {data.shape[-1]}")

    def check_length(self, input):
        if isinstance(input, Tensor) and self.steps(input) == 0:
            raise RuntimeError("Expected sequence length to be larger than 0 in RNN")

    def steps(self, input: Tensor) -> int:
        return input.shape[1 if (self.spec.batch_first and input.dim() == 3) else 0]

    def batch_of(self, input) -> int | None:
        if isinstance(input, PackedSequence):
            return int(input.batch_sizes[0])
        if input.dim() == 2:
            return None
        return input.shape[0 if self.spec.batch_first else 1]

    def check_hx(self, input, hx):
        if not isinstance(hx, (tuple, list)) or len(hx) != 2 or \
                not all(isinstance(s, Tensor) for s in hx):
            raise RuntimeError("LSTM expects hx as a tuple (h_0, c_0) of two tensors")
        batch = self.batch_of(input)
        want_dims = 2 if batch is None else 3
        if hx[0].dim() != want_dims or hx[1].dim() != want_dims:
            raise RuntimeError(f"hx and cx should be {want_dims}-D, got ({hx[0].dim()}-D, "
                               f"{hx[1].dim()}-D)")
        h_shape, c_shape = self.spec.state_shapes(batch)
        self.check_state_shape(0, hx[0], h_shape)
        self.check_state_shape(1, hx[1], c_shape)

    def check_state_shape(self, index: int, state: Tensor, shape):
        if tuple(state.shape) != tuple(shape):
            raise RuntimeError(f"Expected hidden[{index}] size {tuple(shape)}, got "
                               f"{list(state.shape)}")


@conformance.register("beyond-control")
def build_control(spec, params):
    """Correct: BaseLSTM with nn.LSTM's input validation."""
    return ValidatingLSTM(spec, params)


class TorchLSTM(torch.nn.Module):
    """torch.nn.LSTM behind the candidate contract (a correct control)."""

    def __init__(self, spec, params):
        super().__init__()
        self.lstm = torch.nn.LSTM(**spec.lstm_kwargs())
        with torch.no_grad():
            for name, value in params.items():
                getattr(self.lstm, name).copy_(value)
        self.eval()

    def forward(self, input, hx=None):
        return self.lstm(input, hx)


@conformance.register("nn-lstm-wrapper")
def build_nn_lstm(spec, params):
    """Correct: torch.nn.LSTM itself."""
    return TorchLSTM(spec, params)


def _dropout_output(output, p: float):
    if isinstance(output, PackedSequence):
        return PackedSequence(F.dropout(output.data, p, True), output.batch_sizes,
                              output.sorted_indices, output.unsorted_indices)
    return F.dropout(output, p, True)


# ---------------------------------------------------------------------------------------
# Dropout
# ---------------------------------------------------------------------------------------

@bug("dropout-in-eval-mode", first="test_dropout.py")
class DropoutInEvalMode(ValidatingLSTM):
    """Dropout between layers whatever the mode (F.dropout(x, p) defaults to training=True).

    Needs: dropout > 0 and num_layers >= 2, in eval mode.
    """

    def next_layer_input(self, outputs, x):
        return F.dropout(self.join_directions(outputs), self.spec.dropout)


@bug("dropout-ignored-in-training", first="test_dropout.py")
class DropoutIgnoredInTraining(ValidatingLSTM):
    """No dropout in either mode (F.dropout(x, p, training=False) hard-coded): training runs
    compute eval mode's result.

    Needs: dropout > 0, num_layers >= 2, training mode (p = 1 shows it deterministically).
    """

    def next_layer_input(self, outputs, x):
        return self.join_directions(outputs)


@bug("dropout-on-last-layer-output", first="test_dropout.py")
class DropoutOnLastLayerOutput(ValidatingLSTM):
    """In training mode dropout is also applied to the last layer's output.

    Needs: dropout > 0, training mode (one layer is enough).
    """

    def forward(self, input, hx=None):
        output, state = super().forward(input, hx)
        if self.training and self.spec.dropout > 0:
            output = _dropout_output(output, self.spec.dropout)
        return output, state


@bug("dropout-on-recurrent-state", first="test_dropout.py")
class DropoutOnRecurrentState(ValidatingLSTM):
    """In training mode dropout is applied to h before each recurrent step (every layer).

    Needs: dropout > 0, training mode, seq_len >= 2 or a nonzero h0.
    """

    def step(self, x_t, h, c, w):
        if self.training:
            h = F.dropout(h, self.spec.dropout, True)
        return super().step(x_t, h, c, w)


@bug("dropout-on-input", first="test_dropout.py")
class DropoutOnInput(ValidatingLSTM):
    """In training mode dropout is applied to the input of the first layer too.

    Needs: dropout > 0, training mode.
    """

    def run_layers(self, x, lengths, h0, c0):
        if self.training:
            x = F.dropout(x, self.spec.dropout, True)
        return super().run_layers(x, lengths, h0, c0)


@bug("dropout-not-rescaled", first="test_dropout.py")
class DropoutNotRescaled(ValidatingLSTM):
    """Dropout between layers zeroes elements but does not scale the kept ones by 1/(1-p).

    Needs: 0 < dropout < 1, num_layers >= 2, training mode.
    """

    def next_layer_input(self, outputs, x):
        joined = self.join_directions(outputs)
        if not self.training or self.spec.dropout == 0:
            return joined
        keep = torch.empty_like(joined).bernoulli_(1 - self.spec.dropout)
        return joined * keep


@bug("dropout-keep-probability", first="test_dropout.py")
class DropoutKeepProbability(ValidatingLSTM):
    """dropout read as the probability of keeping an element (F.dropout(x, 1 - p)).

    Needs: dropout != 0.5, num_layers >= 2, training mode (p = 1 then drops nothing).
    """

    def next_layer_input(self, outputs, x):
        return F.dropout(self.join_directions(outputs), 1 - self.spec.dropout, self.training)


# ---------------------------------------------------------------------------------------
# Invalid input accepted
# ---------------------------------------------------------------------------------------

@bug("hx-wider-sliced", first="test_invalid_input.py")
class HxWiderSliced(ValidatingLSTM):
    """An hx wider than expected is silently cut to size (h0[..., :H_out], c0[..., :H]).

    Needs: hx given whose h0 or c0 is wider than it should be.
    """

    def check_state_shape(self, index, state, shape):
        super().check_state_shape(index, state[..., :shape[-1]], shape)

    def read_hx(self, hx):
        h0, c0 = hx
        return h0[..., :self.spec.output_size], c0[..., :self.spec.hidden_size]


@bug("hx-batch-broadcast", first="test_invalid_input.py")
class HxBatchBroadcast(ValidatingLSTM):
    """An hx for one sequence is broadcast over the whole batch instead of rejected.

    Needs: batched input of N >= 2 sequences with hx for 1 sequence.
    """

    def check_state_shape(self, index, state, shape):
        if state.dim() == 3 and state.shape[1] == 1:
            state = state.expand(state.shape[0], shape[1], state.shape[2])
        super().check_state_shape(index, state, shape)

    def initial_state(self, hx, input, x):
        if hx is not None and hx[0].dim() == 3:
            hx = tuple(s.expand(s.shape[0], x.shape[1], s.shape[2]) for s in hx)
        return super().initial_state(hx, input, x)


@bug("hx-extra-layers-ignored", first="test_invalid_input.py")
class HxExtraLayersIgnored(ValidatingLSTM):
    """hx with more layer*direction rows than D*num_layers is used, its extra rows ignored.

    Needs: hx given with more than D*num_layers rows.
    """

    def check_state_shape(self, index, state, shape):
        super().check_state_shape(index, state[:shape[0]], shape)


@bug("hx-stacked-tensor-accepted", first="test_invalid_input.py")
class HxStackedTensorAccepted(ValidatingLSTM):
    """hx given as one tensor is unpacked along its first dimension (h0, c0 = hx).

    Needs: hx as one stacked tensor torch.stack((h0, c0)) of batched input (no projection).
    """

    def check_hx(self, input, hx):
        if isinstance(hx, Tensor):
            hx = tuple(hx)
        super().check_hx(input, hx)


@bug("input-features-truncated", first="test_invalid_input.py")
class InputFeaturesTruncated(ValidatingLSTM):
    """Input with more features than input_size is truncated to its first input_size.

    Needs: input of feature size > input_size.
    """

    def check_features(self, data):
        super().check_features(data[..., :self.spec.input_size])

    def read_input(self, input):
        x, lengths = super().read_input(input)
        return x[..., :self.spec.input_size], lengths


@bug("empty-sequence-accepted", first="test_invalid_input.py")
class EmptySequenceAccepted(ValidatingLSTM):
    """A sequence of length 0 returns an empty output and the initial state.

    Needs: input with T = 0.
    """

    def check_length(self, input):
        pass

    def forward(self, input, hx=None):
        if isinstance(input, Tensor) and input.dim() in (2, 3) and self.steps(input) == 0:
            self.validate(input, hx)
            x, _ = self.read_input(input)
            h0, c0 = self.initial_state(hx, input, x)
            width = self.spec.num_directions * self.spec.output_size
            output = x.new_zeros(0, x.shape[1], width)
            return self.restore_output(input, output), self.final_state(input, h0, c0)
        return super().forward(input, hx)


@bug("remembers-rejected-hx", first="test_invalid_input.py")
class RemembersRejectedHx(ValidatingLSTM):
    """The last hx given is kept as the default initial state, and kept before it is checked:
    after a call with an invalid hx, calls without hx start from that hx (and fail).

    Needs: a call with an invalid hx, then a call without hx on the same forward object.
    """

    def forward(self, input, hx=None):
        if hx is not None:
            self.default_hx = hx
        elif getattr(self, "default_hx", None) is not None:
            hx = self.default_hx
        return super().forward(input, hx)


# ---------------------------------------------------------------------------------------
# Mutation and determinism
# ---------------------------------------------------------------------------------------

@bug("input-transposed-in-place", first="test_metamorphic.py")
class InputTransposedInPlace(ValidatingLSTM):
    """batch_first input is made time-major with input.transpose_(0, 1): the caller's tensor
    is left transposed.

    Needs: batch_first=True with 3-D input.
    """

    def read_input(self, input):
        if isinstance(input, Tensor) and input.dim() == 3 and self.spec.batch_first:
            return input.transpose_(0, 1), None
        return super().read_input(input)


@bug("hx-overwritten-with-final-state", first="test_metamorphic.py")
class HxOverwrittenWithFinalState(ValidatingLSTM):
    """The final state is written into the caller's h0 and c0 (hx used as output buffers).

    Needs: hx given.
    """

    def forward(self, input, hx=None):
        output, (h_n, c_n) = super().forward(input, hx)
        if hx is not None:
            hx[0].copy_(h_n)
            hx[1].copy_(c_n)
        return output, (h_n, c_n)


@bug("biases-folded-in-place", first="test_metamorphic.py")
class BiasesFoldedInPlace(ValidatingLSTM):
    """build folds b_hh into b_ih in place (bias_ih.add_(bias_hh)) and uses b_ih alone: the
    results are right, the caller's bias_ih is not.

    Needs: bias=True.
    """

    def __init__(self, spec, params):
        super().__init__(spec, params)
        for name in [n for n in params if n.startswith("bias_ih")]:
            params[name].add_(params[name.replace("bias_ih", "bias_hh")])

    def bias(self, w):
        return w.b_ih


@bug("nondeterministic-last-bit", first="test_metamorphic.py")
class NondeterministicLastBit(ValidatingLSTM):
    """A random half of the outputs is off by one unit in the last place (like a reduction
    whose order depends on thread timing): within tolerance, but not repeatable.

    Needs: any example on the cpu, called twice.
    """

    def forward(self, input, hx=None):
        output, (h_n, c_n) = super().forward(input, hx)
        if isinstance(output, PackedSequence):
            return PackedSequence(self.jitter(output.data), output.batch_sizes,
                                  output.sorted_indices, output.unsorted_indices), (h_n, c_n)
        return self.jitter(output), (h_n, c_n)

    @staticmethod
    def jitter(t: Tensor) -> Tensor:
        flip = torch.rand(t.shape, device=t.device) < 0.5
        return torch.where(flip, torch.nextafter(t, torch.full_like(t, float("inf"))), t)
