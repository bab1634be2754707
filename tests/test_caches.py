"""The caches behind builds and references are invisible: every build is new tensors, and the
kept nn.LSTM references compute what a new one does and leave torch's generator alone."""
from __future__ import annotations

import torch

from conformance import CaseRecipe, LSTMSpec
from conformance.core import oracle
from conformance.core.compare import tensors, unpack

PACKED = CaseRecipe(LSTMSpec(3, 4, num_layers=2, bidirectional=True, proj_size=2), seq_len=4,
                    batch=3, lengths=(4, 1, 3), hx="random", hx_container="list", seed=5)


def _all_tensors(case):
    return [*case.params.values(), case.input.data, *(case.hx or ())]


def test_each_build_is_new_tensors_with_the_same_values():
    first = PACKED.build()
    for t in _all_tensors(first):
        t.add_(1.0)  # a candidate that changes its inputs in place
    first.params.clear()
    first.hx.append(None)
    second, third = PACKED.build(), PACKED.build(dtype=torch.float64)
    fresh = PACKED._build(PACKED.spec.dtype, PACKED.spec.device)
    assert type(second.hx) is list and len(second.hx) == 2
    assert second.params.keys() == fresh.params.keys()
    for got, want in zip(_all_tensors(second), _all_tensors(fresh)):
        assert torch.equal(got, want)
    for field in ("batch_sizes", "sorted_indices", "unsorted_indices"):
        assert torch.equal(getattr(second.input, field), getattr(fresh.input, field))
    assert third.params["weight_ih_l0"].dtype == torch.float64


def test_a_recipe_with_list_fields_still_builds():
    recipe = CaseRecipe(LSTMSpec(3, 4), seq_len=3, batch=2, lengths=[3, 2])
    assert recipe.build().input.data.shape == (5, 3)


def test_a_kept_reference_computes_what_a_new_one_does():
    for dtype in (torch.float64, torch.float32, torch.bfloat16):
        case = PACKED.replace(spec=PACKED.spec.replace(dtype=dtype)).build()
        for _ in range(2):  # built, then kept
            state = torch.random.get_rng_state()
            kept = tensors(unpack(oracle.run_reference(case)))
            assert torch.equal(state, torch.random.get_rng_state())
            with torch.no_grad():
                new = tensors(unpack(case.call(oracle.reference_module(case.spec,
                                                                       case.params))))
            assert all(torch.equal(a, b) for a, b in zip(kept, new)), dtype
            kept[0].add_(1.0)  # changing a result leaves the next call alone
