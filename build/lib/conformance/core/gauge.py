"""How much rounding error a correct candidate may show on one example (see tolerance.py).

Two gauges of the example's conditioning, both per result tensor, both in the candidate's
dtype (for float64, measured at float32 precision and scaled by eps(float64)/eps(float32),
since nn.LSTM in float64 *is* the truth):

- the reference error: nn.LSTM run in the dtype, against the float64 truth;
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

from collections.abc import Callable

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence

from conformance.model.cases import Case, CaseRecipe
from conformance.core.compare import tensors, unpack
from conformance.core.oracle import run_reference
from conformance.core.tolerance import Tolerance, eps, max_abs_diff, recurrence_depth, tolerance_for

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


def sensitivity(recipe: CaseRecipe, truth: tuple, results: Results = nn_lstm_results,
                moved: tuple | None = None) -> list[float]:
    """Per result tensor: max |results(perturbed_case) - truth|, scaled to the dtype
    (`moved`: those results, if already computed)."""
    _, scale = gauge_precision(recipe.spec.dtype)
    if moved is None:
        moved = results(perturbed_case(recipe))
    return [max_abs_diff(m, t) * scale for m, t in zip(moved, truth)]


def reference_errors(recipe: CaseRecipe, truth: tuple, results: Results = nn_lstm_results,
                     expected: tuple | None = None) -> list[float]:
    """Per result tensor: max |results in the dtype - truth| (`expected`: those results, if
    already computed), for float64 measured in float32 and scaled."""
    precision, scale = gauge_precision(recipe.spec.dtype)
    if expected is None or precision != recipe.spec.dtype:
        expected = results(recipe.build(dtype=precision))
    return [max_abs_diff(e, t) * scale for e, t in zip(expected, truth)]


def tolerances(recipe: CaseRecipe, truth: tuple | None = None, expected: tuple | None = None,
               results: Results = nn_lstm_results, num_layers: int | None = None,
               moved: tuple | None = None) -> list[Tolerance]:
    """Per result tensor, the tolerance a candidate gets on `recipe`.

    results: what to run (default nn.LSTM's output, h_n, c_n); num_layers: the layers those
    results pass through (default the spec's). Results already computed, as `results`
    returns them: truth, on the float64 cpu build; expected, in the recipe's dtype; moved, on
    `perturbed_case(recipe)`.
    """
    if truth is None:
        truth = results(recipe.build(dtype=torch.float64, device="cpu"))
    spec = recipe.spec
    depth = recurrence_depth(spec.replace(num_layers=num_layers or spec.num_layers),
                             recipe.seq_len)
    return [tolerance_for(spec.dtype, depth, r, s)
            for r, s in zip(reference_errors(recipe, truth, results, expected),
                            sensitivity(recipe, truth, results, moved))]
