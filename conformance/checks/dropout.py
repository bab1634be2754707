"""Dropout (spec.dropout > 0): how a candidate learns the mode, and what is checked.

Training vs eval mode
---------------------
The mode is a property of the *forward object*, as for nn.Module: a candidate that claims
the "dropout" feature returns from `build` a forward object with `.train(mode=True)` and
`.eval()` (an nn.Module does), in eval mode when built. The suite calls `forward.eval()`
before an eval-mode check when the object has it, and `forward.train()` before a
training-mode check. A forward object without `train` cannot be put in training mode: the
training-mode checks fail with "declare dropout unsupported or give forward
.train()/.eval()". A candidate that declares "dropout" unsupported is never given dropout > 0.

What is checked
---------------
nn.LSTM applies dropout to the output of every layer but the last (in training mode only),
with a fresh mask per element, time step and sequence, keeping elements scaled by 1/(1-p).
Never to the input, the recurrent state h/c, h_n/c_n, or the last layer's output.

    check_dropout_eval        eval mode: dropout > 0 has no effect (compared with nn.LSTM in
                              eval mode, like the forward check), also after .train().eval()
    check_dropout_training    training mode. p = 1 drops every layer input after the first,
                              deterministically: compared with nn.LSTM in training mode, like
                              the forward check. 0 < p < 1: the first layer's h_n and c_n are
                              those of eval mode (no dropout on the input or the recurrent
                              state), the whole result is eval mode's with one layer, and the
                              last layer's output has no dropout zeros.
    check_dropout_statistics  training mode, 0 < p < 1, two layers: the second layer is
                              replaced by a probe whose output shows each of its input
                              elements, so that each is seen to be either dropped (0) or kept
                              and scaled by 1/(1-p), and the number dropped is tested against
                              Binomial(n, p) at a fixed false-alarm rate ALPHA.

Random masks are drawn under `torch.manual_seed(recipe.seed)` (in a forked RNG state), so a
failing example reproduces; nothing about the masks themselves is compared with nn.LSTM's.
"""
from __future__ import annotations

import contextlib
from dataclasses import replace
import math
import warnings

import torch

from conformance.model.cases import Case, CaseRecipe
from conformance.checks.forward import value_problems
from conformance.core.compare import structure_problems, tensors, unpack, value_problem
from conformance.checks.metamorphic import tolerances
from conformance.core.failures import as_problem
from conformance.core.invoke import Invocation, checker, describe_call
from conformance.core.oracle import reference_module, run_reference
from conformance.core import gauge
from conformance.core.tolerance import eps

ALPHA = 1e-6  # false-alarm rate of the binomial test on the number of dropped elements
PROBE_SATURATION = 20.0  # pre-activation that pins a probe gate at 0 or 1
NO_TRAIN = ("declare dropout unsupported or give forward .train()/.eval(): the suite puts "
            "the forward object in training mode with forward.train()")


@contextlib.contextmanager
def _quiet_and_seeded(seed: int):
    """nn.LSTM's warning about dropout with one layer off; torch's RNG seeded and restored."""
    with warnings.catch_warnings(), torch.random.fork_rng(devices=[]):
        warnings.filterwarnings("ignore", message="dropout option adds dropout")
        torch.manual_seed(seed % (2**63))
        yield


def set_training(runner: Invocation, forward, training: bool) -> None:
    """Put `forward` in training or eval mode (eval: only if it has .eval)."""
    runner.set_mode(forward, training)


def _needs_dropout(recipe: CaseRecipe, what: str) -> float:
    p = recipe.spec.dropout
    if not 0 < p <= 1:
        raise ValueError(f"{what} needs a recipe with 0 < spec.dropout <= 1")
    return p


def _run_reference_training(case):
    with torch.no_grad():
        return case.call(reference_module(case.spec, case.params).train())


def _prefixed(prefix: str, problems: list) -> list:
    return [as_problem(p).within(prefix) for p in problems]


