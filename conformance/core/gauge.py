"""How much rounding error a correct candidate may show on one example (see tolerance.py).

Three gauges of the example's conditioning, all per result tensor, all in the candidate's
dtype (for float64, measured at float32 precision and scaled by eps(float64)/eps(float32),
since nn.LSTM in float64 *is* the truth):

- the reference error: nn.LSTM run in the dtype, against the float64 truth;
- the rounding error: the rounding model (rounding.py: every operation one ulp of the dtype
  off, random signs from the recipe's seed), against the truth;
- the sensitivity: the float64 truth of the same example with every parameter, input and
  initial-state value moved by one unit in the last place of the dtype (each up or down at
  random), against the truth. Rounding inside any implementation perturbs values by that
  much; this shows how far such perturbations carry on this example even where nn.LSTM's own
  rounding happened to be lucky. nn.LSTM's error alone (2.1e-7) once allowed 1.2e-5 where a
  correct float32 candidate was off by 1.5e-5 (three bidirectional layers, saturated gates;
  pins.ILL_CONDITIONED_FLOAT32); the output's sensitivity there is 7.5e-6, and with it the
  candidate uses 0.54 of the allowed error.

The direction of the perturbation comes from the recipe's seed: the same example always gets
the same tolerance.
"""
from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence

from conformance.model.cases import Case, CaseRecipe
from conformance.core.compare import tensors, unpack
from conformance.core.oracle import run_reference
from conformance.core import rounding, variance
from conformance.core.tolerance import (ARITHMETIC_ULPS, HALF_PRECISION_OP_ULPS, Tolerance,
                                        draw_gauge, eps, max_abs_diff, max_and_rms_diff,
                                        tolerance_for)

PERTURBATION_SEED = 0x5E75  # mixed with the recipe's seed

Results = Callable[[Case], tuple]  # a case -> its result tensors (e.g. output, h_n, c_n)


def nn_lstm_results(case: Case) -> tuple:
    """(output, h_n, c_n) of nn.LSTM on `case`, as tensors (packed output: its data)."""
    return tensors(unpack(run_reference(case)))


def gauge_precision(dtype: torch.dtype) -> tuple[torch.dtype, float]:
    """(dtype in which to gauge, factor that scales the gauge to `dtype`)."""
    if dtype == torch.float64:
        return torch.float32, eps(torch.float64) / eps(torch.float32)
    return dtype, 1.0


def perturbed(case: Case, relative: float, seed) -> Case:
    """`case` with every parameter, input and hx value multiplied by (1 +- relative), the
    sign drawn per element from `seed`."""
    rng = np.random.default_rng(seed)

    def move(t: torch.Tensor) -> torch.Tensor:
        signs = torch.from_numpy(rng.choice((-1.0, 1.0), size=tuple(t.shape)))
        return t * (1 + relative * signs.to(dtype=t.dtype, device=t.device))

    params = {name: move(p) for name, p in case.params.items()}
    lstm_input = case.input
    if isinstance(lstm_input, PackedSequence):
        lstm_input = lstm_input._replace(data=move(lstm_input.data))
    else:
        lstm_input = move(lstm_input)
    hx = None if case.hx is None else type(case.hx)(move(s) for s in case.hx)
    return Case(spec=case.spec, params=params, input=lstm_input, hx=hx, pass_hx=case.pass_hx)


def perturbation_seed(recipe: CaseRecipe) -> list[int]:
    return [recipe.seed, PERTURBATION_SEED]


def perturbed_case(recipe: CaseRecipe) -> Case:
    """The float64 cpu build of `recipe`, every value moved by one ulp of the gauge precision."""
    precision, _ = gauge_precision(recipe.spec.dtype)
    return perturbed(recipe.build(dtype=torch.float64, device="cpu"), eps(precision),
                     perturbation_seed(recipe))


