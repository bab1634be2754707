"""The harness never breaks: every misbehaving candidate or bad argument gets one clear
message naming the candidate, and the other candidates still run.

These run pytest in a subprocess (pytester), as a user would.
"""
import os
from pathlib import Path

import pytest
import torch

from conformance.core.registry import CandidateLoadError, resolve
from conformance.model.features import available_devices

REPO = Path(__file__).resolve().parents[1]
FAST = ["-p", "no:cacheprovider", "--hypothesis-profile", "ci", "-k", "test_single_layer_cell"]


@pytest.fixture
def run(pytester, monkeypatch):
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join(
        [str(REPO), str(pytester.path), os.environ.get("PYTHONPATH", "")]))

    def run_suite(*args):
        return pytester.runpytest_subprocess("--pyargs", "conformance.suite", *args)
    return run_suite


def impl(name):
    return ["--conformance-impl", f"tests.harness_candidates:{name}"]


def test_misbehaving_candidates_each_get_a_clear_message(run):
    names = ["good", "raises", "build_raises", "wrong_type", "wrong_arity", "wrong_shape",
             "nan", "wrong_dtype", "hangs", "prints"]
    args = [a for n in names for a in impl(n)]
    result = run(*args, *FAST, "--conformance-example-timeout", "1")
    out = result.stdout.str()
    expected = {
        "raises": ") raised RuntimeError: kernel exploded",
        "build-raises": "build(spec, params) raised KeyError",
        "wrong-type": "forward returned a Tensor of shape",
        "wrong-arity": "forward returned a tuple of 3 items",
        "wrong-shape": "h_n has shape",
        "nan": "c_n differs from nn.LSTM at index (0, 0, 0): got nan",
        "wrong-dtype": "h_n has dtype",
        "hangs": "did not return within 1 s (--conformance-example-timeout)",
    }
    for name, message in expected.items():
        assert f"candidate {name!r} does not match torch.nn.LSTM" in out or name == "hangs", name
        assert message in out, f"{name}: expected {message!r} in the output"
    assert "test_single_layer_cell[good] PASSED" in out or "FAILED" not in _lines_for(out, "[good]")
    assert "test_single_layer_cell[prints]" not in _failed_lines(out)
    assert "candidate 'prints' printed while being checked" in out
    assert "debug: forward called" not in out.replace("(first line: 'debug: forward called')", "")
    result.assert_outcomes(passed=2, failed=8)


def _failed_lines(out):
    return "\n".join(line for line in out.splitlines() if line.startswith("FAILED"))


def _lines_for(out, needle):
    return "\n".join(line for line in out.splitlines() if needle in line)


def test_unknown_impl_is_a_usage_error(run):
    result = run("--conformance-impl", "no-such-lstm")
    assert result.ret == pytest.ExitCode.USAGE_ERROR
    result.stderr.fnmatch_lines(["*--impl 'no-such-lstm': no such candidate. Registered:*numpy*"])


def test_impl_module_that_fails_to_import(tmp_path, monkeypatch):
    (tmp_path / "broken_plugin.py").write_text("raise ImportError('missing dependency: fancylib')")
    monkeypatch.syspath_prepend(str(tmp_path))
    with pytest.raises(CandidateLoadError, match="importing 'broken_plugin' failed: "
                                                 "ImportError: missing dependency: fancylib"):
        resolve(["broken_plugin:build"])


def test_impl_attribute_that_is_not_a_candidate():
    with pytest.raises(CandidateLoadError, match="has no attribute 'missing_attr'"):
        resolve(["tests.harness_candidates:missing_attr"])
    with pytest.raises(CandidateLoadError, match="is a int, not a build function"):
        resolve(["tests.harness_candidates:not_a_candidate"])
    with pytest.raises(CandidateLoadError, match="expected 'package.module:attr'"):
        resolve(["tests.harness_candidates:"])


def test_plain_build_function_claims_every_feature():
    [candidate] = resolve(["tests.harness_candidates:plain_build"])
    assert candidate.name == "tests.harness_candidates:plain_build"
    assert candidate.unsupported == frozenset() and not candidate.xfail


def test_entry_point_that_fails_to_load_does_not_stop_the_others(run, pytester):
    # A distribution on the path whose entry point imports a module that raises.
    info = pytester.path / "broken_dist-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: broken-dist\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text(
        "[lstm_conformance.implementations]\nbroken = exploding_module:build\n")
    pytester.makepyfile(exploding_module="raise RuntimeError('plugin import exploded')")
    result = run(*FAST[:4], "-k", "test_candidate_loads or test_single_layer_cell")
    out = result.stdout.str()
    assert "entry point broken = 'exploding_module:build'" in out
    assert "failed to load: RuntimeError: plugin import exploded" in out
    assert "test_candidate_loads[broken] FAILED" in out or "FAILED" in _lines_for(out, "[broken]")
    # the built-ins still ran and passed
    for name in ("numpy", "naive-torch", "fused-torch", "lstmcell-loop"):
        assert "FAILED" not in _lines_for(_failed_lines(out), f"[{name}]"), name
    result.assert_outcomes(failed=1, passed=8, skipped=1)


def test_stale_or_conflicting_declarations_are_errors():
    import conformance

    with pytest.raises(ValueError, match="unknown feature name.*'pakced'"):
        conformance.register("x", unsupported={"pakced"})
    with pytest.raises(ValueError, match="unknown feature name.*'bidir'"):
        conformance.register("x", xfail={"bidir": "why"})
    with pytest.raises(ValueError, match="both unsupported and xfail"):
        conformance.register("x", unsupported={"packed"}, xfail={"packed": "why"})
    with pytest.raises(ValueError, match="give a reason"):
        conformance.register("x", xfail={"packed": ""})


def test_cuda_is_selected_when_torch_reports_it(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    assert "cuda" in available_devices()
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert "cuda" not in available_devices()


@pytest.mark.skipif(torch.cuda.is_available(), reason="this machine has cuda")
def test_cuda_tests_skip_cleanly_without_a_device(run):
    result = run("--conformance-impl", "numpy", "-p", "no:cacheprovider", "-k", "test_device", "-rs")
    result.stdout.fnmatch_lines(["*SKIPPED*device cuda: torch reports no such device here*"])
    result.assert_outcomes(passed=1, skipped=2)


def test_device_option_excludes_devices(run):
    result = run("--conformance-impl", "numpy", "--conformance-device", "cpu", "-p",
                 "no:cacheprovider", "--co")
    result.stdout.fnmatch_lines(["lstm-conformance: candidates numpy; devices cpu;*"])
