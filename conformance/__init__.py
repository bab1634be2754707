"""lstm-conformance: does your LSTM compute exactly what torch.nn.LSTM computes?

Public API::

    import conformance

    @conformance.register("my-lstm", unsupported={"packed"})
    def build(spec: conformance.LSTMSpec, params: dict[str, torch.Tensor]):
        ...
        return forward          # forward(input, hx=None) -> (output, (h_n, c_n))

`conformance.check(name_or_candidate, recipe)` re-runs one example (failure messages print
the exact call); every family's check is exported here under the name its failures print
(`check_gradients`, `check_streaming`, ...). A failing check raises `ConformanceFailure`,
whose `.failure` holds the data (`Failure`: candidate, example, check, problems).

The names are imported when first used, so that the pytest plugin (a submodule, loaded in
every pytest session of an environment that has the package) costs nothing where the suite
does not run.
"""
from __future__ import annotations

import importlib

from conformance import _compat

_HOMES = {
    "check_rejects": "checks.capabilities",
    "check_packed_alone": "checks.composition", "check_stacking": "checks.composition",
    "check_unbatched": "checks.composition",
    "check_dropout_eval": "checks.dropout", "check_dropout_statistics": "checks.dropout",
    "check_dropout_training": "checks.dropout",
    "check": "checks.forward",
    "check_gradcheck": "checks.gradcheck", "check_gradients": "checks.gradients",
    "check_determinism": "checks.integrity", "check_no_mutation": "checks.integrity",
    "check_invalid": "checks.invalid",
    "check_known_answer": "checks.known_answers",
    "check_batch_first": "checks.metamorphic", "check_batch_permutation": "checks.metamorphic",
    "check_bidirectional": "checks.metamorphic", "check_streaming": "checks.metamorphic",
    "ConformanceFailure": "core.failures", "Failure": "core.failures", "Problem": "core.failures",
    "Candidate": "core.registry", "CandidateLoadError": "core.registry",
    "LibraryUnavailable": "core.registry",
    "register": "core.registry",
    "Case": "model.cases", "CaseRecipe": "model.cases",
    "FEATURES": "model.features",
    "GATES": "model.spec", "LSTMSpec": "model.spec",
}
__all__ = sorted(_HOMES)


def __getattr__(name: str):
    home = _HOMES.get(name)
    if home is None:
        try:  # a submodule under its old name (conformance.pins, ...)
            return importlib.import_module(f"{__name__}.{name}")
        except ImportError:
            raise AttributeError(f"module 'conformance' has no attribute {name!r}") from None
    value = getattr(importlib.import_module(f"{__name__}.{home}"), name)
    globals()[name] = value
    return value


def __dir__():
    return sorted(set(globals()) | set(_HOMES))


_compat.install()