def _errors(got: tuple, truth: tuple, scale: float, with_rms: bool) -> list:
    """Per tensor: max |got - truth| * scale, or (that, its root mean square * scale)."""
    if with_rms:
        return [max_and_rms_diff(g, t, scale) for g, t in zip(got, truth)]
    return [max_abs_diff(g, t) * scale for g, t in zip(got, truth)]


def sensitivity(recipe: CaseRecipe, truth: tuple, results: Results = nn_lstm_results,
                moved: tuple | None = None, with_rms: bool = False) -> list:
    """Per result tensor: max |results(perturbed_case) - truth|, scaled to the dtype
    (`moved`: those results, if already computed); with_rms: (max, root mean square)."""
    _, scale = gauge_precision(recipe.spec.dtype)
    if moved is None:
        moved = results(perturbed_case(recipe))
    return _errors(moved, truth, scale, with_rms)


def reference_errors(recipe: CaseRecipe, truth: tuple, results: Results = nn_lstm_results,
                     expected: tuple | None = None, with_rms: bool = False) -> list:
    """Per result tensor: max |results in the dtype - truth| (`expected`: those results, if
    already computed), for float64 measured in float32 and scaled; with_rms: (max, root mean
    square)."""
    precision, scale = gauge_precision(recipe.spec.dtype)
    if expected is None or precision != recipe.spec.dtype:
        expected = results(recipe.build(dtype=precision))
    return _errors(expected, truth, scale, with_rms)


def rounding_reference(recipe: CaseRecipe, training: bool = False):
    """The rounding model (rounding.py) at the gauge precision of `recipe`, seeded from the
    recipe: a function of a (float64) case with nn.LSTM's result format. training: nn.LSTM in
    training mode (only dropout 1 differs, and deterministically)."""
    precision, _ = gauge_precision(recipe.spec.dtype)
    seed = perturbation_seed(recipe)
    return lambda case: rounding.run(case, eps(precision), seed, training)


def model_results(recipe: CaseRecipe, training: bool = False) -> Results:
    """`rounding_reference` as a Results function (output, h_n, c_n)."""
    run = rounding_reference(recipe, training)
    return lambda case: tensors(unpack(run(case)))


# Samples of the model that gauge a tensor's root-mean-square error. A tensor's rounding error
# can rest on a few events that many elements share (errors of one layer's outputs, carried
# through the next layer's large weights into every element), so its root mean square varies
# from sample to sample as one number does, not as a mean of n independent errors; a
# candidate's error is one such draw. The propagated spread (variance.rms_error) treats the
# errors as independent and reads low there: on the float32 example where ONNX Runtime came
# closest (three bidirectional layers, saturating gates; pins.ORT_DEEP_SATURATED), it read
# 2.9e-7 where twelve samples read 2.2e-7 to 8e-7. The whole-tensor gauge is the largest of
# these samples (tolerance.draw_gauge).
MODEL_SAMPLES = 6


def arithmetic_ulps(recipe: CaseRecipe) -> float:
    """The model's ulps per arithmetic result in the forward check's whole-tensor gauge and
    in both of the gradient check's tests, on `recipe`: ARITHMETIC_ULPS in float32 and
    float64 on the cpu, else 1 (the half dtypes scale the forward model by
    HALF_PRECISION_OP_ULPS instead)."""
    spec = recipe.spec
    if spec.dtype in (torch.float32, torch.float64) and torch.device(spec.device).type == "cpu":
        return ARITHMETIC_ULPS
    return 1.0


class Draws(list):
    """Samples of the model, a list of (output, h_n, c_n), with `spread`: the model's
    root-mean-square error per element at the same ulps (variance.rms_error), or None. Where
    the samples round arithmetic below a full ulp (arithmetic_ulps), their own spread stands
    in for the full-ulp model's first sample and spread, which the element-wise gauge reads
    and which would otherwise set the whole-tensor gauge (gauge.tolerances)."""

    spread: tuple | None = None


