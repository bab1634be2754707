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
    check_stacking           num_layers=k equals k single-layer runs, each fed the previous
                             output and its own slice of hx
    check_unbatched          2-D input equals a batch of one
    check_packed_alone       each sequence of a PackedSequence equals it run alone, unpadded
    check_no_mutation        build and forward leave params, input and hx as they were, in
                             value and in `_version`
    check_determinism        on the cpu, two calls (and a call of a second build) are bitwise
                             equal

Every check takes (candidate, recipe) and raises `ConformanceFailure` with the usual message
and a reproduction snippet naming the check.
"""
from __future__ import annotations

import numpy as np
import torch
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence, pad_packed_sequence

from conformance.model.cases import Case, CaseRecipe
from conformance.checks.forward import ConformanceFailure, failure_message, load
from conformance.core.compare import ResultShapeError, TENSOR_NAMES, tensors, unpack
from conformance.core import gauge
from conformance.core.tolerance import Tolerance

SELF_MULTIPLE = 1.0  # of the forward tolerance, already 3x the largest gauge of one correct
# run's error (tolerance.py): two runs of one candidate differ by about sqrt(2) times that


# -- shared helpers (also used by the invalid-input and dropout families) -----------------

def describe_value(value) -> str:
    """A short description of a forward argument or result: kind, dtype and shape."""
    if value is None:
        return "None"
    if isinstance(value, PackedSequence):
        return (f"PackedSequence(data {_dtype_name(value.data)}{tuple(value.data.shape)}, "
                f"batch_sizes {value.batch_sizes.tolist()})")
    if isinstance(value, torch.Tensor):
        return f"{_dtype_name(value)}{tuple(value.shape)}"
    if isinstance(value, (tuple, list)):
        inner = ", ".join(describe_value(v) for v in value)
        return f"({inner},)" if isinstance(value, tuple) and len(value) == 1 else (
            f"({inner})" if isinstance(value, tuple) else f"[{inner}]")
    return type(value).__name__


def describe_call(input, hx=None, pass_hx: bool = True) -> str:
    args = describe_value(input) + (f", {describe_value(hx)}" if pass_hx else "")
    return f"forward({args})"


def _dtype_name(t: torch.Tensor) -> str:
    return str(t.dtype).removeprefix("torch.")


def tolerances(recipe: CaseRecipe) -> list[Tolerance]:
    """The forward check's tolerance for output, h_n and c_n of `recipe` (see tolerance.py)."""
    return gauge.tolerances(recipe)


def self_problem(label: str, name: str, got, want, tol: Tolerance, got_how: str,
                 want_how: str) -> str | None:
    """One line if two runs of the candidate differ by more than two correct runs could."""
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
    got64 = got.detach().to("cpu", torch.float64)
    want64 = want.detach().to("cpu", torch.float64)
    error = (got64 - want64).abs()
    allowed = SELF_MULTIPLE * tol.allowed(want64)
    both_nan = got64.isnan() & want64.isnan()
    bad = ~(error <= allowed) & ~both_nan
    if not bool(bad.any()):
        return None
    first = tuple(int(i) for i in torch.nonzero(bad)[0]) if bad.dim() else ()
    finite = torch.where(bad & torch.isfinite(error), error, torch.zeros_like(error))
    return (f"{label}: {name}{list(first)} is {got64[first].item():.7g} {got_how}, should be "
            f"{want64[first].item():.7g} {want_how}; error {error[first].item():.3g} > "
            f"allowed {allowed[first].item():.3g}; {int(bad.sum())} of {bad.numel()} elements "
            f"differ, max abs error {finite.max().item():.3g}")


def self_problems(label: str, got: tuple, want: tuple, tols: list[Tolerance], got_how: str,
                  want_how: str) -> list[str]:
    """`self_problem` for each of output, h_n and c_n."""
    lines = (self_problem(label, name, g, w, tol, got_how, want_how)
             for name, g, w, tol in zip(TENSOR_NAMES, got, want, tols))
    return [line for line in lines if line]


class Runner:
    """Builds and calls a candidate for one check; any exception becomes a ConformanceFailure
    in the family's format, naming the call that raised."""

    def __init__(self, candidate, recipe: CaseRecipe, checker: str):
        self.candidate = load(candidate)
        self.recipe = recipe
        self.checker = checker

    def fail(self, problems: list[str]):
        raise ConformanceFailure(failure_message(self.candidate, self.recipe, problems,
                                                 checker=self.checker))

    def check(self, problems: list[str]) -> None:
        if problems:
            self.fail(problems)

    def build(self, spec, params):
        try:
            return self.candidate.build(spec, params)
        except Exception as exc:
            self.fail([f"build(spec, params) raised {type(exc).__name__}: {exc} "
                       f"(spec {spec!r})"])

    def call(self, forward, input, hx=None, pass_hx: bool = True, label: str = "") -> tuple:
        """(output, h_n, c_n) of forward(input[, hx]) under no_grad."""
        try:
            with torch.no_grad():
                result = forward(input, hx) if pass_hx else forward(input)
        except Exception as exc:
            self.fail([f"{label}: {describe_call(input, hx, pass_hx)} raised "
                       f"{type(exc).__name__}: {exc}"])
        try:
            return unpack(result)
        except ResultShapeError as exc:
            self.fail([f"{label}: {describe_call(input, hx, pass_hx)}: {exc}"])

    def run_case(self, forward, case: Case, label: str = "") -> tuple:
        return self.call(forward, case.input, case.hx, case.pass_hx, label)


