"""Realistic LSTM bugs, each a subclass of the correct `BaseLSTM` overriding one method.

Every bug is registered as candidate ``bug-<slug>`` through a module-level build function
``build_<slug>`` (so ``--impl tests.catalog.bugs:build_<slug>`` loads it) and listed in
`CATALOG`. Each docstring says what the mistake is, then, on a line starting ``Needs:``, the
minimal condition under which the result differs from nn.LSTM (or crashes, or has the wrong
type, shape or dtype).
"""
from __future__ import annotations


import torch
from torch import Tensor
from torch.nn.utils.rnn import PackedSequence


from .base import BaseLSTM, Weights
from .entry import Bug, bug_decorator


CATALOG: list[Bug] = []
bug = bug_decorator(globals(), CATALOG, "bug-", "build_")


def _low_precision(dtype) -> bool:
    return dtype in (torch.float16, torch.bfloat16)


# ---------------------------------------------------------------------------------------
# Gates: order, activations
# ---------------------------------------------------------------------------------------

@bug("gate-order-if")
class GateOrderIF(BaseLSTM):
    """Gate rows read as f, i, g, o (input and forget gates swapped).

    Needs: any input (i and f rows differ).
    """

    def split_gates(self, z):
        f, i, g, o = z.chunk(4, dim=-1)
        return i, f, g, o


@bug("gate-order-go")
class GateOrderGO(BaseLSTM):
    """Gate rows read as i, f, o, g (cell candidate and output gate swapped).

    Needs: any input.
    """

    def split_gates(self, z):
        i, f, o, g = z.chunk(4, dim=-1)
        return i, f, g, o


@bug("gate-order-onnx")
class GateOrderONNX(BaseLSTM):
    """Gate rows read in ONNX's LSTM order i, o, f, c (weights ported between frameworks).

    Needs: any input.
    """

    def split_gates(self, z):
        i, o, f, g = z.chunk(4, dim=-1)
        return i, f, g, o


@bug("gate-split-interleaved")
class GateSplitInterleaved(BaseLSTM):
    """Gates de-interleaved (z.view(N, H, 4)) as if rows were stored i0 f0 g0 o0 i1 ...,
    instead of four contiguous blocks.

    Needs: hidden_size >= 2 (with hidden_size 1 both layouts coincide).
    """

    def split_gates(self, z):
        return z.unflatten(-1, (-1, 4)).unbind(-1)


@bug("sigmoid-on-g")
class SigmoidOnG(BaseLSTM):
    """The cell candidate g gets a sigmoid like the other gates instead of tanh.

    Needs: any input.
    """

    def activate(self, i, f, g, o):
        return torch.sigmoid(i), torch.sigmoid(f), torch.sigmoid(g), torch.sigmoid(o)


@bug("g-not-squashed")
class GNotSquashed(BaseLSTM):
    """No tanh on the cell candidate: c = f*c + i*g with g the raw pre-activation.

    Needs: any input.
    """

    def activate(self, i, f, g, o):
        return torch.sigmoid(i), torch.sigmoid(f), g, torch.sigmoid(o)


@bug("hard-sigmoid")
class HardSigmoid(BaseLSTM):
    """Gates use Keras' hard_sigmoid clip(0.2 x + 0.5, 0, 1) (the old Keras default
    recurrent_activation) instead of the logistic sigmoid.

    Needs: any input.
    """

    def activate(self, i, f, g, o):
        hard = lambda z: (0.2 * z + 0.5).clamp(0.0, 1.0)  # noqa: E731
        return hard(i), hard(f), torch.tanh(g), hard(o)


@bug("forget-bias-one")
class ForgetBiasOne(BaseLSTM):
    """TensorFlow's forget_bias=1.0 added to the forget gate on top of the given biases.

    Needs: any input.
    """

    def activate(self, i, f, g, o):
        return super().activate(i, f + 1.0, g, o)


# ---------------------------------------------------------------------------------------
# Cell update and cell output
# ---------------------------------------------------------------------------------------

@bug("no-tanh-on-c")
class NoTanhOnC(BaseLSTM):
    """The hidden state is h = o * c: the tanh on the cell state is missing.

    Needs: any input.
    """

    def cell_output(self, o, c):
        return o * c


