"""lstm-conformance: does your LSTM compute exactly what torch.nn.LSTM computes?

Public API::

    import conformance

    @conformance.register("my-lstm", unsupported={"packed"})
    def build(spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]):
        ...
        return forward          # forward(input, hx=None) -> (output, (h_n, c_n))

`conformance.check(name_or_candidate, recipe)` re-runs one example (failure messages print
the exact call); `conformance.check_gradients(...)` and `conformance.check_gradcheck(...)`
do the same for the gradient checks.
"""
from conformance import _compat
from conformance.model.cases import Case, CaseRecipe
from conformance.checks.capabilities import check_rejects
from conformance.checks.forward import ConformanceFailure, check
from conformance.model.features import FEATURES
from conformance.checks.gradients import check_gradcheck, check_gradients
from conformance.core.registry import Candidate, CandidateLoadError, register
from conformance.model.spec import GATES, LSTMSpec

__all__ = [
    "FEATURES", "GATES", "Candidate", "CandidateLoadError", "Case", "CaseRecipe",
    "ConformanceFailure", "LSTMSpec", "check", "check_rejects", "register",
    "check_gradcheck", "check_gradients",
]

_compat.install()
