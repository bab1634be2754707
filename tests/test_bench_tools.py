"""Tests of the benchmark harness (conformance.bench) itself: the checks made before timing
refuse a wrong candidate, sizes parse, memory is measured, exponents are fitted, progress is
shown only on a terminal, the cuda path is taken when torch reports a device, the plots and
tables are written. Fast: part of the default run (the benchmarks themselves run once,
untimed, from conformance/bench/test_bench_lstm.py; tests/test_bench_installed.py runs the
command from an installed copy)."""
from __future__ import annotations

import io
import json
from pathlib import Path

import pytest
import torch

from conformance import ConformanceFailure
from conformance.bench import checks, cli, memory, plugin, progress, scaling, summary, timing
from conformance.bench import targets as bt
from conformance.bench.results import Result
from conformance.bench.sizes import LADDER, Size, parse_sizes
from conformance.bench._internal import Candidate, resolve  # the one import site

SMALL = Size(2, 5, 3, 4)
COMMITTED = Path(__file__).resolve().parents[1] / "docs" / "bench" / "bench.json"


def _fused():
    return next(c for c in resolve(["fused-torch"]))


class _DoubleGrad(torch.autograd.Function):
    """Identity forward, doubled gradient: a forward-correct, backward-wrong LSTM."""

    @staticmethod
    def forward(ctx, x):
        return x.view_as(x)

    @staticmethod
    def backward(ctx, grad):
        return 2 * grad


def _wrapped(name, change_output):
    fused = _fused()

    def build(spec, params):
        forward = fused.build(spec, params)

        def wrong(input, hx=None):
            output, state = forward(input, hx)
            return change_output(output), state
        return wrong
    return bt.Target(name, Candidate(name, build))


# -- checks before timing ---------------------------------------------------------------

def test_a_wrong_output_is_refused_before_timing():
    target = _wrapped("test-output-off", lambda out: out * 1.001)
    with pytest.raises(ConformanceFailure):
        checks.check_output(target, SMALL, "cpu")


def test_a_wrong_gradient_is_refused_before_timing():
    target = _wrapped("test-gradient-doubled", _DoubleGrad.apply)
    assert checks.check_output(target, SMALL, "cpu")  # the forward is right
    with pytest.raises(ConformanceFailure, match="grad of"):
        checks.check_gradients(target, SMALL, "cpu")


def test_a_correct_candidate_passes_both_checks():
    target = bt.Target("fused-torch", _fused())
    assert checks.check_gradients(target, SMALL, "cpu") == "output and gradients match nn.LSTM"


def test_sizes_parse():
    assert parse_sizes("smallest,2x5x3x4,smallest") == [LADDER[0], SMALL]
    assert parse_sizes("ladder") == list(LADDER)
    assert Size.from_id(SMALL.id) == SMALL
    for bad in ("2x5x3", "0x5x3x4", ""):
        with pytest.raises(ValueError):
            parse_sizes(bad)


def test_default_targets_are_the_baselines_and_every_registered_candidate():
    registered = resolve([])
    names = [t.name for t in bt.targets(registered, "cpu")]
    assert names[0] == bt.REFERENCE
    assert set(names) == set(bt.baseline_names("cpu")) | {c.name for c in registered}
    assert {"numpy", "naive-torch", "fused-torch", "lstmcell-loop"} <= set(names)


# -- memory -------------------------------------------------------------------------------

@pytest.mark.skipif(not memory.cpu_peak_available(), reason="needs Linux /proc/self/clear_refs")
def test_cpu_peak_memory_sees_one_calls_allocation_each_time():
    def allocates_32_mib():
        torch.empty(8 * 2**20, dtype=torch.float32).fill_(1.0)  # touched, then freed

    def allocates_nothing():
        pass

    big = memory.measure(allocates_32_mib, "cpu")
    assert big.method == memory.CPU_METHOD
    # every one of the calls sees the 32 MiB again: the peak is reset between calls, and
    # memory freed by the previous call is not silently reused
    assert all(30 * 2**20 <= s <= 40 * 2**20 for s in big.samples), big.samples
    assert memory.measure(allocates_nothing, "cpu").bytes < 2**20


