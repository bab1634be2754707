"""What every adapter needs besides its library: availability, versions, the grad guard."""
from __future__ import annotations

import importlib.metadata
import importlib.util

import torch
from torch.nn.utils.rnn import PackedSequence

from conformance.core.registry import LibraryUnavailable


def require(*modules: str, extra: str) -> None:
    """Raise LibraryUnavailable unless every module can be imported (found, not imported)."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise LibraryUnavailable(
            f"{', '.join(missing)} not installed: pip install 'lstm-conformance[{extra}]'")


def versions(*distributions: str) -> dict[str, str]:
    """{distribution: installed version} for the report, torch's included."""
    out = {"torch": torch.__version__}
    for name in distributions:
        out[name] = importlib.metadata.version(name)
    return out


def reject_autograd(library: str, params, input, hx) -> None:
    """Raise when gradients are asked for: a library outside torch's autograd cannot give
    them to the given tensors, and silently returning detached results would look like a
    zero gradient. (Under torch.no_grad nothing is asked.)"""
    if not torch.is_grad_enabled():
        return
    tensors = list(params.values())
    tensors.append(input.data if isinstance(input, PackedSequence) else input)
    if hx is not None and not isinstance(hx, torch.Tensor):
        tensors.extend(t for t in hx if isinstance(t, torch.Tensor))
    if any(isinstance(t, torch.Tensor) and t.requires_grad for t in tensors):
        raise NotImplementedError(
            f"{library} computes outside torch's autograd: no gradients for the given tensors "
            "(feature 'backward' is declared unsupported)")