def _time_dim(recipe: CaseRecipe) -> int:
    return 1 if (recipe.spec.batch_first and not recipe.unbatched) else 0


def _batch_dim(recipe: CaseRecipe) -> int:
    return 0 if recipe.spec.batch_first else 1


def _rng(recipe: CaseRecipe, salt: int) -> np.random.Generator:
    """Choices a check makes (cut points, permutations) follow from the recipe alone."""
    return np.random.default_rng([recipe.seed, salt])


def _padded(runner: Runner, label: str, result: tuple, what: str) -> tuple:
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

def check_streaming(candidate, recipe: CaseRecipe) -> None:
    """Running the sequence in 2-3 chunks, passing each chunk's (h_n, c_n) as the next
    chunk's hx, gives the same output (concatenated over time), h_n and c_n as one run.

    Unidirectional, padded or unbatched input, seq_len >= 2 (a bidirectional run cannot be
    cut: the reverse direction starts at the end).
    """
    runner = Runner(candidate, recipe, "check_streaming")
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


def check_batch_permutation(candidate, recipe: CaseRecipe) -> None:
    """Permuting the sequences of a batch permutes output, h_n and c_n the same way.

    Padded or packed input (for packed input the lengths are permuted with the sequences and
    the outputs are compared padded).
    """
    runner = Runner(candidate, recipe, "check_batch_permutation")
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

def check_batch_first(candidate, recipe: CaseRecipe) -> None:
    """batch_first=True on (N, L, H_in) equals batch_first=False on the transposed input,
    with output transposed back; h_n and c_n are the same (never batch-first). For unbatched
    and packed input the flag has no effect at all."""
    runner = Runner(candidate, recipe, "check_batch_first")
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


def check_bidirectional(candidate, recipe: CaseRecipe) -> None:
    """A one-layer bidirectional run equals [forward run ‖ flip(reverse run on flip(x))]:
    the reverse direction is a unidirectional LSTM with the `_reverse` weights on the
    time-flipped sequence, started from h0[1], c0[1].

    One layer, padded or unbatched input.
    """
    runner = Runner(candidate, recipe, "check_bidirectional")
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


# -- stacking -----------------------------------------------------------------------------

def check_stacking(candidate, recipe: CaseRecipe) -> None:
    """num_layers=k equals k one-layer runs: layer l gets layer l-1's output as input, the
    parameters `*_l{l}*` and hx rows l*D .. l*D+D-1; h_n and c_n stack the layers' own.

    Any input kind (a PackedSequence output is fed on as it is); runs in eval mode, so
    dropout has no effect.
    """
    runner = Runner(candidate, recipe, "check_stacking")
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

def check_unbatched(candidate, recipe: CaseRecipe) -> None:
    """Unbatched 2-D input (and 2-D hx) gives what the batch of one gives, squeezed."""
    runner = Runner(candidate, recipe, "check_unbatched")
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

def check_packed_alone(candidate, recipe: CaseRecipe) -> None:
    """Each sequence of a PackedSequence gives what it gives run alone as a padded batch of
    one of its own length (its outputs, h_n and c_n); padding positions are not compared."""
    runner = Runner(candidate, recipe, "check_packed_alone")
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


# -- no mutation --------------------------------------------------------------------------

def _snapshot(tensor: torch.Tensor):
    return (tensor, tensor.detach().clone(), tensor._version, tuple(tensor.shape),
            tensor.stride())


def _mutation(what: str, snap, when: str) -> str | None:
    tensor, values, version, shape, stride = snap
    if tuple(tensor.shape) != shape or tensor.stride() != stride:
        return (f"{what} has shape {tuple(tensor.shape)} stride {tensor.stride()} {when}, "
                f"should be shape {shape} stride {stride} as given (changed in place)")
    now = tensor.detach()
    same = (now == values) | (now.isnan() & values.isnan())
    if not bool(same.all()):
        first = tuple(int(i) for i in torch.nonzero(~same)[0]) if same.dim() else ()
        return (f"{what}{list(first)} is {now[first].item():.7g} {when}, should be "
                f"{values[first].item():.7g} as given; {int((~same).sum())} of {same.numel()} "
                f"elements changed in place (_version {version} -> {tensor._version})")
    if tensor._version != version:
        return (f"{what}._version is {tensor._version} {when}, should be {version} as given: "
                "modified in place (values restored afterwards)")
    return None


