"""Hypothesis profiles of the suite: dev (fast), ci (derandomized), nightly (thorough).

`ci` is derandomized with a fixed seed and keeps an example database.
Chosen with `--hypothesis-profile NAME`; without it, `ci` when the CI environment variable is
set and `dev` otherwise. Deadlines are off: a candidate's speed is not a conformance question
(benchmarks measure it), and a slow first call would otherwise flake.

Example databases (read when the plugin is imported, i.e. at pytest start):

    LSTM_CONFORMANCE_DB         the ci profile's local directory (default .hypothesis/conformance-ci);
                                dev and nightly use Hypothesis' own (.hypothesis/examples)
    LSTM_CONFORMANCE_SHARED_DB  a directory of examples shared by a team or a CI cache: every
                                profile also replays the examples found there, and never writes
                                to it (MultiplexedDatabase(local, ReadOnlyDatabase(shared)))
"""
from __future__ import annotations

import os

from hypothesis import settings
from hypothesis.database import (DirectoryBasedExampleDatabase, ExampleDatabase,
                                 MultiplexedDatabase, ReadOnlyDatabase)

PROFILES = ("dev", "ci", "nightly")
CI_DATABASE_ENV = "LSTM_CONFORMANCE_DB"
SHARED_DATABASE_ENV = "LSTM_CONFORMANCE_SHARED_DB"
MAX_EXAMPLES = {"dev": 25, "ci": 50, "nightly": 1000}


def ci_database_path() -> str:
    return os.environ.get(CI_DATABASE_ENV, os.path.join(".hypothesis", "conformance-ci"))


def local_database_path(profile: str):
    """Where `profile` saves the failures it finds: ci its own directory, the others
    Hypothesis' default directory."""
    return ci_database_path() if profile == "ci" else os.path.join(".hypothesis", "examples")


def database(profile: str) -> ExampleDatabase | None:
    """The profile's example database; None: Hypothesis' default (dev and nightly, no shared
    copy). With LSTM_CONFORMANCE_SHARED_DB set, failures are replayed from the shared copy too
    but saved only locally: a run never writes into a directory others read."""
    shared = os.environ.get(SHARED_DATABASE_ENV)
    if profile != "ci" and not shared:
        return None
    local = DirectoryBasedExampleDatabase(local_database_path(profile))
    if not shared:
        return local
    return MultiplexedDatabase(local, ReadOnlyDatabase(DirectoryBasedExampleDatabase(shared)))


def register_profiles() -> None:
    for profile in PROFILES:
        kwargs = dict(max_examples=MAX_EXAMPLES[profile], deadline=None, print_blob=True)
        db = database(profile)
        if db is not None:
            kwargs["database"] = db
        # ci: derandomized through a fixed seed given to each test (seed_tests) unless
        # --hypothesis-seed is given. Neither derandomize=True nor --hypothesis-seed: both
        # switch the example database off, and the database is what replays a failure found
        # earlier (by a previous run, another machine or the fuzzer) on the next run.
        # Parent: Hypothesis' own default profile, never the profile loaded at import. With
        # the CI environment variable set, Hypothesis loads its built-in "ci" profile
        # (derandomize=True, database=None), which would otherwise leak into all three.
        settings.register_profile(profile, parent=settings.get_profile("default"), **kwargs)


CI_SEED = 0


def seed_tests(items, seed: int) -> None:
    """Seed every Hypothesis test among `items` as `@hypothesis.seed(seed)` would.

    The same examples as `--hypothesis-seed=seed` (both draw from Random(seed)), but with the
    example database on: Hypothesis ignores the database under a global seed.
    """
    for item in items:
        test = getattr(item, "obj", None)
        if getattr(test, "is_hypothesis_test", False):
            test._hypothesis_internal_use_seed = seed


def default_profile() -> str:
    return "ci" if os.environ.get("CI") else "dev"