def _in_eval_mode(problem):
    """A first-layer state that differs from eval mode's: dropout touched the recurrence."""
    return replace(problem, against="nn.LSTM in eval mode",
                   note="dropout must not touch the input or the recurrent state")


@checker
def check_dropout_eval(candidate, recipe: CaseRecipe) -> None:
    """In eval mode dropout > 0 changes nothing: the result equals nn.LSTM's in eval mode,
    after forward.eval(), and again after forward.train() then forward.eval()."""
    runner = Invocation(candidate, recipe, "check_dropout_eval", __name__)
    _needs_dropout(recipe, "check_dropout_eval")
    with _quiet_and_seeded(recipe.seed):
        case = recipe.build()
        expected = unpack(run_reference(case))
        truth = unpack(run_reference(recipe.build(dtype=torch.float64, device="cpu")))
        forward = runner.build(case.spec, case.params)
        set_training(runner, forward, False)
        modes = [("eval mode", forward)]
        if callable(getattr(forward, "train", None)):
            modes.append(("eval mode after .train() then .eval()", forward))
        for label, fwd in modes:
            if label != "eval mode":
                set_training(runner, fwd, True)
                set_training(runner, fwd, False)
            actual = runner.run_case(fwd, case, label)
            problems = structure_problems(actual, expected)
            if not problems:
                problems = value_problems(recipe, actual, expected, truth)
            runner.check(_prefixed(f"{label}, dropout={recipe.spec.dropout}", problems))


@checker
def check_dropout_training(candidate, recipe: CaseRecipe) -> None:
    """Training mode (forward.train()). p = 1: equal to nn.LSTM in training mode. 0 < p < 1:
    the first layer's h_n/c_n (and with one layer everything) equal eval mode's, and the last
    layer's output holds no dropout zeros."""
    runner = Invocation(candidate, recipe, "check_dropout_training", __name__)
    p = _needs_dropout(recipe, "check_dropout_training")
    spec = recipe.spec
    with _quiet_and_seeded(recipe.seed):
        case = recipe.build()
        forward = runner.build(case.spec, case.params)
        set_training(runner, forward, True)
        call = describe_call(case.input, case.hx, case.pass_hx)
        label = f"training mode, dropout={p}"
        actual = runner.run_case(forward, case, label)
        if p == 1 or spec.num_layers == 1:
            # Deterministic: every input of layers 2.. is zero (p = 1), or no dropout at all.
            expected = unpack(_run_reference_training(case))
            truth = unpack(_run_reference_training(
                recipe.build(dtype=torch.float64, device="cpu")))
            problems = structure_problems(actual, expected)
            if not problems:
                problems = value_problems(recipe, actual, expected, truth,
                                          reference=_run_reference_training,
                                          model=gauge.rounding_reference(recipe, training=True),
                                          spread=gauge.model_spread(recipe, training=True),
                                          samples=gauge.model_samples(recipe, training=True))
            runner.check(_prefixed(f"{label} (nn.LSTM in training mode is deterministic here)",
                                   problems))
            return

        expected = unpack(run_reference(case))  # eval mode
        problems = structure_problems(actual, expected)
        runner.check(_prefixed(label, problems))
        # Gauged on the whole h_n and c_n, element-wise only (metamorphic.tolerances): an
        # allowance for their largest error holds for any slice, their root mean square does
        # not (the first layer can be worse than the mean).
        tols = tolerances(recipe)
        truth = unpack(run_reference(recipe.build(dtype=torch.float64, device="cpu")))
        d = spec.num_directions
        for i, name in ((1, "h_n"), (2, "c_n")):
            line = value_problem(f"{name}[:{d}] (the first layer's final state)",
                                 actual[i][:d], expected[i][:d], truth[i][:d], tols[i])
            if line:
                problems.append(_in_eval_mode(line))
        if spec.bias or recipe.hx == "random":  # then no output is 0 but by dropout
            output = tensors(actual)[0]
            zeros = int((output == 0).sum())
            n = output.numel()
            if zeros >= max(3, math.ceil(p * n / 2)):
                problems.append(
                    f"output (the last layer's) has {zeros} of {n} elements exactly 0 in "
                    f"{call}; dropout (p={p}) is applied to the last layer's output, nn.LSTM "
                    "applies it only between layers")
        runner.check(_prefixed(label, problems))


