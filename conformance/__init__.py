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
from .cases import Case, CaseRecipe
from .capabilities import check_rejects
from .check import ConformanceFailure, check
from .features import FEATURES
from .gradients import check_gradcheck, check_gradients
from .registry import Candidate, CandidateLoadError, LibraryUnavailable, register
from .spec import GATES, LSTMSpec

__all__ = [
    "FEATURES", "GATES", "Candidate", "CandidateLoadError", "Case", "CaseRecipe",
    "ConformanceFailure", "LibraryUnavailable", "LSTMSpec", "check", "check_rejects", "register",
    "check_gradcheck", "check_gradients",
]