def model_samples(recipe: CaseRecipe, training: bool = False) -> Callable:
    """MODEL_SAMPLES samples of the rounding model at the gauge precision of `recipe`, seeded
    from the recipe, in one run (rounding_numpy.results), its arithmetic results
    arithmetic_ulps(recipe) off: a function of a float64 case to Draws (with their spread
    where that is below one ulp)."""
    from conformance.core import rounding_numpy
    precision, _ = gauge_precision(recipe.spec.dtype)
    seed = [*perturbation_seed(recipe), MODEL_SAMPLES]
    arithmetic = arithmetic_ulps(recipe)

    def draw(case: Case) -> Draws:
        drawn = Draws(rounding_numpy.results(case, eps(precision), seed, training,
                                             samples=MODEL_SAMPLES, arithmetic=arithmetic))
        if arithmetic < 1:
            drawn.spread = variance.rms_error(case, eps(precision), training=training,
                                              arithmetic=arithmetic)
        return drawn

    return draw


def sampled_rms(recipe: CaseRecipe, truth: tuple, samples: Callable,
                case: Case | None = None) -> tuple[list[float], bool]:
    """(per result tensor: the largest root-mean-square error of the model's samples, or of
    their spread if larger, scaled to the dtype; whether the samples carried a spread).
    case: the float64 cpu build of `recipe`, if already made."""
    _, scale = gauge_precision(recipe.spec.dtype)
    if case is None:
        case = recipe.build(dtype=torch.float64, device="cpu")
    with torch.no_grad():
        drawn = samples(case)
    rms = [max(max_and_rms_diff(got[k], t, scale)[1] for got in drawn)
           for k, t in enumerate(truth)]
    spread = getattr(drawn, "spread", None)
    if spread is not None:
        rms = [max(r, s.square().mean().sqrt().item() * scale if s.numel() else 0.0)
               for r, s in zip(rms, spread)]
    return rms, spread is not None


def sample_rms(recipe: CaseRecipe, truth: tuple, samples: Callable,
               case: Case | None = None) -> list[float]:
    """Per result tensor: the largest root-mean-square error of the model's samples (or of
    the spread they carry, Draws), scaled to the dtype (sampled_rms)."""
    return sampled_rms(recipe, truth, samples, case)[0]


# Times the model's root-mean-square error (variance.rms_error): where a sample's few errors
# cancel, the gauge still reads about the size of its typical sample (two standard deviations).
SPREAD_MULTIPLE = 2.0


def model_spread(recipe: CaseRecipe, training: bool = False) -> Results:
    """The rounding model's root-mean-square error per element (variance.rms_error), at the gauge
    precision of `recipe`, as a Results function of a float64 case."""
    precision, _ = gauge_precision(recipe.spec.dtype)
    return lambda case: variance.rms_error(case, eps(precision), training=training)


def rounding_errors(recipe: CaseRecipe, truth: tuple, rounded: Results,
                    spread: Results | None = None, with_rms: bool = False,
                    case: Case | None = None) -> list:
    """Per result tensor: max |rounded(float64 build) - truth|, and at least SPREAD_MULTIPLE
    times the largest `spread` of the same build if given; scaled to the dtype. with_rms:
    (that, the root mean square of rounded - truth, and at least that of `spread`). case: the
    float64 cpu build of `recipe`, if already made."""
    _, scale = gauge_precision(recipe.spec.dtype)
    if case is None:
        case = recipe.build(dtype=torch.float64, device="cpu")
    with torch.no_grad():
        got = rounded(case)
        spreads = spread(case) if spread is not None else [None] * len(truth)
    errors = []
    for (error, rms_error), t, rms in zip(_errors(got, truth, 1.0, True), truth, spreads):
        if rms is not None and rms.numel():
            error = max(error, SPREAD_MULTIPLE * rms.max().item())
            rms_error = max(rms_error, rms.square().mean().sqrt().item())
        errors.append((error * scale, rms_error * scale) if with_rms else error * scale)
    return errors


