"""The false-alarm sweep's own helpers (tests/false_alarms.py): the closest call it reports is
the fraction of the allowance a passing check used, and the table shows it per dtype."""
from __future__ import annotations

import pytest
import torch

from conformance.checks.forward import check_forward
from conformance.core import compare, sandbox
from conformance.model import pins
from tests import false_alarms


def test_closest_call_is_the_fraction_of_the_allowance_used():
    watch = false_alarms.ClosestCall()
    original = compare.deviation, compare.rms_deviation
    with watch:
        check_forward.in_process("numpy", pins.ILL_CONDITIONED_FLOAT32)
    assert (compare.deviation, compare.rms_deviation) == original  # restored
    assert 0.0 < watch.used < 1.0, watch.used
    assert 0.0 < watch.used_rms < 1.0, watch.used_rms
    watch.start()
    assert watch.used == watch.used_rms == 0.0


def test_sweep_counts_examples_and_tables_the_closest_call(monkeypatch):
    # In process, as `python -m tests.false_alarms` runs (an earlier test may leave isolation on)
    monkeypatch.setattr(sandbox.Settings, "isolation", False)
    torch.set_num_threads(1)
    result = false_alarms.sweep("numpy", examples=4, seconds=60, seed=7, log=lambda s: None)
    assert result["examples"] == 4 and not result["failures"]
    assert sum(result["counts"].values()) == 4
    assert result["closest"] and all(0.0 <= used < 1.0 for used, _ in result["closest"].values())
    table = false_alarms.table([result])
    assert "closest call" in table.splitlines()[0]
    assert "| numpy | forward |" in table


def test_pinned_sweep_runs_every_pin_with_every_check(monkeypatch):
    monkeypatch.setattr(sandbox.Settings, "isolation", False)
    torch.set_num_threads(1)
    recipes = false_alarms.pinned_recipes()
    assert pins.ORT_DEEP_SATURATED in recipes and pins.FUSED_WEIGHT_GRADIENT in recipes
    ran = []
    monkeypatch.setattr(false_alarms, "warm_up", lambda candidate, seed: None)
    monkeypatch.setattr(false_alarms, "check_forward", lambda c, r: ran.append(("f", r)))
    monkeypatch.setattr(false_alarms, "check_gradients", lambda c, r: ran.append(("g", r)))
    result = false_alarms.sweep("numpy", examples=10_000, seconds=600, seed=7,
                                log=lambda s: None, pinned=True)
    with_batch = [r for r in recipes if r.batch != 0]
    assert result["examples"] == len(recipes) + len(with_batch) == len(ran)
    assert [r for kind, r in ran if kind == "g"] == with_batch  # the gradient check needs a batch


def test_pinned_sweep_says_which_pins_a_candidate_runs_changed(monkeypatch):
    monkeypatch.setattr(sandbox.Settings, "isolation", False)
    monkeypatch.setattr(false_alarms, "warm_up", lambda candidate, seed: None)
    monkeypatch.setattr(false_alarms, "check_forward", lambda c, r: None)
    monkeypatch.setattr(false_alarms, "check_gradients", lambda c, r: None)
    monkeypatch.setattr(false_alarms, "avoided_features", lambda c: frozenset({"proj_size"}))
    said = []
    result = false_alarms.sweep("numpy", examples=1, seconds=0.0, seed=7, log=said.append,
                                pinned=True)
    with_projection = [r for r in false_alarms.pinned_recipes() if r.spec.proj_size > 0]
    changed = [s for s in said if "run without ['proj_size']" in s]
    assert with_projection and len(changed) == 2 * len(with_projection)  # once per check
    assert result["examples"] > 1  # the limits do not cut a pinned sweep short


def test_a_sweep_asked_to_stop_keeps_what_it_counted(monkeypatch):
    monkeypatch.setattr(sandbox.Settings, "isolation", False)
    monkeypatch.setattr(false_alarms, "warm_up", lambda candidate, seed: None)
    ran = []

    def check(candidate, recipe):
        ran.append(recipe)
        if len(ran) == 3:
            false_alarms.STOP.set()  # as the SIGTERM handler does

    monkeypatch.setattr(false_alarms, "check_forward", check)
    monkeypatch.setattr(false_alarms, "check_gradients", check)
    try:
        result = false_alarms.sweep("numpy", examples=100, seconds=600, seed=7,
                                    log=lambda s: None)
    finally:
        false_alarms.STOP.clear()
    assert result["examples"] == 3 == sum(result["counts"].values())


def test_spec_pool_draws_every_example_from_a_few_specs(monkeypatch):
    # --spec-pool: a candidate that compiles per spec pays a few compiles, not one per example
    pool = false_alarms.draw_specs(5, seed=3)
    assert 1 < len(pool) <= 5 and len(set(pool)) == len(pool)
    recipes = false_alarms.draw_recipes(40, seed=3, spec_pool=pool)
    assert {r.spec for r in recipes} <= set(pool)
    assert len({(r.seq_len, r.batch, r.seed) for r in recipes}) > 10  # the rest still varies
    monkeypatch.setattr(sandbox.Settings, "isolation", False)
    torch.set_num_threads(1)
    result = false_alarms.sweep("numpy", examples=3, seconds=60, seed=7, log=lambda s: None,
                                spec_pool=2)
    assert result["examples"] == 3 and not result["failures"]


