"""Invalid input: where nn.LSTM raises, the candidate must raise too (any exception type).

From a valid recipe `invalid_calls` derives calls that nn.LSTM rejects: the wrong feature
size, 1-D or 4-D input, an empty sequence (T=0), hx with the wrong number of dimensions, the
wrong layer or batch count or width (also h of width hidden_size when proj_size > 0), hx
given as one tensor or as a 1- or 3-tuple, input of another dtype than the weights, and a
PackedSequence with an hx for a different number of sequences.

`check_invalid` calls one forward object with each of them. A call that returns is a
failure, reported beside nn.LSTM's own error message. After every rejected call the same
forward object is called with the valid input and must return what it returned before any
invalid call (within twice the forward tolerance): a rejected call leaves no trace.

A derived call that nn.LSTM itself accepts (this torch version may be more lenient: it takes
a stacked (h, c) tensor or a 3-tuple for unbatched input) is not checked.
"""
from __future__ import annotations

from dataclasses import dataclass

import torch
from torch.nn.utils.rnn import PackedSequence

from conformance.model.cases import Case, CaseRecipe
from conformance.checks.metamorphic import self_problems, tolerances
from conformance.core.invoke import Invocation, checker, describe_call, describe_value
from conformance.core.oracle import reference_module

GROUPS = ("input", "hx", "packed")
# Features a group's calls need besides the recipe's own (a candidate that declares one of
# them unsupported is not given those calls).
GROUP_NEEDS = {"input": (), "hx": ("initial_state",), "packed": ("packed", "initial_state")}


@dataclass(frozen=True)
class InvalidCall:
    """One call nn.LSTM rejects, derived from a valid case."""

    group: str
    what: str  # in words: "h0 of width 5 (H_out + 1)"
    input: object
    hx: object = None
    pass_hx: bool = False
    # Set when calling nn.LSTM itself on this input is unsafe; then this is the expected
    # error, stated from nn.LSTM's documented contract instead of observed.
    unsafe_for_reference: str | None = None

    def call(self, forward):
        return forward(self.input, self.hx) if self.pass_hx else forward(self.input)

    def describe(self) -> str:
        return describe_call(self.input, self.hx, self.pass_hx)


def _with_data(packed: PackedSequence, data: torch.Tensor) -> PackedSequence:
    return PackedSequence(data, packed.batch_sizes, packed.sorted_indices,
                          packed.unsorted_indices)


def _map_input(x, fn):
    """Apply `fn` to the input tensor, or to a PackedSequence's data."""
    return _with_data(x, fn(x.data)) if isinstance(x, PackedSequence) else fn(x)


def _full_state(recipe: CaseRecipe, case: Case):
    """A valid (h0, c0) of the recipe's shapes (random values, whatever recipe.hx says)."""
    if case.hx is not None and recipe.hx == "random":
        return tuple(case.hx)
    rebuilt = recipe.replace(hx="random").build()
    return tuple(rebuilt.hx)


def _other_dtype(dtype: torch.dtype) -> torch.dtype:
    return torch.float32 if dtype == torch.float64 else torch.float64