@pytest.mark.skipif(not memory.cpu_peak_available(), reason="needs Linux /proc/self/clear_refs")
def test_forward_backward_needs_more_memory_than_forward():
    target, size = bt.baseline(bt.REFERENCE), Size(16, 50, 32, 64)
    peaks = {}
    for name, make in (("fwd", timing.forward_step), ("fwd+bwd", timing.forward_backward_step)):
        step = make(target, size, "cpu")
        timing.warm_up(step)
        peaks[name] = memory.measure(step, "cpu").bytes
    output = size.N * size.T * size.H * 4
    assert peaks["fwd"] >= output // 2, peaks  # the output at least (page granularity aside)
    assert peaks["fwd+bwd"] > 2 * peaks["fwd"], peaks  # saved activations and the gradients


# -- the cuda path, without a GPU -----------------------------------------------------------

def test_the_cuda_path_is_taken_when_torch_reports_a_device(monkeypatch):
    calls = []
    monkeypatch.setattr(torch.cuda, "is_available", lambda: True)
    monkeypatch.setattr(torch.backends.cudnn, "is_available", lambda: True)
    monkeypatch.setattr(torch.cuda, "synchronize", lambda device=None: calls.append("sync"))
    monkeypatch.setattr(torch.cuda, "reset_peak_memory_stats",
                        lambda device=None: calls.append("reset"))
    allocated = iter([1000, 1000])
    monkeypatch.setattr(torch.cuda, "memory_allocated", lambda device=None: next(allocated))
    monkeypatch.setattr(torch.cuda, "max_memory_allocated", lambda device=None: 5096)

    assert cli.resolve_device("auto") == "cuda"
    args = cli.parse_args(["--impl", "fused-torch", "--sizes", "smallest"])
    assert args.device == "cuda"
    command = cli.child_command("nn.LSTM", args, Path("x.json"), Path("pytest.ini"))
    assert "--conformance-bench-device=cuda" in command
    # on cuda the baselines are nn.LSTM (cuDNN) and nn.LSTM without cuDNN, not oneDNN
    assert bt.baseline_names("cuda") == [bt.REFERENCE, bt.NO_CUDNN]
    assert bt.baseline(bt.NO_CUDNN).cudnn is False and bt.baseline(bt.REFERENCE).cudnn

    timing.synchronizer("cuda")()  # a timed step ends by waiting for the kernels
    assert calls == ["sync"]
    calls.clear()
    peak = memory.measure(lambda: calls.append("step"), "cuda", repeats=1)
    assert peak.method == memory.CUDA_METHOD and peak.bytes == 4096
    assert calls == ["sync", "reset", "step", "sync"]


def test_without_a_device_auto_means_cpu(monkeypatch):
    monkeypatch.setattr(torch.cuda, "is_available", lambda: False)
    assert cli.resolve_device("auto") == "cpu"
    assert bt.baseline_names("cpu")[0] == bt.REFERENCE


# -- scaling, tables ----------------------------------------------------------------------

def _synthetic():
    """time = T * H^2 * 1e-6 s, memory = N * T * H * 64 bytes, along the three sweeps."""
    results = []
    for axis, sweep in (("T", (25, 50, 100, 200)), ("H", (32, 64, 128)), ("N", (1, 8, 32))):
        for value in sweep:
            dims = {**dict(N=32, T=100, I=128, H=128), axis: value}
            for direction in ("fwd", "fwd+bwd"):
                for name, factor in (("nn.LSTM", 1.0), ("mine", 2.0)):
                    results.append(Result(
                        name, direction, dims["N"], dims["T"], dims["I"], dims["H"],
                        factor * dims["T"] * dims["H"] ** 2 * 1e-6, (f"sweep-{axis}",),
                        int(dims["N"] * dims["T"] * dims["H"] * 64)))
    return results