# -- the probe: make the last layer's input visible --------------------------------------

def probe_params(spec, params: dict, p: float) -> dict:
    """`params` with layer 1 (the second and last) replaced by a probe.

    Each probe direction has hidden unit j read layer-1 output element j of its own half
    (forward: the first H elements, reverse: the last H): i and o pinned at 1, f at 0, and
    g = tanh((1-p) * z_j), so that h_t[j] = tanh(tanh((1-p) * z_t[j])) with no recurrence.
    A kept element z = y / (1-p) shows as tanh(tanh(y)), a dropped one as 0.
    """
    hidden, d = spec.hidden_size, spec.num_directions
    width = d * hidden
    new = dict(params)
    for k, suffix in enumerate(("", "_reverse")[:d]):
        ref = params[f"weight_ih_l1{suffix}"]
        w_ih = torch.zeros(4 * hidden, width, dtype=torch.float64)
        w_ih[2 * hidden:3 * hidden, k * hidden:(k + 1) * hidden] = \
            (1 - p) * torch.eye(hidden, dtype=torch.float64)
        b_ih = torch.zeros(4 * hidden, dtype=torch.float64)
        b_ih[:hidden] = PROBE_SATURATION
        b_ih[hidden:2 * hidden] = -PROBE_SATURATION
        b_ih[3 * hidden:] = PROBE_SATURATION
        new[f"weight_ih_l1{suffix}"] = w_ih.to(ref)
        new[f"weight_hh_l1{suffix}"] = torch.zeros_like(params[f"weight_hh_l1{suffix}"])
        new[f"bias_ih_l1{suffix}"] = b_ih.to(ref)
        new[f"bias_hh_l1{suffix}"] = torch.zeros_like(params[f"bias_hh_l1{suffix}"])
    return new


def _first_layer(case: Case, d: int, run=run_reference) -> tuple:
    """(output, h_n, c_n) of nn.LSTM's first layer alone on `case` (eval mode); a
    PackedSequence output as its data, whose elements are in the order of the full run's.
    `run`: how the one-layer case is run (default nn.LSTM; the gauge passes its model)."""
    spec = case.spec.replace(num_layers=1, dropout=0.0)
    layer0 = {k: v for k, v in case.params.items() if "_l0" in k}
    hx = None if case.hx is None else tuple(s[:d] for s in case.hx)
    one = Case(spec, layer0, case.input, hx, case.pass_hx)
    return tensors(unpack(run(one)))


def _first_layer_tolerances(recipe: CaseRecipe, case: Case, truth: tuple, d: int) -> list:
    """The forward check's tolerance for the first layer alone (see tolerance.py)."""
    model = gauge.rounding_reference(recipe)
    return gauge.tolerances(recipe, truth, _first_layer(case, d),
                            results=lambda c: _first_layer(c, d),
                            rounded=lambda c: _first_layer(c, d, model))


def binomial_two_sided(k: int, n: int, p: float) -> float:
    """Exact two-sided p-value of k successes in Binomial(n, p) (sum of outcomes no likelier)."""
    if n == 0:
        return 1.0
    log_pmf = [math.lgamma(n + 1) - math.lgamma(i + 1) - math.lgamma(n - i + 1)
               + (i * math.log(p) if i else 0.0) + ((n - i) * math.log1p(-p) if n - i else 0.0)
               for i in range(n + 1)]
    bound = log_pmf[k] + 1e-9
    return min(1.0, sum(math.exp(v) for v in log_pmf if v <= bound))


