"""`lstm-conformance bench` from an installed copy, outside the repository: a user who did
`pip install lstm-conformance` times their own LSTM (a module in their working directory).

A venv in tmp_path (--system-site-packages, for torch and the test tools) gets this
repository installed non-editable (`pip install --no-deps --no-build-isolation`); then, in a
directory outside the repository, the command times the user's module next to nn.LSTM at the
smallest size — and a second user candidate whose gradients are wrong is reported as failed
without stopping the run. About 30-60 s on 2 cores.
"""
from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
import venv
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]

USER_MODULE = '''
import torch


def build(spec, params):
    """A correct (single-layer, seq-first) LSTM, computed on the given tensors."""
    def forward(input, hx=None):
        H = spec.hidden_size
        h = input.new_zeros(input.shape[1], H) if hx is None else hx[0][0]
        c = input.new_zeros(input.shape[1], H) if hx is None else hx[1][0]
        outputs = []
        for x in input.unbind(0):
            gates = (x @ params["weight_ih_l0"].T + h @ params["weight_hh_l0"].T
                     + params["bias_ih_l0"] + params["bias_hh_l0"])
            i, f, g, o = gates.chunk(4, 1)
            c = f.sigmoid() * c + i.sigmoid() * g.tanh()
            h = o.sigmoid() * c.tanh()
            outputs.append(h)
        return torch.stack(outputs), (h.unsqueeze(0), c.unsqueeze(0))
    return forward


def no_grad_reaches_params(spec, params):
    """Right output, but computed on copies: no gradient reaches the given parameters."""
    lstm = torch.nn.LSTM(**spec.lstm_kwargs())
    lstm.load_state_dict(params)
    return lstm.eval()
'''


def _run(command, cwd, env, timeout=400):
    return subprocess.run(command, cwd=cwd, env=env, capture_output=True, text=True,
                          timeout=timeout)


@pytest.mark.skipif(sys.platform == "win32", reason="venv layout")
def test_bench_runs_from_an_installed_copy_outside_the_repository(tmp_path):
    env_dir = tmp_path / "venv"
    venv.create(env_dir, system_site_packages=True, with_pip=False)
    python = env_dir / "bin" / "python"
    env = {k: v for k, v in os.environ.items() if k not in ("PYTHONPATH", "VIRTUAL_ENV")}
    source = tmp_path / "source"  # a copy: building in place would leave build/ in the repo
    source.mkdir()
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(REPO / name, source / name)
    for name in ("conformance", "impls"):  # impls/ as long as it is a top-level package
        if not (REPO / name).is_dir():
            continue
        shutil.copytree(REPO / name, source / name,
                        ignore=shutil.ignore_patterns("__pycache__", "*.egg-info"))
    install = _run([str(python), "-m", "pip", "install", "-q", "--no-deps",
                    "--no-build-isolation", str(source)], tmp_path, env)
    assert install.returncode == 0, install.stdout + install.stderr

    user = tmp_path / "user-project"
    user.mkdir()
    (user / "mymodule.py").write_text(USER_MODULE)
    where = _run([str(python), "-c", "import conformance.bench as b; print(b.__file__)"],
                 user, env)
    assert str(env_dir) in where.stdout, where.stdout + where.stderr  # the installed copy
    assert not where.stdout.startswith(str(REPO))

    result = _run([str(env_dir / "bin" / "lstm-conformance"), "bench",
                   "--impl", "mymodule:build", "--impl", "mymodule:no_grad_reaches_params",
                   "--targets", "nn.LSTM,mymodule:build,mymodule:no_grad_reaches_params",
                   "--sizes", "smallest", "--max-time", "0.01", "--threads", "1",
                   "--json", "out/bench.json"], user, env)
    output = result.stdout + result.stderr
    assert result.returncode == 1, output  # one target failed, and the run went on

    data = json.loads((user / "out" / "bench.json").read_text())
    timed = {(b["extra_info"]["target"], b["extra_info"]["direction"]): b
             for b in data["benchmarks"]}
    assert set(timed) == {("nn.LSTM", "fwd"), ("nn.LSTM", "fwd+bwd"), ("mymodule:build", "fwd"),
                          ("mymodule:build", "fwd+bwd"),
                          ("mymodule:no_grad_reaches_params", "fwd")}, sorted(timed)
    mine = timed[("mymodule:build", "fwd+bwd")]
    assert mine["group"] == "fwd+bwd N1-T10-I8-H8"
    assert mine["params"] == {"target": "mymodule:build", "size": "N1-T10-I8-H8"}
    assert mine["stats"]["min"] > 0
    assert mine["extra_info"]["check"] == "output and gradients match nn.LSTM"
    assert mine["extra_info"]["peak_memory_bytes"] is not None
    run = data["lstm_conformance_run"]
    assert run["failed"] == ["mymodule:no_grad_reaches_params"]
    [reason] = run["failures"]["mymodule:no_grad_reaches_params"]
    assert reason.startswith("N1-T10-I8-H8 fwd+bwd: ") and "grad of weight_ih_l0" in reason

    plots = user / "out" / "bench-plots"
    summary = (plots / "summary.md").read_text()
    assert "| mymodule:build |" in summary and "### Peak memory (MiB)" in summary
    assert "**mymodule:no_grad_reaches_params**" in summary
    assert (plots / "ratio.png").exists() and (plots / "memory_ratio.png").exists()
    assert "| mymodule:build |" in result.stdout  # the tables are printed too
    assert "\r" not in result.stderr  # not a terminal: no progress line
