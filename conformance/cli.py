"""`lstm-conformance`: run the conformance suite and print the verdict table.

Every argument goes to pytest; `--impl NAME` (repeatable) picks candidates, and the exit
status is pytest's. Subcommands: `lstm-conformance bench ...` times the candidates (see
`lstm-conformance bench --help`).
"""
from __future__ import annotations

import sys

import pytest

SUBCOMMANDS = ("bench",)


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["bench"]:
        from .bench.cli import main as bench

        return bench(args[1:])
    return int(pytest.main(["--pyargs", "conformance.suite", *args]))


if __name__ == "__main__":
    raise SystemExit(main())
