"""The networked example database: LSTM_CONFORMANCE_REDIS points every profile at a real
redis-server (started here on a free port), read-only with LSTM_CONFORMANCE_REDIS_READONLY=1."""
import os
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.database import (DirectoryBasedExampleDatabase, MultiplexedDatabase,
                                 ReadOnlyDatabase)

from conformance.plugin import profiles
from conformance.plugin.profiles import (CI_DATABASE_ENV, REDIS_ENV, REDIS_KEY_PREFIX,
                                         REDIS_READONLY_ENV, SHARED_DATABASE_ENV)
from tests.redis_server import redis_server
from tests.test_profiles import PROPERTY

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def redis_url(tmp_path):
    with redis_server(tmp_path / "redis") as url:
        yield url


@pytest.fixture
def reregister(monkeypatch):
    yield profiles.register_profiles
    monkeypatch.undo()
    profiles.register_profiles()


def _redis_parts(db):
    from hypothesis.extra.redis import RedisExampleDatabase
    parts = db._wrapped if isinstance(db, MultiplexedDatabase) else [db]
    return [p for p in parts if isinstance(getattr(p, "_wrapped", p), RedisExampleDatabase)]


def _redis_keys(url):
    import redis
    return sorted(redis.Redis.from_url(url).keys(REDIS_KEY_PREFIX + b"*"))


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_every_profile_reads_and_writes_redis_and_the_local_directory(
        reregister, monkeypatch, tmp_path, redis_url, profile):
    monkeypatch.setenv(REDIS_ENV, redis_url)
    monkeypatch.delenv(REDIS_READONLY_ENV, raising=False)
    monkeypatch.delenv(SHARED_DATABASE_ENV, raising=False)
    monkeypatch.setenv(CI_DATABASE_ENV, str(tmp_path / "local"))
    monkeypatch.chdir(tmp_path)
    reregister()
    db = settings.get_profile(profile).database
    assert isinstance(db, MultiplexedDatabase) and len(_redis_parts(db)) == 1
    db.save(b"key", b"found-here")
    from hypothesis.extra.redis import RedisExampleDatabase
    import redis
    other_machine = RedisExampleDatabase(redis.Redis.from_url(redis_url),
                                         key_prefix=REDIS_KEY_PREFIX)
    assert set(other_machine.fetch(b"key")) == {b"found-here"}
    local = tmp_path / "local" if profile == "ci" else tmp_path / ".hypothesis" / "examples"
    assert set(DirectoryBasedExampleDatabase(local).fetch(b"key")) == {b"found-here"}


def test_read_only_redis_replays_but_is_never_written(reregister, monkeypatch, tmp_path,
                                                      redis_url):
    from hypothesis.extra.redis import RedisExampleDatabase
    import redis
    team = RedisExampleDatabase(redis.Redis.from_url(redis_url), key_prefix=REDIS_KEY_PREFIX)
    team.save(b"key", b"found-by-main")
    monkeypatch.setenv(REDIS_ENV, redis_url)
    monkeypatch.setenv(REDIS_READONLY_ENV, "1")
    monkeypatch.setenv(CI_DATABASE_ENV, str(tmp_path / "local"))
    reregister()
    db = settings.get_profile("ci").database
    assert isinstance(_redis_parts(db)[0], ReadOnlyDatabase)
    assert set(db.fetch(b"key")) == {b"found-by-main"}
    before = _redis_keys(redis_url)
    db.save(b"key", b"found-in-a-pull-request")
    db.delete(b"key", b"found-by-main")
    assert set(team.fetch(b"key")) == {b"found-by-main"}
    assert _redis_keys(redis_url) == before
    assert set(DirectoryBasedExampleDatabase(tmp_path / "local").fetch(b"key")) == {
        b"found-in-a-pull-request"}


def test_a_failure_found_by_one_process_is_replayed_by_another(pytester, monkeypatch,
                                                               tmp_path, redis_url):
    """Two pytest processes with the plugin, each with its own local example directory (as on
    two machines), sharing only the Redis server."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    for var in ("CI", SHARED_DATABASE_ENV, REDIS_READONLY_ENV, "PYTEST_ADDOPTS"):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv(REDIS_ENV, redis_url)
    pytester.makepyfile(test_rare=PROPERTY)
    args = ["-p", "no:cacheprovider", "--hypothesis-profile", "ci", "--conformance-impl", "numpy", "-q"]
    first, second = pytester.path / "first", pytester.path / "second"

    monkeypatch.setenv("FIND", "1")
    monkeypatch.setenv(CI_DATABASE_ENV, str(first))
    pytester.runpytest_subprocess(*args).assert_outcomes(failed=1)
    saved = _redis_keys(redis_url)
    assert saved, "the failing run saved nothing in Redis"

    monkeypatch.delenv("FIND")
    monkeypatch.setenv(CI_DATABASE_ENV, str(second))
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(failed=1)  # 987654 is never drawn at random: replayed from Redis
    result.stdout.fnmatch_lines(["*x=987654*"])  # (without a database it passes:
    # test_profiles.test_a_run_replays_failures_from_the_shared_copy_without_writing_it)
