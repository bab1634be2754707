"""How far a candidate may be from the float64 truth: gauged on the example, not tuned per test.

A correct implementation in a dtype differs from the float64 truth by its rounding errors,
carried through the recurrence. How far they carry depends on the example (long sequences,
saturated gates, large weights, cancellation), so the allowance is measured on the example
itself, per result tensor, by three gauges (gauge.py), each an independent sample of the error
a correct implementation makes there:

- reference_error: nn.LSTM run in the dtype, against the truth (one sample of real rounding;
  it can be lucky);
- rounding_error: the rounding model (rounding.py), nn.LSTM op by op in float64 with every
  operation's result, forward and backward, one ulp of the dtype off with random signs;
- sensitivity: the truth of the example with every input, hx and parameter value moved by one
  ulp (random signs), against the truth.

    allowed(element) = MULTIPLE * max(reference_error, rounding_error, sensitivity)
                       + VALUE_ULPS * eps(dtype) * |truth(element)|

The second term is the half ulp by which even a correctly rounded result in the dtype differs
from the truth; it matters only where every gauge reads (almost) 0. The allowance is capped
at CAP_FRACTION (half) of the tensor's largest |truth|: an allowance the size of the values
checks nothing, and on examples past the dtype's resolution (a bfloat16 stack of saturated
layers where one-ulp perturbations move the outputs by 30%) the gauges, which are
deliberately pessimistic samples, would reach it; correct implementations stay far below
(at most 22% of the largest value on 4,000 tensors of the suite's random examples, all
built-ins, all dtypes). The cap never goes below MULTIPLE times nn.LSTM's own error: a nightly
run found a float16 h_n of -2.9e-8, in the subnormal range, which nn.LSTM itself returns as
-6e-8 (pins.FLOAT16_SUBNORMAL). Nothing grows with depth
or with the dtype beyond what the example itself shows. For float64, where nn.LSTM *is* the
truth, the gauges are measured at float32 precision and scaled by eps(float64)/eps(float32).

A second test holds the whole tensor to the gauges' root-mean-square errors:

    rms(candidate - truth) <= RMS_MULTIPLE * rms_gauge (gradients: GRADIENT_RMS_MULTIPLE)
                              + VALUE_ULPS * eps(dtype) * rms(truth)

rms_gauge (draw_gauge) bounds one draw of a tensor's error: nn.LSTM's own and the sensitivity's
root-mean-square errors, each one draw of n errors, times (1 + 3 / sqrt(n)); the rounding
model's largest of several samples (gauge.MODEL_SAMPLES, gradient_samples.GRADIENT_SAMPLES; in
the forward check its propagated spread if larger, read on the cpu at HALF_PRECISION_OP_ULPS in
float16 and bfloat16; with arithmetic results ARITHMETIC_ULPS off in float32 and float64),
times (1 + FEW_ENTRIES_MARGIN / n); in float64 combined with the truth's own rounding
(rms_gauge_of). A tensor's error can rest on a few events that many elements share, so its root
mean square varies from sample to sample as one number does: the samples show how far, where a
propagated variance or a factor for n independent errors would not. The element-wise allowance
has to cover the largest of many rounding errors, so it sits at twice a deliberately
pessimistic gauge; a systematic error (a weight, a bias, a gate) that stays below it on every
element still moves most of them, and their root mean square, which rounding keeps within its
gauge on every example, shows it. That test is what brings the smallest error caught near
nn.LSTM's own (README, "Detection power").
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

# Times the largest gauge, in the forward check. Correct implementations (the built-ins, ONNX
# Runtime, Keras) used at most 0.70 of the allowance at 2 (Keras, float64) on sweeps of
# 5,400-10,000 examples each (README, "False alarms": the closest calls).
MULTIPLE = 2.0
# The gradient check's: its rounding gauge is a few samples of the model (gradients.py), not
# propagated variances, and three read 3x below 24 samples' (a float64 d/d weight_hh of 440
# entries); at 2, lstmcell-loop used 0.94 of the allowance there, at 3 that is 0.63.
GRADIENT_MULTIPLE = 3.0
# Times the largest root-mean-square gauge, in the forward check's second test: the
# root-mean-square error over a whole tensor (see rms_allowed). Set from the built-ins', ONNX
# Runtime's and Keras' largest ratio on the sweeps (README, "False alarms").
RMS_MULTIPLE = 1.0
# The gradient check's. Its gauge bounds one draw (draw_gauge: the largest of several model
# samples, gradient_samples.GRADIENT_SAMPLES): fused-torch's float32 d/d weight_ih_l1 on
# pins.FUSED_WEIGHT_GRADIENT uses 0.68 of it at 1 (0.55 at 1.25), where three samples'
# pooled root mean square had it at 1.00. But on some examples the model is no more
# pessimistic than real backward passes (float32, bidirectional, saturating gates, inputs of
# scale 3: nn.LSTM's d/d weight_ih_l0 2.8e-6, the model's six samples 2.1e-6 to 3.2e-6), and
# there a correct candidate's draw can exceed the largest of six: a sweep found fused-torch
# at 0.92 of the allowance at 1 (4,074 examples). 1.25 leaves it at 0.73.
GRADIENT_RMS_MULTIPLE = 1.25
# The rounding model's ulps per operation, in the forward check's whole-tensor gauge, in
# float16 and bfloat16. The model puts a full ulp on every operation because float32 libraries'
# vectorized exp, tanh and sigmoid and their accumulation order are off by up to about that;
# in the half dtypes every library computes an operation in float32 and rounds it once to the
# dtype (CPU kernels upcast, matmuls accumulate in float32), which is off by at most half an
# ulp. The element-wise test keeps the full ulp: it bounds the largest of many errors, where a
# fused kernel's float32 intermediates can line up (fused-torch's bfloat16 forward at 0.65 of
# it). Sweeps at a full ulp: correct libraries used at most 0.39 of the whole-tensor allowance
# in bfloat16 and 0.34 in float16; at half an ulp, 0.58 and 0.65 on 76,370 examples of every
# built-in and adapter (README, "False alarms"). On the cpu only: the sweeps ran there, and a
# GPU kernel may use approximate half-precision activations (cuda and mps keep the full ulp
# until a sweep on such a device shows the room).
HALF_PRECISION_OP_ULPS = 0.5
# The rounding model's ulps per arithmetic result (a sum, a product, a matrix product's sum
# rounded to the dtype), in the forward check's whole-tensor gauge, in float32 and float64 on
# the cpu. Every library rounds those correctly (IEEE: at most half an ulp off); only its
# vectorized exp, tanh and sigmoid are off by up to a full ulp, and the model keeps that on
# every activation (and the accumulation error of long sums as it is). The whole-tensor gauge
# is the model's on nine tensors of ten (the power examples) and falls by a median 16% in
# float32 and 13% in float64; the forward check's element-wise test keeps the full ulp, as in
# the half dtypes (HALF_PRECISION_OP_ULPS). The gradient check reads its model samples at
# ARITHMETIC_ULPS in both tests (one set of samples; its element-wise multiple is 3, and
# correct candidates used at most about half of that allowance on the sweeps). cuda and mps
# keep the full ulp (no sweep ran there).
ARITHMETIC_ULPS = 0.5
VALUE_ULPS = 0.5  # of |truth| per element: the final rounding of a value to the dtype
CAP_FRACTION = 0.5  # of the tensor's largest |truth|: the most any check allows


@dataclass(frozen=True)
class Tolerance:
    reference_error: float  # max |nn.LSTM(dtype) - truth| over the tensor
    floor: float  # VALUE_ULPS * eps(dtype): relative to |truth| per element
    sensitivity: float = 0.0  # max |truth(perturbed by one ulp) - truth| over the tensor
    rounding_error: float = 0.0  # max |rounding model - truth| over the tensor
    cap: float = math.inf  # CAP_FRACTION * max |truth| over the tensor
    # The gauges reach the cap: the tensor is past the dtype's resolution, so only errors
    # beyond `multiple` times the gauges (larger than the values) can be told from rounding.
    unresolved: bool = False
    multiple: float = MULTIPLE  # of the check (the gradient check: GRADIENT_MULTIPLE)
    # The whole-tensor gauge (draw_gauge): from the gauges' root-mean-square errors over the
    # tensor; inf: no such test.
    rms_gauge: float = math.inf
    rms_multiple: float = RMS_MULTIPLE  # of the check (the gradient check: GRADIENT_RMS_MULTIPLE)
    # Whether rms_allowed adds the (1 + 3 / sqrt(n)) by which a root mean square of n
    # independent errors can exceed its gauge; False where the gauge already bounds one draw
    # (draw_gauge: both checks' whole-tensor tests).
    rms_entries_margin: bool = True

    def rms_allowed(self, truth: torch.Tensor) -> float:
        """Allowed root-mean-square |candidate - truth| over the whole tensor (inf: not
        tested).

        Rounding errors are many small independent errors: their root mean square over a
        tensor varies far less from example to example than their largest value, so it can be
        held to a far smaller multiple of its gauge, while an error in what is computed (a
        weight, a bias, a gate) moves most elements at once. Few elements give the root mean
        square the spread of a maximum, hence the (1 + 3 / sqrt(n)), unless the gauge
        already bounds one draw (rms_entries_margin False). Not tested where the
        tensor is unresolved, or where the allowance would reach CAP_FRACTION of the values'
        own root mean square (it would check nothing)."""
        n = truth.numel()
        if self.unresolved or not math.isfinite(self.rms_gauge) or n == 0:
            return math.inf
        values = truth.detach().to(torch.float64).square().mean().sqrt().item()
        margin = 1 + 3 / math.sqrt(n) if self.rms_entries_margin else 1.0
        allowed = self.rms_multiple * margin * self.rms_gauge + self.floor * values
        return allowed if allowed < CAP_FRACTION * values else math.inf

    @property
    def gauge(self) -> float:
        """The largest of the three gauges."""
        return max(self.reference_error, self.rounding_error, self.sensitivity)

    def allowed(self, truth: torch.Tensor) -> torch.Tensor:
        """Allowed |candidate - truth| per element."""
        return self.uncapped(truth).clamp_max(self.cap)

    def uncapped(self, truth: torch.Tensor) -> torch.Tensor:
        """What the gauges allow per element before the cap: the cap is a safety net, and
        tests/test_tolerance_bounds.py asserts that this stays below the values as well."""
        return self.multiple * self.gauge + self.floor * truth.abs()


def eps(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps


def recurrence_depth(spec, seq_len: int) -> int:
    """Sequential roundings a value can accumulate: steps times layers (descriptive only; the
    tolerance does not use it)."""
    return max(1, seq_len) * spec.num_layers


def rms_gauge_of(dtype: torch.dtype, reference_rms: float, *other_rms: float) -> float:
    """The whole-tensor gauge: the largest of the gauges' root-mean-square errors, nn.LSTM's
    own (`reference_rms`, for float64 measured in float32 and scaled) first.

    In float64 the truth is nn.LSTM in float64, itself rounded, so a candidate's difference
    from it holds two implementations' rounding, whose root mean squares add as variances: the
    candidate's, which the gauges bound, and the truth's, which nn.LSTM's own gauge measures.
    (Not the largest gauge twice: the model and the sensitivity are pessimistic on purpose,
    3-6x nn.LSTM's own error, and the truth's rounding is nn.LSTM's.)"""
    gauge = max((reference_rms, *other_rms))
    if dtype == torch.float64:
        return math.hypot(gauge, reference_rms)
    return gauge


# Where a tensor has few elements, one draw's root mean square is nearly a single |error|,
# whose spread a few samples of the model cannot bound (a draw exceeds all of k samples one
# time in k + 1, and correct candidates come within 0.75 of the model): their largest is taken
# times (1 + FEW_ENTRIES_MARGIN / n), 3x at n = 1, 1.25x at 8, 1.04x at 50. From a few dozen
# elements on it fades: a draw's own spread (about 0.7 / sqrt(n)) is then far inside the room
# correct candidates leave. A false-alarm sweep found Keras' float32 at 0.75 of the largest
# sample alone on tensors of 2 and 6 elements (two layers of hidden size 1); 3 instead of 2
# would cost the float32 forget-bias row 8.5x -> 10x of nn.LSTM's own error.
FEW_ENTRIES_MARGIN = 2.0


def draw_gauge(dtype: torch.dtype, n: int, reference_rms: float, sensitivity_rms: float,
               model_rms: float) -> float:
    """The whole-tensor gauge of a tensor of n elements, as a bound on one draw (used with
    Tolerance.rms_entries_margin False): nn.LSTM's own root-mean-square error and the
    sensitivity's, each one draw of n errors, times (1 + 3 / sqrt(n)); the rounding model's
    largest sample's times (1 + FEW_ENTRIES_MARGIN / n); in float64 combined with nn.LSTM's
    own (see rms_gauge_of)."""
    n = max(1, n)
    entries = 1 + 3 / math.sqrt(n)
    return rms_gauge_of(dtype, entries * reference_rms, entries * sensitivity_rms,
                        (1 + FEW_ENTRIES_MARGIN / n) * model_rms)


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.numel() == 0:
        return 0.0
    return (a.detach().to("cpu", torch.float64) - b.to(torch.float64)).abs().max().item()


def rms_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    """Root mean square of a - b (0 for empty tensors)."""
    if a.numel() == 0:
        return 0.0
    return (a.detach().to("cpu", torch.float64) - b.to(torch.float64)).square().mean().sqrt().item()


def max_and_rms_diff(a: torch.Tensor, b: torch.Tensor, scale: float = 1.0) -> tuple:
    """(max |a - b|, root mean square of a - b), both times `scale`: a gauge's two readings."""
    return max_abs_diff(a, b) * scale, rms_diff(a, b) * scale


def cap_of(truth: torch.Tensor | None, dtype) -> float:
    """CAP_FRACTION of the tensor's largest |value|; inf without a truth, or where every value
    is below one ulp of 1 in the dtype (below the resolution of the gate values of order 1 it
    is made of: a fused float16 kernel returns 0 for a true 2.4e-6, pins.FLOAT16_TINY)."""
    if truth is None or truth.numel() == 0:
        return math.inf
    largest = truth.detach().abs().max().item()
    if largest < eps(dtype):
        return math.inf
    return CAP_FRACTION * largest


def tolerance_for(dtype, depth: int | None = None, reference_error: float = 0.0,
                  sensitivity: float = 0.0, rounding_error: float = 0.0,
                  truth: torch.Tensor | None = None, uncap_unresolved: bool = False,
                  multiple: float = MULTIPLE, rms_gauge: float = math.inf,
                  rms_multiple: float = RMS_MULTIPLE, rms_entries_margin: bool = True
                  ) -> Tolerance:
    """The tolerance from the gauges, capped at CAP_FRACTION of max |truth| when `truth` (the
    whole tensor checked) is given, but never below MULTIPLE times nn.LSTM's own error (in
    float16, values in the subnormal range are off by 100% in nn.LSTM itself).

    multiple: MULTIPLE, or the check's own (GRADIENT_MULTIPLE). uncap_unresolved: where
    `multiple` times the largest gauge reaches the cap, drop the cap (and mark the tolerance
    `unresolved`): the gauges say a correct implementation cannot resolve the tensor in this
    dtype. The gradient check needs it (see gradients.py); in the
    forward check correct implementations stay below the cap even there. `depth` is
    accepted for old callers and unused. rms_gauge: the whole-tensor gauge (draw_gauge or
    rms_gauge_of; inf, the default: no root-mean-square test); rms_multiple: RMS_MULTIPLE, or
    the check's own; rms_entries_margin: see Tolerance."""
    cap = max(cap_of(truth, dtype), multiple * reference_error)
    unresolved = multiple * max(reference_error, sensitivity, rounding_error) >= cap
    if uncap_unresolved and unresolved:
        cap = math.inf
    return Tolerance(reference_error, VALUE_ULPS * eps(dtype), sensitivity, rounding_error,
                     cap, unresolved, multiple, rms_gauge, rms_multiple, rms_entries_margin)