def test_shape_pool_gives_fresh_values_to_a_few_structures(monkeypatch):
    # --shape-pool: a candidate that compiles per input shape compiles K graphs, and every
    # example still has its own weights, inputs and gate scales
    structure = false_alarms.structure
    pool = false_alarms.draw_shapes(12, seed=3)
    assert 1 < len(pool) <= 12 and len(set(pool)) == len(pool)
    assert all(r.batch != 0 for r in pool)  # an empty batch compares no values
    seen = []
    monkeypatch.setattr(false_alarms, "warm_up", lambda candidate, seed: None)
    monkeypatch.setattr(false_alarms, "check_forward",
                        lambda candidate, recipe: seen.append(recipe))
    false_alarms.sweep("numpy", examples=300, seconds=60, seed=3, log=lambda s: None,
                       only="forward", shape_pool=12)
    on_cpu = lambda r: structure(r.replace(spec=r.spec.replace(device="cpu")))  # noqa: E731
    assert len(seen) == 300 and {on_cpu(r) for r in seen} == {on_cpu(r) for r in pool}
    assert len({r.seed for r in seen}) == 300  # uniform 32-bit seeds, not Hypothesis' small ones
    assert len({(r.gate_scales, r.input_scale) for r in seen}) > 20
    monkeypatch.setitem(false_alarms.KNOWN_CRASHES, "numpy", ("every one", lambda r: True))
    with pytest.raises(ValueError, match="no structure left"):
        false_alarms.sweep("numpy", examples=3, seconds=60, seed=3, log=lambda s: None,
                           shape_pool=12)


def test_sweeps_with_different_seeds_draw_different_examples():
    # batch k of seed s once came from s + k: a sweep seeded s + 1 repeated the one seeded s
    first = {false_alarms.batch_seed(20261401, k) for k in range(50)}
    second = {false_alarms.batch_seed(20261402, k) for k in range(50)}
    assert not first & second
    # (every Hypothesis run starts with the same simplest example, which a sweep runs once)
    a = {repr(r) for r in false_alarms.draw_recipes(20, false_alarms.batch_seed(7, 1))}
    b = {repr(r) for r in false_alarms.draw_recipes(20, false_alarms.batch_seed(8, 0))}
    assert len(a & b) <= 1, a & b


def test_dynamic_compile_divergence_is_known_only_where_the_sweep_compiles_dynamically(
        monkeypatch):
    from conformance.adapters.torch_deploy import CompiledLSTM
    from conformance.model.cases import CaseRecipe
    from conformance.model.spec import LSTMSpec
    known = false_alarms.KNOWN_DIVERGENCES["torch-compile"][1]
    hit = CaseRecipe(spec=LSTMSpec(9, 1, num_layers=3, bias=False, dtype=torch.float16),
                     seq_len=2, batch=2)
    biased = CaseRecipe(spec=LSTMSpec(9, 1, dtype=torch.float16), seq_len=2, batch=2)
    monkeypatch.setattr(CompiledLSTM, "reuse", False)
    assert not known(hit)  # the suite's static compiles do not meet it
    monkeypatch.setattr(CompiledLSTM, "reuse", True)
    assert known(hit) and not known(biased)


def test_dtype_option_draws_only_those_dtypes(monkeypatch):
    # --dtype: a change to one dtype's tolerance is swept in that dtype alone
    wide = {false_alarms.draw_recipes(40, seed=5)[k].spec.dtype for k in range(40)}
    assert len(wide) == 4
    narrow = false_alarms.draw_recipes(40, seed=5, dtypes=(torch.float32, torch.float64))
    assert {r.spec.dtype for r in narrow} == {torch.float32, torch.float64}
    assert {s.dtype for s in false_alarms.draw_specs(10, 5, (torch.float64,))} == {torch.float64}
    seen = []
    monkeypatch.setattr(false_alarms, "sweep", lambda name, *args, **_: seen.append(args[-1]) or {
        "name": name, "counts": {}, "failures": [], "closest": {}, "seconds": 0.0,
        "examples": 0, "skipped": 0})
    monkeypatch.setattr(false_alarms.signal, "signal", lambda *args: None)  # pytest's stay
    monkeypatch.setattr(false_alarms.Limits, "timeout", false_alarms.Limits.timeout)
    monkeypatch.setattr(false_alarms.torch, "set_num_threads", lambda n: None)
    false_alarms.main(["--impl", "numpy", "--dtype", "bfloat16", "--examples", "1"])
    assert seen == [(torch.bfloat16,)]
