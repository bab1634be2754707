"""Which features of a failing example the failure needs: turn them off, re-run the check.

Features (and shape edges such as T=1) are turned off (num_layers -> 1, bidirectional ->
False, packed -> padded, N=0 -> N=1, float16 -> float32, ...; `features.turned_off`) one
after another while the example keeps failing; the ones that cannot be turned off without
it passing are *needed*. Measured on the example itself, this tells "fails only with
bidirectional and num_layers >= 2" apart from features the shrunk example merely happens to
have.

The check re-run is the failing one, unless the forward check fails on the example too: then
the defect is in the forward computation, and the forward check measures its needs for
every family alike. Every re-run goes through the sandbox like any check, so a candidate that
crashes or hangs on the example is probed as safely as one that returns wrong numbers; a
crash or a hang counts as failing.
"""
from __future__ import annotations

import time

from conformance.checks.forward import check_forward
from conformance.core.failures import ConformanceFailure
from conformance.model.features import edges, turned_off


class Unknown(Exception):
    """The probe ran out of time: the needs stay unmeasured."""


def needed_features(candidate, recipe, deadline: float, check=check_forward,
                    kwargs: dict | None = None) -> tuple[list[str] | None, list[str]]:
    """(needed, probed): a 1-minimal set of `recipe`'s features and edges that still fails
    `check(candidate, recipe, **kwargs)`; needed is None if time ran out.

    Features are turned off one after another (probed) for as long as the example keeps
    failing; those whose removal makes it pass are needed, and each is checked again on the
    final reduced example, so it still fails with everything else turned off and passes with
    any one of the needed features turned off as well.
    """
    kwargs = kwargs or {}
    current, needed, probed = recipe, [], []
    unsupported = set(getattr(candidate, "unsupported", ()))
    try:
        for feature in sorted(recipe.features() | edges(recipe)):
            probe = turned_off(current, feature)
            if probe is None or probe.features() & unsupported:
                continue
            verdict = fails(candidate, probe, deadline, check, kwargs)
            if verdict is None:
                continue
            probed.append(feature)
            if verdict:
                current = probe
            else:
                needed.append(feature)
        for feature in list(needed):  # removals after it may have made it unnecessary
            probe = turned_off(current, feature)
            if fails(candidate, probe, deadline, check, kwargs):
                current = probe
                needed.remove(feature)
    except Unknown:
        return None, probed  # a partial answer would claim needs it did not measure
    return needed, probed


def fails(candidate, recipe, deadline: float, check=check_forward,
          kwargs: dict | None = None) -> bool | None:
    """Whether `check` fails on `recipe`; None when it does not apply (it or nn.LSTM rejects
    the probe)."""
    if time.monotonic() > deadline:
        raise Unknown()
    try:
        check(candidate, recipe, **(kwargs or {}))
    except ConformanceFailure:
        return True
    except Exception:
        return None
    return False
