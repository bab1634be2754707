"""Hypothesis profiles of the suite: dev (fast), ci (derandomized), nightly (thorough).

`ci` is derandomized with a fixed seed and keeps an example database.
Chosen with `--hypothesis-profile NAME`; without it, `ci` when the CI environment variable is
set and `dev` otherwise. Deadlines are off: a candidate's speed is not a conformance question
(benchmarks measure it), and a slow first call would otherwise flake.
"""
from __future__ import annotations

import os

from hypothesis import settings
from hypothesis.database import DirectoryBasedExampleDatabase

PROFILES = ("dev", "ci", "nightly")
CI_DATABASE_ENV = "LSTM_CONFORMANCE_DB"


def ci_database_path() -> str:
    return os.environ.get(CI_DATABASE_ENV, os.path.join(".hypothesis", "conformance-ci"))


def register_profiles() -> None:
    settings.register_profile("dev", max_examples=25, deadline=None, print_blob=True)
    settings.register_profile(
        "ci",
        max_examples=50,
        deadline=None,
        # Derandomized through a fixed seed (the plugin passes --hypothesis-seed=0 unless one
        # is given): Hypothesis' own derandomize=True would switch the database off, and the
        # database is what replays a failure found earlier on the next run.
        database=DirectoryBasedExampleDatabase(ci_database_path()),
        print_blob=True,
    )
    settings.register_profile("nightly", max_examples=1000, deadline=None, print_blob=True)


CI_SEED = "0"


def default_profile() -> str:
    return "ci" if os.environ.get("CI") else "dev"
