"""Composition properties: a candidate against itself, split into simpler calls.

    check_stacking       num_layers=k equals k single-layer runs, each fed the previous
                         output and its own slice of hx
    check_unbatched      2-D input equals a batch of one
    check_packed_alone   each sequence of a PackedSequence equals it run alone, unpadded

Like the metamorphic checks (conformance.checks.metamorphic), nn.LSTM only sizes how far two
correct runs may be apart.
"""
from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_packed_sequence

from conformance.checks.metamorphic import (_direction_params, _padded, _slice_hx,
                                            self_problems, tolerances)
from conformance.core.invoke import Invocation, checker, describe_call, describe_value
from conformance.model.cases import CaseRecipe


# -- stacking -----------------------------------------------------------------------------

@checker
def check_stacking(candidate, recipe: CaseRecipe) -> None:
    """num_layers=k equals k one-layer runs: layer l gets layer l-1's output as input, the
    parameters `*_l{l}*` and hx rows l*D .. l*D+D-1; h_n and c_n stack the layers' own.

    Any input kind (a PackedSequence output is fed on as it is); runs in eval mode, so
    dropout has no effect.
    """
    runner = Invocation(candidate, recipe, "check_stacking", __name__)
    spec = recipe.spec
    if spec.num_layers < 2:
        raise ValueError("check_stacking needs num_layers >= 2")
    case = recipe.build()
    tols = tolerances(recipe)
    whole = runner.build(case.spec, case.params)
    got = runner.run_case(whole, case, "stacked")
    d = spec.num_directions
    x, h_n, c_n = case.input, [], []
    for layer in range(spec.num_layers):
        width = spec.input_size if layer == 0 else d * spec.output_size
        one = case.spec.replace(num_layers=1, input_size=width, dropout=0.0)
        params = {}
        for reverse in (False, True)[:d]:
            suffix = "_reverse" if reverse else ""
            params.update({name + suffix: value for name, value in
                           _direction_params(case.params, layer, reverse).items()})
        layer_forward = runner.build(one, params)
        x, h, c = runner.call(layer_forward, x, _slice_hx(case, layer * d, layer * d + d),
                              case.pass_hx, f"layer {layer} alone")
        h_n.append(h)
        c_n.append(c)
    try:
        want = (x, torch.cat(h_n), torch.cat(c_n))
    except Exception as exc:
        runner.fail([f"stacking: the layers' states {describe_value(h_n)} do not stack: {exc}"])
    how = f"(num_layers={spec.num_layers} in one call)"
    want_how = f"({spec.num_layers} one-layer calls, each fed the previous layer's output)"
    if recipe.packed:
        got = _padded(runner, "stacking", got, how)
        want = _padded(runner, "stacking", want, want_how)
    runner.check(self_problems("stacking", got, want, tols, how, want_how))


# -- unbatched ----------------------------------------------------------------------------

@checker
def check_unbatched(candidate, recipe: CaseRecipe) -> None:
    """Unbatched 2-D input (and 2-D hx) gives what the batch of one gives, squeezed."""
    runner = Invocation(candidate, recipe, "check_unbatched", __name__)
    if not recipe.unbatched:
        raise ValueError("check_unbatched needs an unbatched recipe (batch=None)")
    case = recipe.build()
    tols = tolerances(recipe)
    forward = runner.build(case.spec, case.params)
    got = runner.run_case(forward, case, "unbatched")
    batched_input = case.input.unsqueeze(0 if recipe.spec.batch_first else 1)
    hx = None if case.hx is None else tuple(s.unsqueeze(1) for s in case.hx)
    out, h, c = runner.call(forward, batched_input, hx, case.pass_hx, "a batch of one")
    try:
        want = (out.squeeze(0 if recipe.spec.batch_first else 1), h.squeeze(1), c.squeeze(1))
    except Exception as exc:
        runner.fail([f"unbatched: the batch of one's results {describe_value((out, h, c))} "
                     f"cannot be squeezed: {exc}"])
    runner.check(self_problems("unbatched", got, want, tols,
                               f"(unbatched {describe_call(case.input, case.hx, case.pass_hx)})",
                               f"({describe_call(batched_input, hx, case.pass_hx)}, squeezed)"))


# -- packed: each sequence alone ----------------------------------------------------------

@checker
def check_packed_alone(candidate, recipe: CaseRecipe) -> None:
    """Each sequence of a PackedSequence gives what it gives run alone as a padded batch of
    one of its own length (its outputs, h_n and c_n); padding positions are not compared."""
    runner = Invocation(candidate, recipe, "check_packed_alone", __name__)
    if not recipe.packed:
        raise ValueError("check_packed_alone needs a packed recipe (lengths=...)")
    case = recipe.build()
    tols = tolerances(recipe)
    forward = runner.build(case.spec, case.params)
    got_out, got_h, got_c = _padded(runner, "packed", runner.run_case(forward, case, "packed"),
                                    "(packed run)")
    padded, _ = pad_packed_sequence(case.input)
    problems = []
    for b, length in enumerate(recipe.lengths):
        x = padded[:length, b:b + 1]
        if recipe.spec.batch_first:
            x = x.transpose(0, 1).contiguous()
        hx = None if case.hx is None else tuple(s[:, b:b + 1] for s in case.hx)
        out, h, c = runner.call(forward, x, hx, case.pass_hx, f"sequence {b} alone")
        if recipe.spec.batch_first and isinstance(out, torch.Tensor) and out.dim() == 3:
            out = out.transpose(0, 1)
        try:
            got = (got_out[:length, b:b + 1], got_h[:, b:b + 1], got_c[:, b:b + 1])
        except Exception as exc:
            runner.fail([f"packed: results {describe_value((got_out, got_h, got_c))} have no "
                         f"sequence {b}: {exc}"])
        problems += self_problems(
            f"packed, sequence {b} (length {length})", got, (out, h, c), tols,
            "(in the packed batch)", f"(run alone: {describe_call(x, hx, case.pass_hx)})")
        if problems:
            break
    runner.check(problems)