def _input_tensors(case: Case) -> list[tuple[str, torch.Tensor]]:
    found = []
    if isinstance(case.input, PackedSequence):
        for field in ("data", "batch_sizes", "sorted_indices", "unsorted_indices"):
            value = getattr(case.input, field)
            if value is not None:
                found.append((f"input.{field}", value))
    else:
        found.append(("input", case.input))
    if case.hx is not None:
        found += [("hx[0] (h0)", case.hx[0]), ("hx[1] (c0)", case.hx[1])]
    return found


def check_no_mutation(candidate, recipe: CaseRecipe) -> None:
    """build(spec, params) and forward(input, hx) change none of params, input (a tensor or
    a PackedSequence's fields) and hx: not their values, shapes, strides or `_version`
    counters, and the params dict and hx list keep their entries."""
    runner = Runner(candidate, recipe, "check_no_mutation")
    case = recipe.build()
    param_snaps = {name: _snapshot(t) for name, t in case.params.items()}
    params_dict = dict(case.params)
    hx_items = None if case.hx is None else list(case.hx)

    def params_problems(when: str) -> list[str]:
        problems = []
        if set(case.params) != set(params_dict) or any(
                case.params[k] is not v for k, v in params_dict.items() if k in case.params):
            problems.append(f"the params dict's entries were replaced or removed {when}: "
                            f"keys {sorted(case.params)}, should be {sorted(params_dict)}")
        for name, snap in param_snaps.items():
            line = _mutation(f"params[{name!r}]", snap, when)
            if line:
                problems.append(line)
        return problems

    forward = runner.build(case.spec, case.params)
    runner.check(params_problems("after build(spec, params)"))
    other_snaps = [(what, _snapshot(t)) for what, t in _input_tensors(case)]
    call = describe_call(case.input, case.hx, case.pass_hx)
    runner.run_case(forward, case, "no mutation")
    when = f"after {call}"
    problems = params_problems(when)
    problems += [line for what, snap in other_snaps if (line := _mutation(what, snap, when))]
    if hx_items is not None and (len(case.hx) != 2 or any(
            a is not b for a, b in zip(case.hx, hx_items))):
        problems.append(f"the hx {type(case.hx).__name__} was modified {when}: it holds "
                        f"{describe_value(case.hx)}, should hold {describe_value(hx_items)}")
    runner.check(problems)


# -- determinism --------------------------------------------------------------------------

_BITS = {torch.float16: torch.int16, torch.bfloat16: torch.int16, torch.float32: torch.int32,
         torch.float64: torch.int64}


def _bitwise_problem(label: str, name: str, got, want, got_how: str, want_how: str):
    if not isinstance(got, torch.Tensor) or not isinstance(want, torch.Tensor) or \
            got.shape != want.shape or got.dtype != want.dtype:
        return (f"{label}: {name} is {describe_value(got)} {got_how}, should be "
                f"{describe_value(want)} {want_how}")
    bits = _BITS.get(got.dtype)
    if bits is None:
        same = got == want
    else:
        same = got.contiguous().view(bits) == want.contiguous().view(bits)
    if bool(same.all()):
        return None
    first = tuple(int(i) for i in torch.nonzero(~same)[0]) if same.dim() else ()
    diff = (got.double() - want.double()).abs()
    return (f"{label}: {name}{list(first)} is {got[first].item()!r} {got_how}, should be "
            f"bitwise {want[first].item()!r} {want_how}; {int((~same).sum())} of {same.numel()} "
            f"elements differ, max abs difference {diff.max().item():.3g}")


def check_determinism(candidate, recipe: CaseRecipe) -> None:
    """On the cpu the same call gives bitwise the same output, h_n and c_n: twice on one
    forward object, and once more on a second build."""
    runner = Runner(candidate, recipe, "check_determinism")
    if torch.device(recipe.spec.device).type != "cpu":
        raise ValueError("check_determinism is a cpu check (other devices may legitimately "
                         "use nondeterministic kernels)")
    case = recipe.build()
    forward = runner.build(case.spec, case.params)
    first = runner.run_case(forward, case, "first call")
    second = runner.run_case(forward, case, "second call")
    third = runner.run_case(runner.build(case.spec, case.params), case,
                            "call of a second build")
    call = describe_call(case.input, case.hx, case.pass_hx)
    problems = []
    for got, how in ((second, "on the second call"), (third, "from a second build")):
        for name, g, w in zip(TENSOR_NAMES, tensors(got), tensors(first)):
            line = _bitwise_problem("determinism", name, g, w, f"{how} of {call}",
                                    "as on the first call")
            if line:
                problems.append(line)
        if problems:
            break
    runner.check(problems)


METAMORPHIC = {
    "streaming": check_streaming,
    "batch_permutation": check_batch_permutation,
    "batch_first": check_batch_first,
    "bidirectional": check_bidirectional,
    "stacking": check_stacking,
    "unbatched": check_unbatched,
    "packed_alone": check_packed_alone,
    "no_mutation": check_no_mutation,
    "determinism": check_determinism,
}