@bug("forget-inverted")
class ForgetInverted(BaseLSTM):
    """The forget gate used as a "drop" gate: c = (1 - f) * c + i * g.

    Needs: a nonzero cell state before some step: seq_len >= 2, or a nonzero c0.
    """

    def cell_update(self, c, i, f, g):
        return (1 - f) * c + i * g


@bug("coupled-input-gate")
class CoupledInputGate(BaseLSTM):
    """Input gate coupled to the forget gate (CIFG / GRU habit): c = f*c + (1 - f)*g,
    the computed i is ignored.

    Needs: any input.
    """

    def cell_update(self, c, i, f, g):
        return f * c + (1 - f) * g


@bug("input-gate-missing")
class InputGateMissing(BaseLSTM):
    """The input gate is not applied to the candidate: c = f*c + g.

    Needs: any input.
    """

    def cell_update(self, c, i, f, g):
        return f * c + g


@bug("c-not-carried")
class CNotCarried(BaseLSTM):
    """The loop carries h to the next step but not c: every step starts again from c0
    (and c_n is c0).

    Needs: any input (c_n is wrong after one step).
    """

    def advance(self, h, c, h_new, c_new, active):
        h, _ = super().advance(h, c, h_new, c_new, active)
        return h, c


@bug("h-from-previous-c")
class HFromPreviousC(BaseLSTM):
    """h is computed from the previous cell state: h = o * tanh(c_{t-1}) instead of c_t.

    Needs: any input.
    """

    def step(self, x_t, h, c, w: Weights):
        i, f, g, o = self.activate(*self.split_gates(self.preactivation(x_t, h, w)))
        h = self.cell_output(o, c)
        c = self.cell_update(c, i, f, g)
        return self.project(h, w), c


# ---------------------------------------------------------------------------------------
# Weights and biases
# ---------------------------------------------------------------------------------------

@bug("bias-hh-dropped")
class BiasHHDropped(BaseLSTM):
    """Only bias_ih is added; bias_hh is forgotten.

    Needs: bias=True.
    """

    def bias(self, w: Weights):
        return w.b_ih


@bug("bias-ih-twice")
class BiasIHTwice(BaseLSTM):
    """Copy-paste slip: b_ih + b_ih instead of b_ih + b_hh.

    Needs: bias=True.
    """

    def bias(self, w: Weights):
        return w.b_ih + w.b_ih


@bug("w-ih-view-not-transpose")
class WeightIHViewNotTranspose(BaseLSTM):
    """W_ih (4H, F) reshaped with .view(F, 4H) where a transpose was meant: the shape fits,
    the values are scrambled.

    Needs: input_size >= 2 (with input_size 1 view and transpose coincide).
    """

    def preactivation(self, x_t, h, w: Weights):
        z = x_t @ w.w_ih.view(w.w_ih.shape[1], -1) + h @ w.w_hh.T
        return z if w.b_ih is None else z + self.bias(w)


@bug("reverse-uses-forward-weights")
class ReverseUsesForwardWeights(BaseLSTM):
    """The parameter name suffix "_reverse" is forgotten: the reverse direction runs with the
    forward direction's parameters.

    Needs: bidirectional.
    """

    def weights(self, layer, direction):
        return super().weights(layer, 0)


@bug("w-hr-of-layer-0")
class WeightHROfLayer0(BaseLSTM):
    """Every layer projects with weight_hr_l0 (a hard-coded layer index).

    Needs: proj_size > 0 and num_layers >= 2.
    """

    def weights(self, layer, direction):
        return super().weights(layer, direction)._replace(
            w_hr=super().weights(0, direction).w_hr)


# ---------------------------------------------------------------------------------------
# Projection
# ---------------------------------------------------------------------------------------

@bug("projection-skipped")
class ProjectionSkipped(BaseLSTM):
    """weight_hr is never applied: h keeps hidden_size width (the recurrent matmul then
    fails against W_hh's proj_size columns).

    Needs: proj_size > 0.
    """

    def project(self, h, w: Weights):
        return h


