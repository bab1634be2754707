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
    LSTM_CONFORMANCE_REDIS      redis://host:port/db: a networked database shared by every
                                machine (CI runners, fuzzing hosts, laptops); every profile
                                reads and writes it besides the local directory
                                (MultiplexedDatabase(local, RedisExampleDatabase(...)))
    LSTM_CONFORMANCE_REDIS_READONLY=1
                                replay from the Redis database but never write to it (pull
                                requests): ReadOnlyDatabase(RedisExampleDatabase(...))
"""
from __future__ import annotations

import os

from hypothesis import Phase, settings
from hypothesis.database import (DirectoryBasedExampleDatabase, ExampleDatabase,
                                 MultiplexedDatabase, ReadOnlyDatabase)

PROFILES = ("dev", "ci", "nightly")
CI_DATABASE_ENV = "LSTM_CONFORMANCE_DB"
SHARED_DATABASE_ENV = "LSTM_CONFORMANCE_SHARED_DB"
REDIS_ENV = "LSTM_CONFORMANCE_REDIS"
REDIS_READONLY_ENV = "LSTM_CONFORMANCE_REDIS_READONLY"
REDIS_KEY_PREFIX = b"lstm-conformance:"  # one Redis server can serve other projects too
MAX_EXAMPLES = {"dev": 25, "ci": 50, "nightly": 1000}


def ci_database_path() -> str:
    return os.environ.get(CI_DATABASE_ENV, os.path.join(".hypothesis", "conformance-ci"))


def local_database_path(profile: str):
    """Where `profile` saves the failures it finds: ci its own directory, the others
    Hypothesis' default directory."""
    return ci_database_path() if profile == "ci" else os.path.join(".hypothesis", "examples")


def redis_database(url: str, read_only: bool = False) -> ExampleDatabase:
    """Hypothesis' RedisExampleDatabase on the server at `url` (redis://host:port/db); the
    connection is opened on first use."""
    try:
        import redis
        from hypothesis.extra.redis import RedisExampleDatabase
    except ImportError as exc:
        raise RuntimeError(f"{REDIS_ENV}={url}: the redis package is needed "
                           f"(python -m pip install redis): {exc}") from None
    db = RedisExampleDatabase(redis.Redis.from_url(url), key_prefix=REDIS_KEY_PREFIX)
    return ReadOnlyDatabase(db) if read_only else db


def _flag(name: str) -> bool:
    return os.environ.get(name, "").strip().lower() not in ("", "0", "false", "no")


def database(profile: str) -> ExampleDatabase | None:
    """The profile's example database; None: Hypothesis' default (dev and nightly, nothing
    shared). With LSTM_CONFORMANCE_SHARED_DB set, failures are replayed from the shared copy
    too but saved only locally: a run never writes into a directory others read. With
    LSTM_CONFORMANCE_REDIS set, failures are saved both locally and in Redis (only locally,
    with LSTM_CONFORMANCE_REDIS_READONLY=1) and replayed from both."""
    shared = os.environ.get(SHARED_DATABASE_ENV)
    redis_url = os.environ.get(REDIS_ENV)
    if profile != "ci" and not shared and not redis_url:
        return None
    local = DirectoryBasedExampleDatabase(local_database_path(profile))
    others = []
    if shared:
        others.append(ReadOnlyDatabase(DirectoryBasedExampleDatabase(shared)))
    if redis_url:
        others.append(redis_database(redis_url, read_only=_flag(REDIS_READONLY_ENV)))
    return MultiplexedDatabase(local, *others) if others else local


def register_profiles() -> None:
    for profile in PROFILES:
        # No explain phase: it traces every line the test runs to say which ones a failure
        # needs (minutes per failing test here), and the suite's own diagnosis says more.
        kwargs = dict(max_examples=MAX_EXAMPLES[profile], deadline=None, print_blob=True,
                      phases=[p for p in Phase if p != Phase.explain])
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


def key_by_node_id(item) -> None:
    """Give this test invocation its own example-database key, derived from its node id.

    Hypothesis' pytest plugin does this only for tests parametrized by a marker or a fixture
    parameter, not for the plugin's `metafunc.parametrize("candidate", ...)`: without it every
    candidate's failures of a test would share one key, and the key would not be the one
    HypoFuzz saves its failures under (the node id), so the fuzzer's finds would never be
    replayed. Called just before the test runs: the function object is shared by every
    candidate's invocation.
    """
    test = getattr(item, "obj", None)
    if getattr(test, "is_hypothesis_test", False):
        test.hypothesis.inner_test._hypothesis_internal_add_digest = item.nodeid.encode()


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
