"""A suite run in the background, for the test modules that start theirs right after
collection (tests/conftest.py): started with its output in a file, killed if nobody waited."""
from __future__ import annotations

import subprocess
from pathlib import Path


def start(cmd: list[str], cwd, env: dict, output: Path) -> subprocess.Popen:
    """Start `cmd`, stdout and stderr into `output` (a file, not a pipe: a run never blocks on
    a full one)."""
    with open(output, "w") as log:
        return subprocess.Popen(cmd, cwd=cwd, env=env, stdout=log, stderr=subprocess.STDOUT,
                                text=True)


def kill(process: subprocess.Popen | None) -> None:
    """Stop `process` if it still runs."""
    if process is not None and process.poll() is None:
        process.kill()
        process.wait()
