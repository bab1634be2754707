"""The README's worked example runs verbatim and gets the table the README shows.

README.md marks its example blocks with `<!-- readme-example: NAME -->` on the line before
the fenced block: the `tutorial_lstm.py` blocks, joined, are examples/tutorial_lstm.py; the
`command` block is run, as written, in a temporary directory holding that file; the `table`
block is the verdict table it must print (example counts vary between runs and are not
compared; the status of every column is). `.ci/run` runs the `install-and-run` and
`run-tests` blocks.
"""
import os
import re
import subprocess
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parents[1]
README = REPO / "README.md"
EXAMPLE = REPO / "examples" / "tutorial_lstm.py"
MARK = re.compile(r"<!-- readme-example: (\S+) -->\n+```[\w-]*\n(.*?)^```", re.S | re.M)


def blocks(name: str) -> list[str]:
    found = [body for mark, body in MARK.findall(README.read_text()) if mark == name]
    assert found, f"README.md has no block marked <!-- readme-example: {name} -->"
    return found


def example_source() -> str:
    return "\n\n".join(blocks("tutorial_lstm.py"))


def cells(line: str) -> list[str]:
    """A verdict table line split into cells ('ok 502' is one cell)."""
    out: list[str] = []
    for token in line.split():
        if out and out[-1] == "ok" and token.isdigit():
            out[-1] = f"ok {token}"
        else:
            out.append(token)
    return out


def row_statuses(text: str, candidate: str) -> dict[str, str]:
    """{column: status word} of `candidate`'s row in the verdict table printed in `text`."""
    lines = text.splitlines()
    header = next(i for i, line in enumerate(lines)
                  if line.split()[:2] == ["candidate", "basic"])
    columns = cells(lines[header])[1:]
    row = next(line for line in lines[header + 1:] if line.split()[:1] == [candidate])
    values = cells(row)[1:]
    assert len(values) == len(columns), f"cannot parse the table row {row!r}"
    return {c: v.split()[0] for c, v in zip(columns, values)}


def test_readme_code_is_the_example_file():
    assert example_source() == EXAMPLE.read_text(), (
        "README.md's tutorial_lstm.py blocks differ from examples/tutorial_lstm.py")


def test_ci_runs_exactly_the_readme_commands():
    """.ci/run runs the README's install-and-run and run-tests commands, in that order."""
    ci = [line.strip() for line in (REPO / ".ci" / "run").read_text().splitlines()
          if line.strip() and not line.lstrip().startswith("#")]
    commands = [c.strip() for c in blocks("install-and-run") + blocks("run-tests")]
    assert [line for line in ci if line in commands] == commands, (
        f".ci/run does not run the README's commands {commands}; it runs {ci}")


def test_readme_table_parses():
    shown = row_statuses(blocks("table")[0], "tutorial")
    assert shown["basic"] == "ok" and shown["packed"] == "unsup", shown


def test_readme_command_passes_and_prints_the_readme_row(tmp_path):
    (tmp_path / "tutorial_lstm.py").write_text(example_source())
    [command] = [c.strip() for c in blocks("command")]
    env = {k: v for k, v in os.environ.items()
           if k not in ("CI", "PYTEST_ADDOPTS", "PYTHONPATH", "PYTEST_CURRENT_TEST")
           and not k.startswith("PYTEST_XDIST")}  # the dev profile, as the README shows
    done = subprocess.run(["bash", "-c", command], cwd=tmp_path, env=env, capture_output=True,
                          text=True, timeout=300)
    out = done.stdout + done.stderr
    assert done.returncode == 0, f"`{command}` failed (exit {done.returncode}):\n{out[-4000:]}"
    assert "hypothesis profile dev" in out

    expected = row_statuses(blocks("table")[0], "tutorial")
    # The README was produced where torch reports neither cuda nor mps.
    if torch.cuda.is_available():
        expected["cuda"] = "ok"
    mps = getattr(torch.backends, "mps", None)
    if mps is not None and mps.is_available():
        expected["mps"] = "ok"
    assert row_statuses(out, "tutorial") == expected, out[-3000:]