def test_exponents_are_the_log_log_slopes_of_the_sweeps():
    results = _synthetic()
    time_k = scaling.exponents(results, "time")
    memory_k = scaling.exponents(results, "memory")
    assert time_k[("mine", "fwd", "T")] == pytest.approx(1.0)
    assert time_k[("mine", "fwd+bwd", "H")] == pytest.approx(2.0)
    assert time_k[("mine", "fwd", "N")] == pytest.approx(0.0, abs=1e-12)
    assert all(memory_k[("nn.LSTM", "fwd", axis)] == pytest.approx(1.0) for axis in "TNH")
    assert scaling.growth_exponent([(1, 5.0)]) is None
    text = summary.markdown(results, {})
    assert "### Scaling exponents" in text
    assert "| mine | fwd | 1.00 | 2.00 | 0.00 | 1.00 | 1.00 | 1.00 |" in text


def test_summary_shows_memory_ratios_and_failures():
    results = [Result("nn.LSTM", "fwd", 1, 10, 8, 8, 0.001, ("ladder",), 4 * 2**20),
               Result("mine", "fwd", 1, 10, 8, 8, 0.003, ("ladder",), 6 * 2**20)]
    text = summary.markdown(results, {"run": {"failures": {"broken": ["N1-T10-I8-H8 fwd: "
                                                                      "it did not load"]}}})
    assert "| mine | 3 (3.00x) | – |" in text
    assert "### Peak memory (MiB) and ratio to nn.LSTM" in text
    assert "| mine | 6 (1.50x) | – |" in text
    assert "**broken**: N1-T10-I8-H8 fwd: it did not load" in text


# -- progress -----------------------------------------------------------------------------

class _Terminal(io.StringIO):
    def isatty(self):
        return True


def test_progress_on_a_terminal_and_nothing_otherwise():
    start = {"event": "start", "nodeid": "x.py::test_forward_backward[nn.LSTM-no-oneDNN-"
                                         "N1-T10-I8-H8]"}
    end = dict(start, event="end", outcome="passed", message="")
    terminal = _Terminal()
    shown = progress.Progress(4, terminal)
    shown.event("nn.LSTM-no-oneDNN", start)
    shown.event("nn.LSTM-no-oneDNN", end)
    shown.close()
    text = terminal.getvalue()
    assert "[0/4] nn.LSTM-no-oneDNN N1-T10-I8-H8 fwd+bwd  elapsed 0s" in text
    assert "[1/4] nn.LSTM-no-oneDNN" in text
    pipe = io.StringIO()
    quiet = progress.Progress(4, pipe)
    quiet.event("nn.LSTM", start)
    quiet.event("nn.LSTM", end)
    quiet.close()
    assert pipe.getvalue() == "" and quiet.done == 1


def test_events_name_the_target_size_and_direction(tmp_path):
    assert progress.describe("a/b.py::test_forward[mod:build-N32-T100-I128-H128]") == {
        "target": "mod:build", "size": "N32-T100-I128-H128", "direction": "fwd"}
    assert progress.describe("a/b.py::test_other[x]") is None
    path = tmp_path / "events"
    path.write_text('{"event": "start", "nodeid": "n"}\n{"event": "en')  # a partial line
    events, offset = progress.read_events(path)
    assert events == [{"event": "start", "nodeid": "n"}]
    with path.open("a") as f:
        f.write('d", "nodeid": "n"}\n')
    assert progress.read_events(path, offset)[0] == [{"event": "end", "nodeid": "n"}]


# -- command line, pytest options ---------------------------------------------------------

def test_lstm_conformance_bench_dispatches_to_the_bench_command(capsys):
    from conformance import cli as main_cli

    with pytest.raises(SystemExit) as exit_info:
        main_cli.main(["bench", "--help"])
    assert exit_info.value.code == 0
    assert "usage: lstm-conformance bench" in capsys.readouterr().out


def test_an_impl_that_does_not_load_is_a_usage_error(capsys):
    assert cli.main(["--impl", "no_such_module_xyz:build", "--sizes", "smallest"]) == 2
    assert "no_such_module_xyz" in capsys.readouterr().err


