"""`lstm-conformance`: run the conformance suite and print the verdict table.

`lstm-conformance scoreboard [...]` runs the scoreboard (conformance/scoreboard/); otherwise
every argument goes to pytest; `--impl NAME` (repeatable) picks candidates, and the exit
status is pytest's.
"""
from __future__ import annotations

import sys

import pytest


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["scoreboard"]:  # `lstm-conformance scoreboard ...`: every adapter
        from .scoreboard.cli import main as scoreboard
        return scoreboard(args[1:])
    return int(pytest.main(["--pyargs", "conformance.suite", *args]))


if __name__ == "__main__":
    raise SystemExit(main())
