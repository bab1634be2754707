"""`lstm-conformance`: run the conformance suite and print the verdict table.

Every argument goes to pytest, with the plugin's short spellings accepted (`--impl` for
`--conformance-impl`, ...); the exit status is pytest's. Subcommands: `lstm-conformance
bench ...` times the candidates (see `lstm-conformance bench --help`); `lstm-conformance
scoreboard ...` checks every installed library adapter and writes the scoreboard.
"""
from __future__ import annotations

import sys

# The command's own spellings of the plugin's options (pytest needs the prefixed ones).
SHORT_OPTIONS = {
    "--impl": "--conformance-impl",
    "--device": "--conformance-device",
    "--impl-fail-fast": "--conformance-fail-fast",
    "--example-timeout": "--conformance-example-timeout",
    "--torch-threads": "--conformance-torch-threads",
    "--isolation": "--conformance-isolation",
    "--memory-limit": "--conformance-memory-limit",
}
SUBCOMMANDS = ("bench", "scoreboard")


def pytest_arguments(args: list[str]) -> list[str]:
    """`args` with the short spellings replaced (also in --opt=value form)."""
    out = []
    for arg in args:
        name, eq, value = arg.partition("=")
        out.append(SHORT_OPTIONS[name] + eq + value if name in SHORT_OPTIONS else arg)
    return out


def main(argv: list[str] | None = None) -> int:
    args = sys.argv[1:] if argv is None else list(argv)
    if args[:1] == ["bench"]:
        from conformance.bench.cli import main as bench

        return bench(args[1:])
    if args[:1] == ["scoreboard"]:
        from conformance.scoreboard.cli import main as scoreboard

        return scoreboard(args[1:])
    import pytest

    return int(pytest.main(["--pyargs", "conformance.suite", *pytest_arguments(args)]))


if __name__ == "__main__":
    raise SystemExit(main())
