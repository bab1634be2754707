"""A bug too rare for the `ci` profile, for the fuzzing tests (not part of the catalog).

Unlike the catalog's bugs (`bugs.py`, which the `ci` profile must all catch), this one hides
in a combination that 50 random examples per test practically never draw: three stacked
bidirectional layers, PackedSequence input whose lengths are not sorted, and an input width
above 40 (widths 41..48 are drawn about one time in 32). The ci profile passes it
(`tests/test_fuzzing.py` checks that); HypoFuzz, which keeps every input reaching a new branch
of the candidate and mutates it, walks down the nested conditions of `_fast_path` one at a
time (the width in two tiers, as a kernel picking its tiling would) and finds it in a
minute or two.

    --impl tests.catalog.rare:build
"""
from __future__ import annotations

import torch
from torch.nn.utils.rnn import PackedSequence

import conformance
from .bugs_beyond import ValidatingLSTM

WIDE_INPUT = 40


def _fast_path(spec, input) -> bool:
    """Whether this input takes the 'batched reverse' fast path: one condition per branch, so
    that a coverage-guided fuzzer sees progress at each."""
    if not isinstance(input, PackedSequence):
        return False
    if spec.num_layers != 3:
        return False
    if not spec.bidirectional:
        return False
    if input.sorted_indices is None:
        return False
    if torch.equal(input.sorted_indices, torch.arange(len(input.sorted_indices))):
        return False  # lengths already sorted
    if spec.input_size <= 16:
        return False  # narrow: the plain path
    if spec.input_size <= WIDE_INPUT:
        return False  # medium: the blocked path
    return True


class RareWidePackedStack(ValidatingLSTM):
    """A fast path for wide, deep, bidirectional packed batches reverses the padded time axis
    as a whole (x.flip(0)) instead of each sequence within its own length.

    Needs: num_layers == 3, bidirectional, packed input with unsorted, unequal lengths,
    input_size > 40.
    """

    def forward(self, input, hx=None):
        self.fast = _fast_path(self.spec, input)
        return super().forward(input, hx)

    def reverse_time(self, x, lengths):
        if self.fast:
            return x.flip(0)
        return super().reverse_time(x, lengths)


@conformance.register("bug-rare-wide-packed-stack")
def build(spec, params):
    return RareWidePackedStack(spec, params)
