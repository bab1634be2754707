"""Map a recipe onto what a candidate supports and what devices this run may use.

Strategies generate every feature; instead of filtering (which starves candidates with many
limits), each unsupported feature is replaced by its plain counterpart. The result never
needs a feature the candidate declared unsupported, unless nothing else is possible (e.g. a
candidate that supports neither batch_first nor seq_first), in which case `None` is returned.
"""
from __future__ import annotations

import torch

from conformance.model.cases import DTYPE_NAMES, CaseRecipe

DTYPE_PREFERENCE = (torch.float32, torch.float64, torch.bfloat16, torch.float16)
DEVICE_DTYPES = {"mps": (torch.float32, torch.float16, torch.bfloat16)}  # mps has no float64


def restrict(recipe: CaseRecipe, unsupported: frozenset[str],
             devices: tuple[str, ...]) -> CaseRecipe | None:
    spec = recipe.spec
    changes = {}
    if "num_layers" in unsupported:
        changes["num_layers"] = 1
    if "bidirectional" in unsupported:
        changes["bidirectional"] = False
    if "proj_size" in unsupported:
        changes["proj_size"] = 0
    if "no_bias" in unsupported:
        changes["bias"] = True
    if "dropout" in unsupported:
        changes["dropout"] = 0.0
    if spec.batch_first and "batch_first" in unsupported:
        changes["batch_first"] = False
    if not spec.batch_first and "seq_first" in unsupported:
        changes["batch_first"] = True
    if changes.get("batch_first", spec.batch_first) and "batch_first" in unsupported:
        return None  # neither layout is supported

    usable_devices = [d for d in devices if d not in unsupported]
    if not usable_devices:
        return None
    device = spec.device if spec.device in usable_devices else usable_devices[0]
    dtype_ok = [d for d in DEVICE_DTYPES.get(device, DTYPE_PREFERENCE)
                if DTYPE_NAMES[d] not in unsupported]
    if not dtype_ok:
        return None
    changes["device"] = device
    changes["dtype"] = spec.dtype if spec.dtype in dtype_ok else dtype_ok[0]
    new = recipe.replace(spec=spec.replace(**changes))

    if new.packed and "packed" in unsupported:
        new = new.replace(lengths=None, enforce_sorted=False)
    if new.unbatched and "unbatched" in unsupported:
        new = new.replace(batch=1)
    if new.has_initial_state and "initial_state" in unsupported:
        new = new.replace(hx="omitted")
    return new


def available_devices() -> tuple[str, ...]:
    """The devices torch reports on this machine: cpu always, cuda and mps when present."""
    found = ["cpu"]
    if torch.cuda.is_available():
        found.append("cuda")
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        found.append("mps")
    return tuple(found)
