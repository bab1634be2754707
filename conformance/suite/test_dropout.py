"""Dropout between layers: no effect in eval mode; in training mode only between layers.

The mode contract (forward.train()/.eval()) and what is checked: see conformance.checks.dropout.
"""
import pytest
import torch
from hypothesis import example, given
from hypothesis import strategies as st

from conformance import CaseRecipe, LSTMSpec

from conformance.model import pins
from conformance.model import strategies as cs
from conformance.checks.dropout import (check_dropout_eval, check_dropout_statistics,
                                 check_dropout_training)

STACKED = st.integers(2, cs.MAX_LAYERS)

# Two bidirectional layers, p = 1: the second layer sees only zeros in training mode.
P1_BIDIR = CaseRecipe(LSTMSpec(3, 4, num_layers=2, bidirectional=True, dropout=1.0,
                               dtype=torch.float64), seq_len=4, batch=2, hx="random", seed=21)
# The probe: enough elements for the binomial test to see a wrong drop rate.
PROBE = CaseRecipe(LSTMSpec(3, 8, num_layers=2, dropout=0.25, dtype=torch.float64), seq_len=8,
                   batch=4, hx="random", seed=22)


@pytest.mark.conformance("dropout")
@given(recipe=cs.recipes(spec=cs.dropout_specs(num_layers=STACKED)))
@example(recipe=P1_BIDIR)
@example(recipe=pins.ILL_CONDITIONED_FLOAT32.replace(
    spec=pins.ILL_CONDITIONED_FLOAT32.spec.replace(dropout=0.5)))
@example(recipe=pins.DROPOUT_EVAL_ONE_UNIT)
@example(recipe=pins.FUSED_CELL_UPDATE)
@example(recipe=pins.FEW_EQUAL_ERRORS)
def test_dropout_has_no_effect_in_eval_mode(candidate, recipe, conformance_run):
    check_dropout_eval(candidate, conformance_run.prepare(candidate, recipe))


@pytest.mark.conformance("dropout")
@given(recipe=cs.recipes(spec=cs.dropout_specs(dropout=st.just(1.0))))
@example(recipe=P1_BIDIR)
def test_dropout_p1_in_training_mode_equals_nn_lstm(candidate, recipe, conformance_run):
    check_dropout_training(candidate, conformance_run.prepare(candidate, recipe))


@pytest.mark.conformance("dropout")
@given(recipe=cs.recipes(spec=cs.dropout_specs(dropout=cs.dropouts(high=0.9),
                                               num_layers=STACKED, bias=st.just(True)),
                         hx=st.just("random"), seq_len=st.integers(3, cs.MAX_SEQ_LEN),
                         batch=st.integers(2, cs.MAX_BATCH)))
@example(recipe=PROBE)
def test_dropout_in_training_spares_first_layer_state_and_output(candidate, recipe,
                                                                 conformance_run):
    check_dropout_training(candidate, conformance_run.prepare(candidate, recipe))


@pytest.mark.conformance("dropout")
@given(recipe=cs.recipes(spec=cs.dropout_specs(dropout=st.sampled_from((0.5, 0.25, 0.75)),
                                               num_layers=st.just(2), bias=st.just(True),
                                               projection=st.just(False),
                                               hidden_size=st.integers(8, cs.MAX_SMALL_SIZE)),
                         input_kind=st.sampled_from(("padded", "packed")),
                         seq_len=st.integers(4, cs.MAX_SEQ_LEN), batch=st.integers(2, cs.MAX_BATCH)))
@example(recipe=PROBE)
def test_dropout_statistics_of_layer_inputs(candidate, recipe, conformance_run):
    recipe = conformance_run.prepare(candidate, recipe)
    if recipe.spec.num_layers != 2:
        pytest.skip(f"candidate {candidate.name!r} declares num_layers unsupported: no layer "
                    "input to probe")
    check_dropout_statistics(candidate, recipe)