@bug("zero-h0-hidden-width")
class ZeroH0HiddenWidth(BaseLSTM):
    """Without hx, h0 is made hidden_size wide like c0, ignoring proj_size.

    Needs: proj_size > 0 and no hx (omitted or None).
    """

    def zero_state(self, batch, like):
        _, c_shape = self.spec.state_shapes(batch)
        return like.new_zeros(c_shape), like.new_zeros(c_shape)


@bug("projection-before-output-gate")
class ProjectionBeforeOutputGate(BaseLSTM):
    """Projection applied to tanh(c) before multiplying by o: h = o * (tanh(c) W_hr^T).

    Needs: proj_size > 0 (shapes disagree unless proj_size == 1, which still fails later).
    """

    def step(self, x_t, h, c, w: Weights):
        i, f, g, o = self.activate(*self.split_gates(self.preactivation(x_t, h, w)))
        c = self.cell_update(c, i, f, g)
        return o * self.project(torch.tanh(c), w), c


# ---------------------------------------------------------------------------------------
# Initial state
# ---------------------------------------------------------------------------------------

@bug("hx-swapped")
class HxSwapped(BaseLSTM):
    """hx unpacked as (c0, h0) instead of (h0, c0).

    Needs: hx given with h0 != c0 (random hx).
    """

    def read_hx(self, hx):
        c0, h0 = hx
        return h0, c0


@bug("hx-batch-first")
class HxBatchFirst(BaseLSTM):
    """batch_first applied to hx as well: h0 and c0 transposed to (N, D*L, H), then indexed
    as if they were (D*L, N, H).

    Needs: batch_first and hx given (wrong shape or values unless D*L == N == 1).
    """

    def read_hx(self, hx):
        h0, c0 = hx
        if self.spec.batch_first:
            h0, c0 = h0.transpose(0, 1), c0.transpose(0, 1)
        return h0, c0


@bug("zero-state-float32")
class ZeroStateFloat32(BaseLSTM):
    """Without hx, the zero state is torch.zeros(shape) in the default dtype (float32),
    whatever the input dtype.

    Needs: no hx and a dtype other than float32.
    """

    def zero_state(self, batch, like):
        h_shape, c_shape = self.spec.state_shapes(batch)
        return torch.zeros(h_shape, device=like.device), torch.zeros(c_shape, device=like.device)


@bug("layers-share-hx")
class LayersShareHx(BaseLSTM):
    """Every layer starts from layer 0's initial state: h0[direction] instead of
    h0[layer*D + direction].

    Needs: num_layers >= 2 and a random hx.
    """

    def layer_hx(self, h0, c0, layer, direction):
        return h0[direction], c0[direction]


@bug("unbatched-hx-unsqueeze-0")
class UnbatchedHxUnsqueeze0(BaseLSTM):
    """An unbatched 2-D hx is given its batch dim in front: (1, D*L, H) instead of
    (D*L, 1, H).

    Needs: unbatched input, hx given, and num_layers * D >= 2.
    """

    def initial_state(self, hx, input, x):
        if hx is not None and isinstance(input, Tensor) and input.dim() == 2:
            h0, c0 = self.read_hx(hx)
            return h0.unsqueeze(0), c0.unsqueeze(0)
        return super().initial_state(hx, input, x)


# ---------------------------------------------------------------------------------------
# Layers and directions
# ---------------------------------------------------------------------------------------

@bug("state-index-direction-major")
class StateIndexDirectionMajor(BaseLSTM):
    """hx and h_n/c_n indexed direction-major, direction*L + layer, instead of
    layer*D + direction.

    Needs: bidirectional and num_layers >= 2.
    """

    def state_index(self, layer, direction):
        return direction * self.spec.num_layers + layer


@bug("layer-input-is-x")
class LayerInputIsX(BaseLSTM):
    """Every layer is fed the original input x instead of the previous layer's output.

    Needs: num_layers >= 2 (a shape error unless input_size == D * H_out).
    """

    def next_layer_input(self, outputs, x):
        return x


@bug("layer-input-forward-only")
class LayerInputForwardOnly(BaseLSTM):
    """The next layer gets only the forward direction's output, not both directions.

    Needs: bidirectional and num_layers >= 2.
    """

    def next_layer_input(self, outputs, x):
        return outputs[0]


