"""Devices: the cuda column runs when torch reports a cuda device, and is skipped cleanly
(with the reason) when it does not.

On a machine without a GPU, "torch reports cuda" is simulated with monkeypatch (undone after
each test), in this process: `available_devices()` directly, and a whole in-process pytest run
of the device family.
"""
import pytest
import torch
from hypothesis import settings

from conformance.model.cases import CaseRecipe
from conformance.model.features import available_devices, restrict
from conformance.model.spec import LSTMSpec

HAS_CUDA = torch.cuda.is_available()
DEVICE_FAMILY = ["--pyargs", "conformance.suite", "-p", "no:cacheprovider", "--conformance-impl", "numpy",
                 "-k", "test_device and cuda", "-rs"]


def _no_mps(monkeypatch):
    mps = getattr(torch.backends, "mps", None)
    if mps is not None:
        monkeypatch.setattr(mps, "is_available", lambda: False)


def test_cuda_is_listed_when_torch_reports_it(monkeypatch):
    _no_mps(monkeypatch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert available_devices() == ("cpu", "cuda")


def test_only_cpu_when_torch_reports_no_cuda(monkeypatch):
    _no_mps(monkeypatch)
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert available_devices() == ("cpu",)


def test_cuda_examples_stay_on_cuda_only_when_the_run_has_it():
    recipe = CaseRecipe(LSTMSpec(3, 4, device="cuda"), seq_len=2, batch=2)
    assert restrict(recipe, frozenset(), ("cpu", "cuda")).spec.device == "cuda"
    assert restrict(recipe, frozenset(), ("cpu",)).spec.device == "cpu"
    assert restrict(recipe, frozenset({"cuda"}), ("cpu", "cuda")).spec.device == "cpu"


@pytest.fixture
def inline_run(pytester):
    """pytester.runpytest_inprocess, keeping this session's Hypothesis profile."""
    profile = settings.get_current_profile_name()
    yield lambda *args: pytester.runpytest_inprocess(
        *args, "--hypothesis-profile", profile)
    settings.load_profile(profile)


def test_cuda_column_is_skipped_cleanly_without_cuda(inline_run, monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    result = inline_run(*DEVICE_FAMILY)
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines([
        "*lstm-conformance: candidates numpy; devices cpu*",
        "*device cuda: torch reports no such device here*",
    ])
    # Asking for it does not make it appear.
    result = inline_run(*DEVICE_FAMILY, "--conformance-device", "cuda")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*device cuda: torch reports no such device here*"])


def test_cuda_column_runs_when_torch_reports_cuda(inline_run, monkeypatch):
    """With torch reporting cuda, the test of the cuda column is not skipped: its examples are
    built on cuda. Without a real GPU, building them fails inside torch, which shows they
    went there; with one, they pass."""
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    result = inline_run(*DEVICE_FAMILY)
    result.stdout.fnmatch_lines(["*lstm-conformance: candidates numpy; devices cpu, cuda*"])
    assert "torch reports no such device here" not in result.stdout.str()
    if HAS_CUDA:
        result.assert_outcomes(passed=1)
    else:
        result.assert_outcomes(failed=1)
        result.stdout.fnmatch_lines(["*test_device[[]numpy-cuda[]]*",
                                     "*Torch not compiled with CUDA enabled*"])
    # --device cpu excludes it again, with its own reason.
    result = inline_run(*DEVICE_FAMILY, "--conformance-device", "cpu")
    result.assert_outcomes(skipped=1)
    result.stdout.fnmatch_lines(["*device cuda: excluded by --conformance-device*"])
