"""How far a candidate may be from the float64 truth: derived, not tuned per test.

The reference nn.LSTM, run in the candidate's dtype, is itself off from the float64 truth by
some amount that already reflects this example's conditioning (long sequences, saturated
gates, large weights amplify rounding). A correct candidate in the same dtype rounds
differently but no worse, so it may be off by a small multiple of the reference's own error.
That error is one sample and can be lucky, so the example's sensitivity (how far the truth
moves when every input and parameter moves by one unit in the last place; gauge.py) is
allowed too, plus a floor of a few units in the last place relative to the value's magnitude.

For float64 the reference *is* the truth (its own error reads 0), so the conditioning is
measured in float32 and scaled down by eps(float64)/eps(float32).
"""
from __future__ import annotations

import math
from dataclasses import dataclass

import torch

REFERENCE_MULTIPLE = 8.0  # times the reference's own error in this dtype
SENSITIVITY_MULTIPLE = 2.0  # times the truth's movement under one-ulp perturbations
FLOOR_ULPS = 16.0  # units of eps, times sqrt(recurrence depth), relative to 1 + |value|


@dataclass(frozen=True)
class Tolerance:
    reference_error: float  # max |nn.LSTM(dtype) - truth| over the tensor
    floor: float  # FLOOR_ULPS * eps * sqrt(depth)
    sensitivity: float = 0.0  # max |truth(perturbed by one ulp) - truth| over the tensor

    def allowed(self, truth: torch.Tensor) -> torch.Tensor:
        """Allowed |candidate - truth| per element."""
        return (REFERENCE_MULTIPLE * self.reference_error + SENSITIVITY_MULTIPLE * self.sensitivity
                + self.floor * (1 + truth.abs()))


def eps(dtype: torch.dtype) -> float:
    return torch.finfo(dtype).eps


def recurrence_depth(spec, seq_len: int) -> int:
    """Sequential roundings a value can accumulate: steps times layers."""
    return max(1, seq_len) * spec.num_layers


def max_abs_diff(a: torch.Tensor, b: torch.Tensor) -> float:
    if a.numel() == 0:
        return 0.0
    return (a.detach().to("cpu", torch.float64) - b.to(torch.float64)).abs().max().item()


def tolerance_for(dtype, depth: int, reference_error: float, sensitivity: float = 0.0
                  ) -> Tolerance:
    return Tolerance(reference_error, FLOOR_ULPS * eps(dtype) * math.sqrt(depth), sensitivity)