@bug("directions-concatenated-reversed")
class DirectionsConcatenatedReversed(BaseLSTM):
    """Bidirectional outputs concatenated as [reverse, forward] instead of [forward, reverse].

    Needs: bidirectional.
    """

    def join_directions(self, outputs):
        return torch.cat(outputs[::-1], dim=-1)


@bug("reverse-output-not-flipped-back")
class ReverseOutputNotFlippedBack(BaseLSTM):
    """The reverse direction's outputs are left in processing order (last time step first)
    instead of being flipped back to input order.

    Needs: bidirectional and seq_len >= 2 (for packed input: a sequence of length >= 2).
    """

    def run_direction(self, x, lengths, h, c, w, reverse):
        out, h, c = super().run_direction(x, lengths, h, c, w, reverse)
        return (self.reverse_time(out, lengths) if reverse else out), h, c


@bug("reverse-h-n-at-last-step")
class ReverseHnAtLastStep(BaseLSTM):
    """h_n of every direction taken as its output at the last time step, output[T-1]: for
    the reverse direction that is its state after one step, not its final state (at t=0).

    Needs: bidirectional and seq_len >= 2.
    """

    def run_direction(self, x, lengths, h, c, w, reverse):
        out, h, c = super().run_direction(x, lengths, h, c, w, reverse)
        return out, (out[-1] if reverse else h), c


# ---------------------------------------------------------------------------------------
# Packed sequences
# ---------------------------------------------------------------------------------------

@bug("packed-h-n-last-row")
class PackedHnLastRow(BaseLSTM):
    """h_n taken as the last row of the padded output, output[T-1], ignoring each sequence's
    length (right for the longest sequences only).

    Needs: packed input with a sequence shorter than the longest.
    """

    def run_direction(self, x, lengths, h, c, w, reverse):
        out, h, c = super().run_direction(x, lengths, h, c, w, reverse)
        return out, (h if reverse else out[-1]), c


@bug("packed-no-masking")
class PackedNoMasking(BaseLSTM):
    """Packed input run through its padding: states keep changing after a sequence's end.

    Needs: packed input with a sequence shorter than the longest.
    """

    def advance(self, h, c, h_new, c_new, active):
        return h_new, c_new


@bug("packed-reverse-from-padded-end")
class PackedReverseFromPaddedEnd(BaseLSTM):
    """The reverse direction flips the whole padded tensor, so a shorter sequence starts at
    time T-1 (padding) instead of at its own last element.

    Needs: packed input, bidirectional, a sequence shorter than the longest.
    """

    def reverse_time(self, x, lengths):
        return x.flip(0)


@bug("packed-hx-not-sorted")
class PackedHxNotSorted(BaseLSTM):
    """hx is used in the user's batch order although the packed batch runs in sorted order
    (sorted_indices not applied to hx).

    Needs: packed input that is not already in sorted order, with a random hx.
    """

    def sort_state(self, h0, c0, packed):
        return h0, c0


@bug("packed-h-n-not-unsorted")
class PackedHnNotUnsorted(BaseLSTM):
    """h_n and c_n are returned in sorted order (unsorted_indices not applied).

    Needs: packed input that is not already in sorted order.
    """

    def unsort_state(self, h_n, c_n, packed):
        return h_n, c_n


@bug("packed-output-loses-indices")
class PackedOutputLosesIndices(BaseLSTM):
    """The output PackedSequence is rebuilt from data and batch_sizes only, dropping
    sorted_indices/unsorted_indices.

    Needs: packed input with enforce_sorted=False.
    """

    def pack(self, output, packed):
        return PackedSequence(super().pack(output, packed).data, packed.batch_sizes)


@bug("packed-output-not-repacked")
class PackedOutputNotRepacked(BaseLSTM):
    """For packed input the padded (T, N, D*H_out) tensor is returned instead of a
    PackedSequence.

    Needs: packed input.
    """

    def pack(self, output, packed):
        return output