@checker
def check_dropout_statistics(candidate, recipe: CaseRecipe) -> None:
    """Training mode, 0 < p < 1, two layers with bias and no projection: with the second
    layer replaced by `probe_params`' probe, every input element of the second layer must
    read as dropped (0) or kept and scaled (y/(1-p), y the first layer's output), and the
    number dropped must be plausible under Binomial(n, p) (two-sided, false-alarm rate
    ALPHA). The first layer's h_n and c_n must equal eval mode's."""
    runner = Invocation(candidate, recipe, "check_dropout_statistics", __name__)
    spec = recipe.spec
    p = _needs_dropout(recipe, "check_dropout_statistics")
    if p >= 1 or spec.num_layers != 2 or not spec.bias or spec.proj_size:
        raise ValueError("check_dropout_statistics needs 0 < dropout < 1, num_layers=2, "
                         "bias=True and proj_size=0")
    d = spec.num_directions
    with _quiet_and_seeded(recipe.seed):
        case = recipe.build()
        params = probe_params(spec, case.params, p)
        forward = runner.build(case.spec, params)
        set_training(runner, forward, True)
        label = f"training mode, dropout={p}, second layer a probe"
        actual = runner.run_case(forward, case, label)

        # Layer 0 alone, in float64 on the dtype-rounded values: what the probe should see.
        y, h_true, c_true = _first_layer(recipe.build(dtype=torch.float64, device="cpu"), d)
        one_tols = _first_layer_tolerances(recipe, case, (y, h_true, c_true), d)
        expected = unpack(run_reference(Case(case.spec, params, case.input, case.hx,
                                             case.pass_hx)))
        problems = structure_problems(actual, expected)
        runner.check(_prefixed(label, problems))

        for i, (name, true) in enumerate((("h_n", h_true), ("c_n", c_true)), start=1):
            line = value_problem(f"{name}[:{d}] (the first layer's final state)",
                                 actual[i][:d], expected[i][:d], true, one_tols[i])
            if line:
                problems.append(_in_eval_mode(line))
        runner.check(_prefixed(label, problems))

        out = tensors(actual)[0].detach().to("cpu", torch.float64)
        if y.shape != out.shape:
            runner.fail([f"{label}: output has shape {tuple(out.shape)}, should be "
                         f"{tuple(y.shape)}"])
        keep_scale = 1 / (1 - p)
        kept = torch.tanh(torch.tanh(y))
        unscaled = torch.tanh(torch.tanh((1 - p) * y))
        y_allowed = one_tols[0].allowed(y)
        tol = 2 * y_allowed + 8 * eps(spec.dtype) * kept.abs() + 1e-6
        is_kept = (out - kept).abs() <= tol
        is_dropped = out.abs() <= tol
        clear = kept.abs() > 3 * tol  # kept and dropped cannot both match
        wrong = clear & ~is_kept & ~is_dropped
        if bool(wrong.any()):
            first = tuple(int(i) for i in torch.nonzero(wrong)[0])
            seen = math.atanh(max(-0.999999, min(0.999999, math.atanh(
                max(-0.999999, min(0.999999, out[first].item())))))) / (1 - p)
            hint = ""
            if abs(out[first].item() - unscaled[first].item()) <= tol[first].item():
                hint = " (it looks kept but not scaled by 1/(1-p))"
            problems.append(
                f"{label}: the second layer's input element {list(first)} reads "
                f"{seen:.5g}{hint}, should be 0 (dropped) or {y[first].item() * keep_scale:.5g}"
                f" = the first layer's output {y[first].item():.5g} / (1-p) (kept); "
                f"{int(wrong.sum())} of {int(clear.sum())} readable elements are neither "
                f"(probe output {out[first].item():.7g}, kept would read "
                f"{kept[first].item():.7g}, dropped 0, tolerance {tol[first].item():.3g})")
            runner.check(problems)
        n = int(clear.sum())
        dropped = int((clear & is_dropped).sum())
        p_value = binomial_two_sided(dropped, n, p)
        if p_value < ALPHA:
            problems.append(
                f"{label}: {dropped} of {n} readable input elements of the second layer "
                f"were dropped (fraction {dropped / n:.3f}), each should be with probability "
                f"p={p}: two-sided binomial p-value {p_value:.2g} < {ALPHA:g} "
                f"({describe_call(case.input, case.hx, case.pass_hx)})")
        runner.check(problems)
