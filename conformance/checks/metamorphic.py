"""Metamorphic properties: a candidate checked against *itself*.

Each check runs the candidate twice or more on inputs that nn.LSTM's semantics tie together
(one sequence in chunks and in one go, a batch and its permutation, ...) and compares the
runs. A failure here localizes a bug (the streaming check fails, the permutation check does
not: the state carried between steps is wrong, not the batch handling), and the checks work
for a candidate that is not bit-compatible with nn.LSTM. nn.LSTM is used only to gauge how
far apart two correct runs may be (twice the forward check's tolerance for the recipe).

    check_streaming          running the sequence in 2-3 chunks, carrying (h_n, c_n), equals
                             one run (unidirectional, padded or unbatched input)
    check_batch_permutation  permuting the batch permutes output, h_n and c_n the same way
    check_batch_first        batch_first=True on (N, L, H) equals batch_first=False on the
                             transposed (L, N, H); unbatched and packed input ignore the flag
    check_bidirectional      one bidirectional layer equals a forward run concatenated with a
                             run of the reverse weights on the time-flipped input, flipped back

(Composing and splitting runs: conformance.checks.composition; no mutation and determinism:
conformance.checks.integrity.)

Every check takes (candidate, recipe) and raises `ConformanceFailure` with the usual message
and a reproduction snippet naming the check.
"""
from __future__ import annotations

from dataclasses import replace

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from conformance.core import gauge
from conformance.core.compare import TENSOR_NAMES, deviation
from conformance.core.failures import Problem
from conformance.core.invoke import Invocation, checker, describe_value
from conformance.core.tolerance import Tolerance
from conformance.model.cases import Case, CaseRecipe

# Of the forward tolerance (MULTIPLE = 2 times the largest gauge of one correct run's error,
# tolerance.py): two runs of one candidate err independently where their layouts differ
# (streamed in chunks, permuted, composed), so they can differ by up to the sum of two runs'
# errors. 1.5 keeps the allowance these checks had, and were validated at, before MULTIPLE
# went from 3 to 2 (3 gauges).
SELF_MULTIPLE = 1.5


# -- shared helpers (also used by the composition, invalid-input and dropout families) --

def tolerances(recipe: CaseRecipe) -> list[Tolerance]:
    """The forward check's element-wise tolerance for output, h_n and c_n of `recipe` (see
    tolerance.py), without the whole-tensor test: the self-consistency checks compare
    element-wise only, so the model's samples, which only that test reads, are not drawn."""
    return gauge.tolerances(recipe, samples=None)


def self_problem(label: str, name: str, got, want, tol: Tolerance, got_how: str,
                 want_how: str) -> Problem | str | None:
    """A problem if two runs of the candidate differ by more than two correct runs could."""
    if isinstance(got, PackedSequence) and isinstance(want, PackedSequence):
        for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
            g, w = getattr(got, field), getattr(want, field)
            g, w = (None if g is None else g.tolist()), (None if w is None else w.tolist())
            if g != w:
                return (f"{label}: {name}.{field} is {g} {got_how}, should be {w} {want_how}")
        got, want = got.data, want.data
    if not isinstance(got, torch.Tensor) or not isinstance(want, torch.Tensor):
        return (f"{label}: {name} is {describe_value(got)} {got_how}, should be "
                f"{describe_value(want)} {want_how}")
    if got.shape != want.shape:
        return (f"{label}: {name} has shape {tuple(got.shape)} {got_how}, should be "
                f"{tuple(want.shape)} {want_how}")
    want64 = want.detach().to("cpu", torch.float64)
    found = deviation(name, got, want64, SELF_MULTIPLE * tol.allowed(want64), nan_equal=True)
    if found is None:
        return None
    return replace(found, against=f"the candidate's own result {want_how}", text=(
        f"{label}: {name}{list(found.index)} is {found.got:.7g} {got_how}, should be "
        f"{found.truth:.7g} {want_how}; error {found.error:.3g} > allowed {found.allowed:.3g}; "
        f"{found.bad} of {found.total} elements differ, max abs error {found.max_abs:.3g}"))


def self_problems(label: str, got: tuple, want: tuple, tols: list[Tolerance], got_how: str,
                  want_how: str) -> list[str]:
    """`self_problem` for each of output, h_n and c_n."""
    lines = (self_problem(label, name, g, w, tol, got_how, want_how)
             for name, g, w, tol in zip(TENSOR_NAMES, got, want, tols))
    return [line for line in lines if line]


def _time_dim(recipe: CaseRecipe) -> int:
    return 1 if (recipe.spec.batch_first and not recipe.unbatched) else 0


def _batch_dim(recipe: CaseRecipe) -> int:
    return 0 if recipe.spec.batch_first else 1


def _rng(recipe: CaseRecipe, salt: int) -> np.random.Generator:
    """Choices a check makes (cut points, permutations) follow from the recipe alone."""
    return np.random.default_rng([recipe.seed, salt])