@bug("padded-lengths-max")
class PaddedLengthsMax(BaseLSTM):
    """Padded input goes through the packed code path with every length T, and the number of
    steps is taken as lengths.max(), which raises on an empty batch.

    Needs: batch size N = 0.
    """

    def read_input(self, input):
        x, lengths = super().read_input(input)
        if lengths is None:
            lengths = torch.full((x.shape[1],), x.shape[0], device=x.device)
            x = x[: int(lengths.max())]
        return x, lengths


# ---------------------------------------------------------------------------------------
# Layouts: batch_first, unbatched
# ---------------------------------------------------------------------------------------

@bug("batch-first-output-not-transposed")
class BatchFirstOutputNotTransposed(BaseLSTM):
    """With batch_first the input is transposed to time-major but the output is returned
    time-major (L, N, D*H_out) instead of (N, L, D*H_out).

    Needs: batch_first with N != seq_len (values differ even when N == seq_len >= 2).
    """

    def restore_output(self, input, output):
        if isinstance(input, Tensor) and input.dim() == 3:
            return output
        return super().restore_output(input, output)


@bug("batch-first-on-unbatched")
class BatchFirstOnUnbatched(BaseLSTM):
    """batch_first applied to unbatched input too: (L, F) -> (1, L, F) read as a batch of L
    one-step sequences.

    Needs: unbatched input, batch_first, and seq_len >= 2.
    """

    def read_input(self, input):
        if isinstance(input, Tensor) and input.dim() == 2 and self.spec.batch_first:
            return input.unsqueeze(1).transpose(0, 1), None
        return super().read_input(input)


@bug("unbatched-as-batch")
class UnbatchedAsBatch(BaseLSTM):
    """Unbatched (L, F) input unsqueezed at dim 0, so it runs as one time step of a batch of L.

    Needs: unbatched input with seq_len >= 2.
    """

    def read_input(self, input):
        if isinstance(input, Tensor) and input.dim() == 2:
            return input.unsqueeze(0), None
        return super().read_input(input)


@bug("unbatched-keeps-batch-dim")
class UnbatchedKeepsBatchDim(BaseLSTM):
    """For unbatched input the batch dim of 1 is not removed from output, h_n and c_n.

    Needs: unbatched input.
    """

    def restore_output(self, input, output):
        return output if isinstance(input, Tensor) and input.dim() == 2 else \
            super().restore_output(input, output)

    def final_state(self, input, h_n, c_n):
        return (h_n, c_n) if isinstance(input, Tensor) and input.dim() == 2 else \
            super().final_state(input, h_n, c_n)


# ---------------------------------------------------------------------------------------
# Results: h_n/c_n, dtypes
# ---------------------------------------------------------------------------------------

@bug("c-n-is-h-n")
class CnIsHn(BaseLSTM):
    """Returns (output, (h_n, h_n)): c_n replaced by h_n.

    Needs: any input (a shape error with proj_size > 0).
    """

    def final_state(self, input, h_n, c_n):
        h_n, _ = super().final_state(input, h_n, c_n)
        return h_n, h_n


@bug("h-n-last-layer-only")
class HnLastLayerOnly(BaseLSTM):
    """h_n/c_n hold only the last layer's states, shape (D, N, H_out).

    Needs: num_layers >= 2.
    """

    def final_state(self, input, h_n, c_n):
        h_n, c_n = super().final_state(input, h_n, c_n)
        d = self.spec.num_directions
        return h_n[-d:], c_n[-d:]


@bug("h-n-directions-concatenated")
class HnDirectionsConcatenated(BaseLSTM):
    """Keras-style bidirectional h_n/c_n: the two directions concatenated along the
    feature dim, (L, N, 2*H_out), instead of stacked along dim 0.

    Needs: bidirectional.
    """

    def final_state(self, input, h_n, c_n):
        h_n, c_n = super().final_state(input, h_n, c_n)
        if self.spec.bidirectional:
            h_n = torch.cat([h_n[0::2], h_n[1::2]], dim=-1)
            c_n = torch.cat([c_n[0::2], c_n[1::2]], dim=-1)
        return h_n, c_n


def _to(value, dtype):
    if value is None:
        return None
    if isinstance(value, (tuple, list)):
        return type(value)(v.to(dtype) for v in value)
    return value.to(dtype)


