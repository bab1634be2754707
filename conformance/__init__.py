"""lstm-conformance: does your LSTM compute exactly what torch.nn.LSTM computes?

Public API::

    import conformance

    @conformance.register("my-lstm", unsupported={"packed"})
    def build(spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]):
        ...
        return forward          # forward(input, hx=None) -> (output, (h_n, c_n))

`conformance.check(name_or_candidate, recipe)` re-runs one example (failure messages print
the exact call).
"""
from .cases import Case, CaseRecipe
from .check import ConformanceFailure, check
from .features import FEATURES
from .registry import Candidate, CandidateLoadError, register
from .spec import GATES, LSTMSpec

__all__ = [
    "FEATURES", "GATES", "Candidate", "CandidateLoadError", "Case", "CaseRecipe",
    "ConformanceFailure", "LSTMSpec", "check", "register",
]