def _padded(runner: Invocation, label: str, result: tuple, what: str) -> tuple:
    """(output, h_n, c_n) with a PackedSequence output padded (time-major, user order)."""
    output = result[0]
    if not isinstance(output, PackedSequence):
        runner.fail([f"{label}: output is {describe_value(output)} {what}, should be a "
                     "PackedSequence (the input was packed)"])
    try:
        padded, _ = pad_packed_sequence(output)
    except Exception as exc:
        runner.fail([f"{label}: the PackedSequence output {what} cannot be unpacked: "
                     f"{type(exc).__name__}: {exc}"])
    return (padded, result[1], result[2])


def _slice_hx(case: Case, start: int, stop: int):
    """Rows start:stop (layer*D + direction) of h0 and c0, as a tuple; None without hx."""
    if case.hx is None:
        return None
    h0, c0 = case.hx
    return (h0[start:stop], c0[start:stop])


# -- streaming ----------------------------------------------------------------------------

@checker
def check_streaming(candidate, recipe: CaseRecipe) -> None:
    """Running the sequence in 2-3 chunks, passing each chunk's (h_n, c_n) as the next
    chunk's hx, gives the same output (concatenated over time), h_n and c_n as one run.

    Unidirectional, padded or unbatched input, seq_len >= 2 (a bidirectional run cannot be
    cut: the reverse direction starts at the end).
    """
    runner = Invocation(candidate, recipe, "check_streaming", __name__)
    spec = recipe.spec
    if spec.bidirectional or recipe.packed or recipe.seq_len < 2:
        raise ValueError("check_streaming needs a unidirectional recipe with padded or "
                         "unbatched input and seq_len >= 2")
    case = recipe.build()
    tols = tolerances(recipe)
    forward = runner.build(case.spec, case.params)
    whole = runner.run_case(forward, case, "streaming (one run)")

    rng = _rng(recipe, 1)
    n_cuts = 1 if recipe.seq_len == 2 else int(rng.integers(1, 3))
    cuts = sorted(int(c) for c in rng.choice(np.arange(1, recipe.seq_len), n_cuts,
                                             replace=False))
    bounds = list(zip([0, *cuts], [*cuts, recipe.seq_len]))
    how = "running steps " + " then ".join(f"[{a}:{b}]" for a, b in bounds) + \
        " carrying (h_n, c_n)"
    dim = _time_dim(recipe)
    outputs, hx, pass_hx = [], case.hx, case.pass_hx
    for a, b in bounds:
        chunk = case.input.narrow(dim, a, b - a)
        out, h_n, c_n = runner.call(forward, chunk, hx, pass_hx, f"streaming, steps [{a}:{b}]")
        outputs.append(out)
        hx, pass_hx = (h_n, c_n), True
    try:
        output = torch.cat(outputs, dim)
    except Exception as exc:
        runner.fail([f"streaming: the chunks' outputs {describe_value(outputs)} do not "
                     f"concatenate over time: {exc}"])
    runner.check(self_problems("streaming", (output, hx[0], hx[1]), whole, tols,
                               f"({how})", f"(one run over all {recipe.seq_len} steps)"))


# -- batch permutation --------------------------------------------------------------------

def _permutation(recipe: CaseRecipe, n: int) -> list[int]:
    perm = [int(i) for i in _rng(recipe, 2).permutation(n)]
    if n >= 2 and perm == sorted(perm):
        perm = perm[1:] + perm[:1]
    return perm


@checker
def check_batch_permutation(candidate, recipe: CaseRecipe) -> None:
    """Permuting the sequences of a batch permutes output, h_n and c_n the same way.

    Padded or packed input (for packed input the lengths are permuted with the sequences and
    the outputs are compared padded).
    """
    runner = Invocation(candidate, recipe, "check_batch_permutation", __name__)
    if recipe.unbatched:
        raise ValueError("check_batch_permutation needs batched input")
    case = recipe.build()
    tols = tolerances(recipe)
    forward = runner.build(case.spec, case.params)
    perm = _permutation(recipe, recipe.batch)
    index = torch.tensor(perm, device=case.spec.device)
    how = f"(the batch permuted by {perm})"

    hx = None if case.hx is None else tuple(s.index_select(1, index) for s in case.hx)
    if recipe.packed:
        padded, lengths = pad_packed_sequence(case.input)
        permuted_input = pack_padded_sequence(padded.index_select(1, index),
                                              lengths.index_select(0, index.cpu()),
                                              enforce_sorted=False)
        got = _padded(runner, "batch permutation",
                      runner.call(forward, permuted_input, hx, case.pass_hx,
                                  "batch permutation"), how)
        base = _padded(runner, "batch permutation",
                       runner.run_case(forward, case, "batch permutation"), "(original order)")
        out_dim = 1
    else:
        dim = _batch_dim(recipe)
        permuted_input = case.input.index_select(dim, index)
        got = runner.call(forward, permuted_input, hx, case.pass_hx, "batch permutation")
        base = runner.run_case(forward, case, "batch permutation")
        out_dim = dim
    try:
        want = (base[0].index_select(out_dim, index.to(base[0].device)),
                base[1].index_select(1, index.to(base[1].device)),
                base[2].index_select(1, index.to(base[2].device)))
    except Exception as exc:
        runner.fail([f"batch permutation: the unpermuted run's results "
                     f"{describe_value(base)} cannot be permuted: {exc}"])
    runner.check(self_problems("batch permutation", got, want, tols, how,
                               f"(the unpermuted run's results, permuted by {perm})"))