def invalid_calls(recipe: CaseRecipe, case: Case | None = None,
                  groups=GROUPS) -> list[InvalidCall]:
    """The calls of the given groups that can be derived from `recipe` (valid)."""
    case = recipe.build() if case is None else case
    spec = recipe.spec
    x = case.input
    calls: list[InvalidCall] = []
    add = calls.append
    packed = recipe.packed
    time_dim = 1 if (spec.batch_first and not recipe.unbatched and not packed) else 0
    extra_hx = dict(hx=case.hx, pass_hx=case.pass_hx)

    if "input" in groups:
        h_in = spec.input_size
        add(InvalidCall("input", f"input of feature size {h_in + 1} (input_size + 1)",
                        _map_input(x, lambda t: torch.cat([t, t[..., :1]], -1)), **extra_hx))
        if h_in > 1:
            add(InvalidCall("input", f"input of feature size {h_in - 1} (input_size - 1)",
                            _map_input(x, lambda t: t[..., :-1]), **extra_hx))
        add(InvalidCall("input", f"input of dtype {_other_dtype(spec.dtype)} (the weights are "
                                 f"{spec.dtype})",
                        _map_input(x, lambda t: t.to(_other_dtype(spec.dtype))), **extra_hx))
        if not packed:
            one_d = x.reshape(-1)[:h_in] if x.numel() >= h_in else x.new_zeros(h_in)
            add(InvalidCall("input", "1-D input (one feature vector)", one_d.contiguous()))
            add(InvalidCall("input", "4-D input", x.unsqueeze(0)))
            add(InvalidCall("input", "an empty sequence (T=0)", x.narrow(time_dim, 0, 0),
                            **extra_hx))

    if "hx" in groups:
        h0, c0 = _full_state(recipe, case)
        h_out, hidden = spec.output_size, spec.hidden_size
        lead = spec.num_directions * spec.num_layers

        def hx_call(what, hx):
            add(InvalidCall("hx", what, x, hx, True))

        if recipe.unbatched:
            hx_call("3-D hx (batched) for unbatched 2-D input", (h0[:, None], c0[:, None]))
            hx_call("1-D hx for unbatched 2-D input", (h0[0], c0[0]))
        else:
            hx_call("2-D hx for 3-D input", (h0[0], c0[0]))
            hx_call("4-D h0 with a 3-D c0", (h0[None], c0))
            n = h0.shape[1]
            if n >= 1:
                hx_call(f"hx for {n + 1} sequences, the input has {n}",
                        (torch.cat([h0, h0[:, :1]], 1), torch.cat([c0, c0[:, :1]], 1)))
            if n >= 2:
                hx_call(f"hx for 1 sequence, the input has {n}", (h0[:, :1], c0[:, :1]))
            if n >= 3:
                hx_call(f"hx for {n - 1} sequences, the input has {n}",
                        (h0[:, :-1], c0[:, :-1]))
        hx_call(f"hx with {lead + 1} layer*direction rows, should be {lead}",
                (torch.cat([h0, h0[:1]]), torch.cat([c0, c0[:1]])))
        if lead > 1:
            hx_call(f"hx with {lead - 1} layer*direction rows, should be {lead}",
                    (h0[:-1], c0[:-1]))
        hx_call(f"h0 of width {h_out + 1} (should be {h_out})",
                (torch.cat([h0, h0[..., :1]], -1), c0))
        hx_call(f"c0 of width {hidden + 1} (should be {hidden})",
                (h0, torch.cat([c0, c0[..., :1]], -1)))
        if spec.proj_size > 0:
            hx_call(f"h0 of width hidden_size={hidden} (proj_size={h_out}: h0 should be "
                    f"{h_out} wide)", (c0, c0))
            hx_call(f"c0 of width proj_size={h_out} (should be hidden_size={hidden})",
                    (h0, h0))
        hx_call("hx as one tensor (h0 alone)", h0)
        if h0.shape == c0.shape:
            hx_call("hx as one stacked tensor torch.stack((h0, c0))", torch.stack((h0, c0)))
        hx_call("hx as a 1-tuple (h0,)", (h0,))
        hx_call("hx as a 3-tuple (h0, c0, c0)", (h0, c0, c0))

    if "packed" in groups and packed:
        h0, c0 = _full_state(recipe, case)
        n = h0.shape[1]

        def packed_call(what, hx):
            add(InvalidCall("packed", what, x, hx, True))

        packed_call(f"PackedSequence of {n} sequences with hx for {n + 1}",
                    (torch.cat([h0, h0[:, :1]], 1), torch.cat([c0, c0[:, :1]], 1)))
        if n >= 2:
            # Sorted packed input (no sorted_indices) with too few hx rows makes torch 2.x's
            # LSTM kernel read past the end of hx and abort the process ("free(): invalid
            # size"), so the reference is not called for it.
            unsafe = None if x.sorted_indices is not None else (
                f"(nn.LSTM is not called: on sorted packed input torch {torch.__version__} "
                f"reads past the end of such an hx and aborts the process; the documented "
                f"contract is hx of shape (D*num_layers, {n}, H))")
            add(InvalidCall("packed", f"PackedSequence of {n} sequences with hx for {n - 1}",
                            x, (h0[:, :-1], c0[:, :-1]), True, unsafe_for_reference=unsafe))
        packed_call("PackedSequence with 2-D hx (unbatched)", (h0[:, 0], c0[:, 0]))
    return calls


def reference_error(spec, params, call: InvalidCall) -> str | None:
    """nn.LSTM's error for `call` ('Type: message'), or None if nn.LSTM accepts it."""
    if call.unsafe_for_reference:
        return call.unsafe_for_reference
    module = reference_module(spec, params)
    try:
        with torch.no_grad():
            call.call(module)
    except Exception as exc:
        return f"{type(exc).__name__}: {_first_line(exc)}"
    return None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else "(no message)"


@checker
def check_invalid(candidate, recipe: CaseRecipe, groups=GROUPS) -> None:
    """Every call of `invalid_calls(recipe)` that nn.LSTM rejects must raise; after each,
    the same forward object must still return what it returned on the valid input.

    Groups whose features the candidate declares unsupported are left out.
    """
    runner = Invocation(candidate, recipe, "check_invalid", __name__)
    candidate = runner.candidate
    groups = [g for g in groups if candidate.unsupported.isdisjoint(GROUP_NEEDS[g])]
    case = recipe.build()
    calls = invalid_calls(recipe, case, groups)
    if not calls:
        return
    tols = tolerances(recipe)
    forward = runner.build(case.spec, case.params)
    valid = describe_call(case.input, case.hx, case.pass_hx)
    baseline = runner.run_case(forward, case, "valid input, before any invalid call")
    problems: list[str] = []
    for call in calls:
        expected_error = reference_error(case.spec, case.params, call)
        if expected_error is None:
            continue  # nn.LSTM accepts it here: nothing to demand
        result, exc = runner.attempt(call.describe(), call.call, forward)
        if exc is not None:
            raised = f"{type(exc).__name__}: {_first_line(exc)}"
        else:
            problems.append(
                f"{call.what}: {call.describe()} returned {describe_value(result)}, should raise "
                f"like nn.LSTM, which raises {expected_error}")
            continue
        after = runner.run_case(forward, case,
                                f"valid input, after rejecting {call.what} ({raised})")
        problems += self_problems(
            f"after rejecting {call.what} ({raised})", after, baseline, tols,
            f"(from {valid} after the rejected call)", "(as before any invalid call)")
    runner.check(problems)
