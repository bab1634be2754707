"""Which features of a failing example the failure needs: turn them off, re-run the check.

Features are turned off (num_layers -> 1, bidirectional -> False, packed -> padded,
float16 -> float32, ...) one after another while the example keeps failing the forward
check; the ones that cannot be turned off without it passing are *needed*. Measured on the
example itself, this tells "fails only with bidirectional and num_layers >= 2" apart from
features the shrunk example merely happens to have.
"""
from __future__ import annotations

import time

import torch

from conformance.model.cases import CaseRecipe
from conformance.checks.forward import ConformanceFailure, check_forward
from conformance.core.guard import CandidateTimeout

DTYPES = {"float16", "bfloat16", "float64"}


def turned_off(recipe: CaseRecipe, feature: str) -> CaseRecipe | None:
    """`recipe` without `feature` (its plain counterpart), or None if it has no off switch."""
    spec = recipe.spec
    if feature == "num_layers":
        return recipe.replace(spec=spec.replace(num_layers=1, dropout=0.0))
    if feature == "bidirectional":
        return recipe.replace(spec=spec.replace(bidirectional=False))
    if feature == "proj_size":
        return recipe.replace(spec=spec.replace(proj_size=0))
    if feature == "no_bias":
        return recipe.replace(spec=spec.replace(bias=True))
    if feature == "batch_first":
        return recipe.replace(spec=spec.replace(batch_first=False))
    if feature == "dropout":
        return recipe.replace(spec=spec.replace(dropout=0.0))
    if feature in DTYPES:
        return recipe.replace(spec=spec.replace(dtype=torch.float32))
    if feature == "unbatched":
        return recipe.replace(batch=1)
    if feature == "packed":
        return recipe.replace(lengths=None, enforce_sorted=False)
    if feature == "initial_state":
        return recipe.replace(hx="omitted")
    return None


def needed_features(candidate, recipe: CaseRecipe, timeout,
                    deadline: float) -> tuple[list[str], list[str]]:
    """(needed, probed): a 1-minimal set of `recipe`'s features that still fails.

    Features are turned off one after another (probed) for as long as the example keeps
    failing; those whose removal makes it pass are needed, and each is checked again on the
    final reduced example, so it still fails with everything else turned off and passes with
    any one of the needed features turned off as well.
    """
    current, needed, probed = recipe, [], []
    unsupported = set(getattr(candidate, "unsupported", ()))
    try:
        for feature in sorted(recipe.features()):
            probe = turned_off(current, feature)
            if probe is None or probe.features() & unsupported:
                continue
            verdict = _fails(candidate, probe, timeout, deadline)
            if verdict is None:
                continue
            probed.append(feature)
            if verdict:
                current = probe
            else:
                needed.append(feature)
        for feature in list(needed):  # removals after it may have made it unnecessary
            probe = turned_off(current, feature)
            if _fails(candidate, probe, timeout, deadline):
                current = probe
                needed.remove(feature)
    except Unknown:
        return None, probed  # a partial answer would claim needs it did not measure
    return needed, probed


class Unknown(Exception):
    """A probe ran out of time or the candidate hung: the needs stay unmeasured."""


def _fails(candidate, recipe: CaseRecipe, timeout, deadline: float) -> bool | None:
    """Whether the forward check fails; None when nn.LSTM itself rejects the probe."""
    if time.monotonic() > deadline:
        raise Unknown()
    try:
        check_forward(candidate, recipe, timeout=timeout)
    except ConformanceFailure as failure:
        if isinstance(failure.__cause__, CandidateTimeout):
            raise Unknown() from None
        return True
    except Exception:
        return None
    return False
