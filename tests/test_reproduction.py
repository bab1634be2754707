"""Meta-test: the snippet in every family's failure message reproduces that failure.

A user copies the "reproduce with:" lines into a fresh interpreter; they must import, load the
candidate the way the suite loaded it, and raise the same problem again.
"""
import re

import pytest
import torch

from conformance import CaseRecipe, ConformanceFailure, LSTMSpec
from conformance.checks.capabilities import check_rejects
from conformance.checks.forward import check
from conformance.core.registry import load
from conformance.checks.dropout import check_dropout_eval
from conformance.checks.gradients import check_gradients
from conformance.checks.invalid import check_invalid
from conformance.checks.known_answers import check_known_answer
from conformance.checks.integrity import check_no_mutation

SMALL = CaseRecipe(LSTMSpec(3, 4, num_layers=2, dtype=torch.float64), seq_len=4, batch=2,
                   hx="random", seed=5)

BUGS = "tests.catalog.bugs"
BEYOND = "tests.catalog.bugs_beyond"
GRADIENT_BUGS = "tests.catalog.bugs_gradients"

CASES = {
    "forward": (f"{BUGS}:build_gate_order_if", lambda c: check(c, SMALL)),
    "gradients": (f"{GRADIENT_BUGS}:build_grad_c_detached", lambda c: check_gradients(c, SMALL)),
    "invalid": (f"{BEYOND}:build_hx_batch_broadcast", lambda c: check_invalid(c, SMALL)),
    "mutation": (f"{BEYOND}:build_hx_overwritten_with_final_state",
                 lambda c: check_no_mutation(c, SMALL)),
    "dropout": (f"{BEYOND}:build_dropout_in_eval_mode",
                lambda c: check_dropout_eval(c, SMALL.replace(spec=SMALL.spec.replace(dropout=0.5)))),
    "known answer": (f"{BUGS}:build_gate_order_if",
                     lambda c: check_known_answer(c, "seed004-hand-set-gates@float64")),
    "capability": ("tests.test_reproduction:liar",
                   lambda c: check_rejects(c, SMALL, "num_layers")),
}


def _liar_build(spec, params):
    lstm = torch.nn.LSTM(**spec.lstm_kwargs())
    lstm.load_state_dict(params)
    return lstm.eval()


# Declares num_layers unsupported but runs two layers anyway.
import conformance  # noqa: E402

liar = conformance.register("liar-num-layers", unsupported={"num_layers"})(_liar_build)


def snippet_of(message: str) -> str:
    lines = message.splitlines()
    start = lines.index("  reproduce with:") + 1
    return "\n".join(line[6:] for line in lines[start:] if line.startswith("      "))


def first_problem(message: str) -> str:
    line = next(line for line in message.splitlines() if line.startswith("  - "))
    return re.sub(r"0x[0-9a-f]+", "0x?", line)


@pytest.mark.parametrize("family", list(CASES))
def test_snippet_reproduces_the_failure(family):
    ref, run_check = CASES[family]
    with pytest.raises(ConformanceFailure) as first:
        run_check(load(ref))
    message = str(first.value)
    snippet = snippet_of(message)
    assert ref in snippet, snippet  # loads the candidate the way the suite did
    with pytest.raises(ConformanceFailure) as again:
        exec(compile(snippet, f"<snippet {family}>", "exec"), {})
    assert first_problem(str(again.value)) == first_problem(message)