@bug("low-precision-upcast")
class LowPrecisionUpcast(BaseLSTM):
    """float16/bfloat16 computed in float32 for accuracy, and the float32 results are
    returned without casting back.

    Needs: dtype float16 or bfloat16.
    """

    def forward(self, input, hx=None):
        if _low_precision(self.spec.dtype):
            self.params = {k: v.float() for k, v in self.params.items()}
            input, hx = _to(input, torch.float32), _to(hx, torch.float32)
        return super().forward(input, hx)


@bug("float64-in-float32")
class Float64InFloat32(BaseLSTM):
    """float64 computed internally in float32 (a fixed-dtype kernel), results cast back to
    float64: right dtype, float32 precision.

    Needs: dtype float64 (caught only by the float64 tolerance).
    """

    def forward(self, input, hx=None):
        if self.spec.dtype != torch.float64:
            return super().forward(input, hx)
        self.params = {k: v.float() for k, v in self.params.items()}
        output, (h_n, c_n) = super().forward(_to(input, torch.float32), _to(hx, torch.float32))
        return _to(output, torch.float64), (h_n.double(), c_n.double())


# ---------------------------------------------------------------------------------------
# At the edge: mistakes only a tolerance close to nn.LSTM's own rounding catches
# ---------------------------------------------------------------------------------------

@bug("bf16-forget-bias-shifted")
class BFloat16ForgetBiasShifted(BaseLSTM):
    """A bfloat16 kernel whose forget-gate bias is 0.05 too large (a bias folded in at the
    wrong place; the forget gate about 1% too open); every other dtype is right. The floor
    tolerance passed 0.3 (it allowed 0.75 + 0.75 |truth| in bfloat16 at depth 36), the
    element-wise test alone 0.1, the whole-tensor test with the rounding model at a full ulp
    0.06; nn.LSTM's own bfloat16 error is about 0.8% of the output.

    Needs: dtype bfloat16, biases, seq_len >= 2 or hx given (c carried through f).
    """

    def bias(self, w: Weights):
        b = w.b_ih + w.b_hh
        if self.spec.dtype != torch.bfloat16:
            return b
        h = b.shape[0] // 4
        return torch.cat([b[:h], b[h:2 * h] + 0.05, b[2 * h:]])


@bug("bf16-accumulation", first="test_dtypes_devices.py")
class BFloat16Accumulation(BaseLSTM):
    """A bfloat16 kernel whose gate matmuls accumulate in bfloat16, one product at a time,
    where every library accumulates in float32 and rounds the sum once (a hand-written inner
    loop with a bfloat16 accumulator; each product is rounded to bfloat16 too): the sum's
    rounding error grows with the number of terms, input_size + hidden_size. At 256 terms it
    is 3.5x the correct built-ins' error and 0.9x the whole-tensor allowance (not caught); at
    768 (pins.BFLOAT16_WIDE) 1.4x.

    Needs: dtype bfloat16, input_size + hidden_size of several hundred.
    """

    def preactivation(self, x_t, h, w: Weights):
        if self.spec.dtype != torch.bfloat16:
            return super().preactivation(x_t, h, w)
        terms = torch.cat([x_t, h], -1)
        weights = torch.cat([w.w_ih, w.w_hh], -1)
        acc = torch.zeros(x_t.shape[0], weights.shape[0], dtype=x_t.dtype, device=x_t.device)
        for k in range(weights.shape[1]):  # each partial sum rounded to bfloat16
            acc = acc + terms[:, k:k + 1] * weights[:, k]
        return acc if w.b_ih is None else acc + self.bias(w)


@bug("f16-gate-in-f32")
class Float16GateInFloat32(BaseLSTM):
    """A float32 candidate that computes the cell candidate tanh(g) in float16 (a half-precision
    activation kernel reused): about 3 significant digits lost on one gate, every step.

    Needs: dtype float32.
    """

    def activate(self, i, f, g, o):
        i, f, g_act, o = super().activate(i, f, g, o)
        if self.spec.dtype == torch.float32:
            g_act = torch.tanh(g.to(torch.float16)).to(torch.float32)
        return i, f, g_act, o


BY_NAME: dict[str, Bug] = {b.name: b for b in CATALOG}