# -- batch_first --------------------------------------------------------------------------

@checker
def check_batch_first(candidate, recipe: CaseRecipe) -> None:
    """batch_first=True on (N, L, H_in) equals batch_first=False on the transposed input,
    with output transposed back; h_n and c_n are the same (never batch-first). For unbatched
    and packed input the flag has no effect at all."""
    runner = Invocation(candidate, recipe, "check_batch_first", __name__)
    case = recipe.build()
    tols = tolerances(recipe)
    seq = runner.build(case.spec.replace(batch_first=False), case.params)
    bf = runner.build(case.spec.replace(batch_first=True), case.params)
    if recipe.spec.batch_first:
        bf_input = case.input
        seq_input = case.input if recipe.unbatched or recipe.packed else \
            case.input.transpose(0, 1).contiguous()
    else:
        seq_input = case.input
        bf_input = case.input if recipe.unbatched or recipe.packed else \
            case.input.transpose(0, 1).contiguous()
    got = runner.call(bf, bf_input, case.hx, case.pass_hx, "batch_first=True")
    want = runner.call(seq, seq_input, case.hx, case.pass_hx, "batch_first=False")
    if recipe.packed:
        got = _padded(runner, "batch_first", got, "(batch_first=True)")
        want = _padded(runner, "batch_first", want, "(batch_first=False)")
        same = "(batch_first=False on the same PackedSequence)"
    elif recipe.unbatched:
        same = "(batch_first=False on the same unbatched input)"
    else:
        if isinstance(want[0], torch.Tensor) and want[0].dim() == 3:
            want = (want[0].transpose(0, 1), want[1], want[2])
        same = "(batch_first=False on the transposed input, output transposed back)"
    runner.check(self_problems("batch_first", got, want, tols,
                               f"(batch_first=True on {describe_value(bf_input)})", same))


# -- bidirectional ------------------------------------------------------------------------

def _direction_params(params: dict, layer: int, reverse: bool) -> dict:
    """One layer's forward or reverse parameters, renamed as layer 0 of a unidirectional LSTM."""
    tail = f"_l{layer}" + ("_reverse" if reverse else "")
    return {name[: -len(tail)] + "_l0": value for name, value in params.items()
            if name.endswith(tail)}


@checker
def check_bidirectional(candidate, recipe: CaseRecipe) -> None:
    """A one-layer bidirectional run equals [forward run ‖ flip(reverse run on flip(x))]:
    the reverse direction is a unidirectional LSTM with the `_reverse` weights on the
    time-flipped sequence, started from h0[1], c0[1].

    One layer, padded or unbatched input.
    """
    runner = Invocation(candidate, recipe, "check_bidirectional", __name__)
    spec = recipe.spec
    if not spec.bidirectional or spec.num_layers != 1 or recipe.packed:
        raise ValueError("check_bidirectional needs a one-layer bidirectional recipe with "
                         "padded or unbatched input")
    case = recipe.build()
    tols = tolerances(recipe)
    uni = case.spec.replace(bidirectional=False)
    both = runner.build(case.spec, case.params)
    fwd = runner.build(uni, _direction_params(case.params, 0, False))
    rev = runner.build(uni, _direction_params(case.params, 0, True))
    dim = _time_dim(recipe)
    got = runner.run_case(both, case, "bidirectional")
    out_f, h_f, c_f = runner.call(fwd, case.input, _slice_hx(case, 0, 1), case.pass_hx,
                                  "forward direction alone")
    flipped = case.input.flip(dim)
    out_r, h_r, c_r = runner.call(rev, flipped, _slice_hx(case, 1, 2), case.pass_hx,
                                  "reverse weights on the flipped sequence")
    try:
        want = (torch.cat([out_f, out_r.flip(dim)], -1), torch.cat([h_f, h_r]),
                torch.cat([c_f, c_r]))
    except Exception as exc:
        runner.fail([f"bidirectional: the unidirectional runs' results "
                     f"{describe_value((out_f, h_f, c_f))} and {describe_value((out_r, h_r, c_r))}"
                     f" do not concatenate: {exc}"])
    runner.check(self_problems(
        "bidirectional", got, want, tols, "(bidirectional run)",
        "(forward run ‖ flip(run of the _reverse weights on the flipped sequence), "
        "h_n/c_n stacked forward, reverse)"))