def test_the_bench_pytest_options_carry_the_plugin_prefix():
    names = []

    class Group:
        def addoption(self, *opts, **kwargs):
            names.extend(opts)

    class Parser:
        def getgroup(self, name):
            return Group()

    plugin.pytest_addoption(Parser())
    assert names and all(n.startswith("--conformance-bench-") for n in names), names


def test_a_failed_target_is_reported_with_its_reasons():
    nodeid = "m.py::test_forward_backward[bad-N1-T10-I8-H8]"
    outcome = {"rc": 1, "log": "", "ends": [
        {"event": "end", "nodeid": nodeid.replace("_backward", ""), "outcome": "passed",
         "message": ""},
        {"event": "end", "nodeid": nodeid, "outcome": "failed", "message": "grad of input"}]}
    assert cli.problems_of("bad", outcome) == (["N1-T10-I8-H8 fwd+bwd: grad of input"], [])
    crashed = {"rc": 4, "log": "ERROR: usage\n", "ends": []}
    assert cli.problems_of("x", crashed)[0] == ["pytest exited with status 4: ERROR: usage"]


# -- plots --------------------------------------------------------------------------------

def test_plot_command_writes_the_plots_and_tables(tmp_path, capsys):
    """`lstm-conformance-plot` on the committed benchmark run: the PNGs, and a summary whose
    ratios and memory agree with the JSON."""
    pytest.importorskip("matplotlib")
    from conformance.bench import plots
    from conformance.bench.results import load

    assert plots.main([str(COMMITTED), "-o", str(tmp_path)]) == 0
    for name in ("time_vs_T.png", "time_vs_H.png", "time_vs_N.png", "ratio.png",
                 "memory_vs_T.png", "memory_vs_H.png", "memory_vs_N.png", "memory_ratio.png"):
        png = tmp_path / name
        assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n", name
    text = (tmp_path / "summary.md").read_text()
    results = load(COMMITTED)
    base = (32, 100, 128, 128)
    ratio = summary.ratios(results, base)[("fused-torch", "fwd")]
    fused = next(r for r in results if r.target == "fused-torch" and r.direction == "fwd"
                 and r.size == base)
    row = next(line for line in text.splitlines() if line.startswith("| fused-torch |"))
    assert f"{summary.fmt('time', fused.seconds)} ({ratio:.2f}x)" in row, row
    assert "### Peak memory (MiB) and ratio to nn.LSTM" in text
    assert "### Scaling exponents" in text
    assert "wrote" in capsys.readouterr().out


def test_plot_command_refuses_a_json_without_lstm_results(tmp_path, capsys):
    pytest.importorskip("matplotlib")
    from conformance.bench import plots

    empty = tmp_path / "empty.json"
    empty.write_text('{"machine_info": {}, "benchmarks": []}')
    with pytest.raises(SystemExit) as exit_info:
        plots.main([str(empty), "-o", str(tmp_path / "plots")])
    assert exit_info.value.code == 2
    assert "no LSTM benchmark results" in capsys.readouterr().err


def test_merge_keeps_each_benchmarks_best_run(tmp_path):
    def bench(minimum, peak):
        return {"fullname": "f[x]", "group": "fwd N1", "name": "f[x]",
                "stats": {"min": minimum, "data": [minimum]},
                "extra_info": {"peak_memory_bytes": peak}}
    for i, (m, p) in enumerate(((2.0, 10), (1.0, 12))):
        (tmp_path / f"{i}.json").write_text(json.dumps({"machine_info": {},
                                                         "benchmarks": [bench(m, p)]}))
    merged = cli.merge([tmp_path / "0.json", tmp_path / "1.json", tmp_path / "missing.json"])
    [best] = merged["benchmarks"]
    assert best["stats"] == {"min": 1.0} and best["extra_info"]["peak_memory_bytes"] == 12
    assert cli.merge([tmp_path / "missing.json"])["benchmarks"] == []
