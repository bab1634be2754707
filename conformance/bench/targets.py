"""What the benchmarks time: the baselines and the candidates.

A *target* is a registered candidate or a baseline: `nn.LSTM` itself (oneDNN on CPU, cuDNN
on cuda, when torch has them), and nn.LSTM with that library switched off, its plain ATen
kernels: `nn.LSTM-no-oneDNN` on CPU, `nn.LSTM-no-cuDNN` on cuda. "Every registered
candidate" — the built-ins and every adapter installed through the
`lstm_conformance.implementations` entry points — is the default set (`--impl` chooses).
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

from conformance import LSTMSpec

from ._internal import BrokenCandidate, Candidate, reference_module

REFERENCE = "nn.LSTM"
NO_ONEDNN = "nn.LSTM-no-oneDNN"
NO_CUDNN = "nn.LSTM-no-cuDNN"
BASELINES = (REFERENCE, NO_ONEDNN, NO_CUDNN)


def device_type(device: str) -> str:
    return torch.device(device).type


def onednn_available() -> bool:
    return torch.backends.mkldnn.is_available()


def cudnn_available() -> bool:
    try:
        return bool(torch.backends.cudnn.is_available())
    except Exception:  # a build without cuda
        return False


@dataclass(frozen=True)
class Target:
    """Something to time: a baseline or a candidate."""

    name: str
    candidate: Candidate | BrokenCandidate  # the baselines are candidates too, for the checks

    @property
    def baseline(self) -> bool:
        return self.name in BASELINES

    @property
    def onednn(self) -> bool:
        """Whether oneDNN may be used while this target runs."""
        return self.name != NO_ONEDNN and onednn_available()

    @property
    def cudnn(self) -> bool:
        """Whether cuDNN may be used while this target runs (on cuda)."""
        return self.name != NO_CUDNN and cudnn_available()

    def instantiate(self, spec: LSTMSpec, params: dict, requires_grad: bool):
        """(forward, leaves): a forward function and the tensors that receive gradients."""
        if self.baseline:
            module = reference_module(spec, params).requires_grad_(requires_grad)
            return _baseline_forward(self.name, module), dict(module.named_parameters())
        leaves = {k: v.detach().clone().requires_grad_(requires_grad) for k, v in params.items()}
        return self.candidate.build(spec, leaves), leaves


def _baseline_forward(name: str, module):
    if name == REFERENCE:
        return module
    flags = torch.backends.mkldnn.flags if name == NO_ONEDNN else torch.backends.cudnn.flags

    def forward(input, hx=None):
        with flags(enabled=False):
            return module(input, hx)
    return forward


def _baseline_build(name: str):
    def build(spec, params):
        return _baseline_forward(name, reference_module(spec, params))
    build.__qualname__ = f"baseline {name}"
    return build


BASELINE_ORIGINS = {REFERENCE: "torch.nn.LSTM", NO_ONEDNN: "torch.nn.LSTM without oneDNN",
                    NO_CUDNN: "torch.nn.LSTM without cuDNN"}


def baseline(name: str) -> Target:
    return Target(name, Candidate(name, _baseline_build(name), origin=BASELINE_ORIGINS[name]))


def baseline_names(device: str = "cpu") -> list[str]:
    """nn.LSTM, and nn.LSTM without the library it uses on this device (if torch has it)."""
    names = [REFERENCE]
    kind = device_type(device)
    if kind == "cpu" and onednn_available():
        names.append(NO_ONEDNN)
    if kind == "cuda" and cudnn_available():
        names.append(NO_CUDNN)
    return names


def targets(candidates, device: str = "cpu") -> list[Target]:
    """The baselines for `device`, then the candidates (every registered one, or --impl's)."""
    found = [baseline(name) for name in baseline_names(device)]
    names = {t.name for t in found}
    found += [Target(c.name, c) for c in candidates if c.name not in names]
    return found