DEFAULT = object()


def tolerances(recipe: CaseRecipe, truth: tuple | None = None, expected: tuple | None = None,
               results: Results = nn_lstm_results, num_layers: int | None = None,
               moved: tuple | None = None, rounded=DEFAULT, spread=DEFAULT, samples=DEFAULT
               ) -> list[Tolerance]:
    """Per result tensor, the tolerance a candidate gets on `recipe`.

    results: what to run (default nn.LSTM's output, h_n, c_n). rounded: the same computed by
    the rounding model, as a Results function (default: `model_results(recipe)` when
    `results` is the default, else None: no rounding gauge). Results already computed, as
    `results` returns them: truth, on the float64 cpu build; expected, in the recipe's dtype;
    moved, on `perturbed_case(recipe)`. spread: the model's root-mean-square error as a
    Results function (default: `model_spread(recipe)` where `rounded` defaults to the model).
    num_layers: unused (kept for old callers).

    samples: the model's samples as `model_samples` returns them (default: model_samples(recipe)
    where `rounded` defaults to the model).

    With the spread, each tolerance also gets a root-mean-square gauge (Tolerance.rms_allowed),
    a bound on one draw of the tensor's error (tolerance.draw_gauge): nn.LSTM's own and the
    sensitivity's root-mean-square errors times (1 + 3 / sqrt(n)), the model's largest sample's
    (MODEL_SAMPLES; its spread's if larger; on the cpu at HALF_PRECISION_OP_ULPS in float16 and
    bfloat16, with arithmetic results ARITHMETIC_ULPS off in float32 and float64) times
    (1 + FEW_ENTRIES_MARGIN / n), combined with nn.LSTM's own in float64.
    Without samples or spread (samples=None: the self-consistency checks, which compare
    element-wise only): no whole-tensor test.
    """
    if truth is None:
        truth = results(recipe.build(dtype=torch.float64, device="cpu"))
    if rounded is DEFAULT:
        rounded = model_results(recipe) if results is nn_lstm_results else None
        if spread is DEFAULT and rounded is not None:
            spread = model_spread(recipe)
        if samples is DEFAULT and rounded is not None:
            samples = model_samples(recipe)
    spread = None if spread is DEFAULT else spread
    samples = None if samples is DEFAULT or spread is None else samples
    case64 = recipe.build(dtype=torch.float64, device="cpu") if rounded is not None else None
    drawn, own_spread = (([None] * len(truth), False) if samples is None
                         else sampled_rms(recipe, truth, samples, case64))
    model = ([(0.0, 0.0)] * len(truth) if rounded is None
             else rounding_errors(recipe, truth, rounded, spread, with_rms=True, case=case64))
    references = reference_errors(recipe, truth, results, expected, with_rms=True)
    moved = sensitivity(recipe, truth, results, moved, with_rms=True)
    dtype = recipe.spec.dtype
    op_ulps = (HALF_PRECISION_OP_ULPS if dtype in (torch.float16, torch.bfloat16)
               and torch.device(recipe.spec.device).type == "cpu" else 1.0)
    tols = []
    for (r, r_rms), (s, s_rms), (m, m_rms), t, d_rms in zip(references, moved, model, truth,
                                                            drawn):
        # The model's: its samples' largest, or its first sample's or spread's (which cannot
        # cancel, pins.FEW_EQUAL_ERRORS) if larger; where the samples carry a spread of their
        # own (Draws: arithmetic below a full ulp), that stands in for the `rounded` model's.
        if d_rms is not None and not own_spread:
            d_rms = max(d_rms, m_rms)
        rms_gauge = (math.inf if d_rms is None
                     else draw_gauge(dtype, t.numel(), r_rms, s_rms, op_ulps * d_rms))
        tols.append(tolerance_for(recipe.spec.dtype, None, r, s, m, t, rms_gauge=rms_gauge,
                                  rms_entries_margin=False))
    return tols
