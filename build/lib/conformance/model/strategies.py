"""Hypothesis strategies for LSTM specs and examples.

Small composable pieces: every axis of `specs` and `recipes` is itself a strategy argument, so
a test family fixes the axes it is about (`specs(bidirectional=st.just(True))`) and leaves the
others random. Strategies generate over every feature; what a candidate does not support is
mapped away afterwards by `conformance.model.features`, so explicit `@example`s work the same way.
Sampled lists put the simplest choice first because Hypothesis shrinks towards it.
"""
from __future__ import annotations

import torch
from hypothesis import strategies as st

from conformance.model.cases import HX_KINDS, CaseRecipe
from conformance.model.spec import LSTMSpec

MAX_SMALL_SIZE = 16
MAX_LARGE_SIZE = 48
MAX_SEQ_LEN = 12
MAX_BATCH = 6
MAX_LAYERS = 3

# float64 first: shrinking lands on the most precise, most readable counterexample.
ALL_DTYPES = (torch.float64, torch.float32, torch.bfloat16, torch.float16)
ALL_DEVICES = ("cpu", "cuda", "mps")


def _either(strategy, default):
    """`strategy` if one was given, else the default (strategies are always truthy)."""
    return default if strategy is None else strategy


@st.composite
def sizes(draw, max_small: int = MAX_SMALL_SIZE, max_large: int = MAX_LARGE_SIZE):
    """Feature widths: 1..16 most of the time, 17..48 about one time in eight."""
    large = draw(st.integers(0, 7)) == 7  # shrinks towards 0: small
    return draw(st.integers(max_small + 1, max_large) if large else st.integers(1, max_small))


def dtypes():
    """float64 and float32 each about a third of the time, bfloat16 and float16 a sixth."""
    return st.sampled_from((torch.float64, torch.float32, torch.float64, torch.float32,
                            torch.bfloat16, torch.float16))


def devices():
    """Every device name; the run maps those torch does not report (or --device excludes)."""
    return st.sampled_from(ALL_DEVICES)


@st.composite
def specs(draw, input_size=None, hidden_size=None, num_layers=None, bias=None,
          batch_first=None, bidirectional=None, projection=None, dtype=None, device=None):
    """LSTMSpec with every flag random unless fixed by an argument (each a strategy).

    `projection` draws a bool: whether proj_size is drawn from 1..hidden_size-1.
    """
    hidden = draw(_either(hidden_size, sizes()))
    project = draw(_either(projection, st.booleans())) and hidden > 1
    return LSTMSpec(
        input_size=draw(_either(input_size, sizes())),
        hidden_size=hidden,
        num_layers=draw(_either(num_layers, st.integers(1, MAX_LAYERS))),
        bias=draw(_either(bias, st.booleans())),
        batch_first=draw(_either(batch_first, st.booleans())),
        bidirectional=draw(_either(bidirectional, st.booleans())),
        proj_size=draw(st.integers(1, hidden - 1)) if project else 0,
        device=draw(_either(device, devices())),
        dtype=draw(_either(dtype, dtypes())),
    )


def gate_scales():
    """Per-gate weight scales (i, f, g, o): mostly moderate, sometimes saturating."""
    scale = st.sampled_from((1.0, 0.5, 2.0, 1.5, 0.25, 5.0))
    return st.tuples(scale, scale, scale, scale)


def input_kinds():
    """'padded' (a 3-D tensor) half of the time; 'unbatched' and 'packed' a quarter each."""
    return st.sampled_from(("padded", "padded", "unbatched", "packed"))


def hx_kinds():
    """How the initial state is passed: omitted, None, zeros or random (a quarter each)."""
    return st.sampled_from(HX_KINDS)


def packing_orders():
    """Lengths sorted with enforce_sorted=True, sorted without it, or in any order."""
    return st.sampled_from(("any", "sorted", "enforced"))


@st.composite
def recipes(draw, spec=None, seq_len=None, batch=None, input_kind=None, hx=None,
            packing=None, hx_container=None):
    """A CaseRecipe: a spec plus input shape, layout, initial state and weight seed."""
    lstm_spec = draw(_either(spec, specs()))
    length = draw(_either(seq_len, st.integers(1, MAX_SEQ_LEN)))
    kind = draw(_either(input_kind, input_kinds()))
    lengths, enforce_sorted, n = None, False, None
    if kind == "packed":
        n = draw(_either(batch, st.integers(1, MAX_BATCH)))
        n = max(n, 1)  # packing rejects empty batches
        drawn = draw(st.lists(st.integers(1, length), min_size=n, max_size=n))
        order = draw(_either(packing, packing_orders()))
        if order != "any":
            drawn = sorted(drawn, reverse=True)
        lengths, enforce_sorted = tuple(drawn), order == "enforced"
    elif kind == "padded":
        n = draw(_either(batch, st.integers(0, MAX_BATCH)))
    return CaseRecipe(
        spec=lstm_spec,
        seq_len=length,
        batch=n,
        lengths=lengths,
        enforce_sorted=enforce_sorted,
        hx=draw(_either(hx, hx_kinds())),
        hx_container=draw(_either(hx_container, st.sampled_from(("tuple", "list")))),
        gate_scales=draw(gate_scales()),
        input_scale=draw(st.sampled_from((1.0, 0.5, 3.0))),
        seed=draw(st.integers(0, 2**32 - 1)),
    )


# -- dropout (appended for the dropout family) ----------------------------------------------

DROPOUT_PROBABILITIES = (0.5, 1.0, 0.25, 0.75, 0.1, 0.9)


def dropouts(low: float = 0.0, high: float = 1.0):
    """Dropout probabilities in (low, high] from DROPOUT_PROBABILITIES (0.5 first)."""
    return st.sampled_from(tuple(p for p in DROPOUT_PROBABILITIES if low < p <= high))


@st.composite
def dropout_specs(draw, dropout=None, **spec_kwargs):
    """`specs(**spec_kwargs)` with spec.dropout drawn from `dropout` (default `dropouts()`)."""
    spec = draw(specs(**spec_kwargs))
    return spec.replace(dropout=draw(_either(dropout, dropouts())))
