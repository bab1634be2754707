"""The rounding model's samples in the gradient check (gradients.py): how many, and the two
gauges read from them per gradient tensor (the element-wise one, and the whole-tensor one
with nn.LSTM's own error and the sensitivity, tolerance.draw_gauge)."""
from __future__ import annotations

from typing import TYPE_CHECKING

import torch

from conformance.model.cases import CaseRecipe
from conformance.core.gauge import SPREAD_MULTIPLE, gauge_precision
from conformance.core.tolerance import draw_gauge

if TYPE_CHECKING:
    from conformance.checks.gradients import GradientRun

# Samples of the rounding model's gradients. One sample can be lucky where a few errors of
# equal size cancel (pins.FEW_EQUAL_GRADIENT_ERRORS); the element-wise gauge is SPREAD_MULTIPLE
# times their root mean square per entry, or the largest sample if larger. A gradient's error
# also rests on few events that many entries share (dW = sum_t dz_t x_t^T: an error in one
# dz_t moves a whole row), so its root mean square over the tensor varies from sample to
# sample as one number does, not as a mean of n: twelve samples of d/d weight_ih_l1 (4232
# entries) read 2.5e-7 to 9.8e-7 on pins.FUSED_WEIGHT_GRADIENT. A candidate's error is one
# such draw, so the whole-tensor gauge is the largest sample's (tolerance.draw_gauge). Six:
# on the power examples six and twelve catch the same sizes, three 1.4x larger ones. Tiny
# examples (a model run costs about a millisecond) get twelve: three read 4.4x low on
# pins.FEW_ENTRIES_FLOAT32_GRADIENT (4 entries).
GRADIENT_SAMPLES = 6
SMALL_EXAMPLE_SAMPLES = 12
SMALL_EXAMPLE = 8  # hidden_size * batch at most this: a weight gradient of 4 H^2 entries


def gradient_samples(recipe: CaseRecipe) -> int:
    """How many samples of the rounding model gauge the gradients of `recipe`."""
    small = recipe.spec.hidden_size * max(1, recipe.batch or 1) <= SMALL_EXAMPLE
    return SMALL_EXAMPLE_SAMPLES if small else GRADIENT_SAMPLES


def gradient_rounding_errors(recipe: CaseRecipe, truth: GradientRun, *models: GradientRun,
                             with_rms: bool = False) -> dict:
    """Per gradient: the larger of max |a sample's gradient - float64 gradient| and
    SPREAD_MULTIPLE x max of the samples' root-mean-square error per entry, scaled to the
    dtype; with_rms: (that, the largest of the samples' root-mean-square errors over the
    tensor)."""
    _, scale = gauge_precision(recipe.spec.dtype)
    errors = {}
    for label, true in truth.grads.items():
        grads = [m.grads.get(label) for m in models]
        if true is None or any(g is None for g in grads) or true.numel() == 0:
            errors[label] = (0.0, 0.0) if with_rms else 0.0
            continue
        true64 = true.to("cpu", torch.float64)
        deviations = torch.stack([g.detach().to("cpu", torch.float64) - true64 for g in grads])
        squares = deviations.square()
        error = max(deviations.abs().max().item(),
                    SPREAD_MULTIPLE * squares.mean(0).sqrt().max().item()) * scale
        # The largest sample's root mean square (see GRADIENT_SAMPLES).
        rms_error = squares.flatten(1).mean(1).sqrt().max().item()
        errors[label] = (error, rms_error * scale) if with_rms else error
    return errors


def rms_gauges(recipe: CaseRecipe, truth: dict, reference: dict, sensitivities: dict,
               rounding: dict) -> dict[str, float]:
    """Per gradient: the whole-tensor gauge (tolerance.draw_gauge) of the (max, rms) gauges:
    nn.LSTM's own, the sensitivity, the model's largest sample. truth: the float64 grads."""
    return {label: draw_gauge(recipe.spec.dtype, 0 if truth.get(label) is None
                              else truth[label].numel(), reference[label][1],
                              sensitivities[label][1], rounding[label][1])
            for label in reference}


def maxima(gauge: dict) -> dict[str, float]:
    """Per gradient: the element-wise gauge of a with_rms gauge's (max, rms) pairs."""
    return {label: pair[0] for label, pair in gauge.items()}
