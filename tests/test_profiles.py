"""Hypothesis profiles and their example databases, including the read-only shared copy."""
import os
import textwrap
from pathlib import Path

import pytest
from hypothesis import settings
from hypothesis.database import (DirectoryBasedExampleDatabase, MultiplexedDatabase,
                                 ReadOnlyDatabase)

from conformance.plugin import profiles
from conformance.plugin.profiles import CI_DATABASE_ENV, SHARED_DATABASE_ENV

REPO = Path(__file__).resolve().parents[1]


@pytest.fixture
def reregister(monkeypatch):
    """register_profiles() under the test's environment; the profiles of this session are
    registered again from the real environment afterwards."""
    yield profiles.register_profiles
    monkeypatch.undo()
    profiles.register_profiles()


def test_profiles_have_their_example_counts_and_no_deadline(reregister):
    reregister()
    counts = {name: settings.get_profile(name).max_examples for name in profiles.PROFILES}
    assert counts == {"dev": 25, "ci": 50, "nightly": 1000}
    assert all(settings.get_profile(name).deadline is None for name in profiles.PROFILES)


def test_ci_profile_keeps_its_own_database_directory(reregister, monkeypatch, tmp_path):
    monkeypatch.delenv(SHARED_DATABASE_ENV, raising=False)
    monkeypatch.setenv(CI_DATABASE_ENV, str(tmp_path / "ci-db"))
    reregister()
    db = settings.get_profile("ci").database
    assert isinstance(db, DirectoryBasedExampleDatabase)
    assert Path(db.path) == tmp_path / "ci-db"


@pytest.mark.parametrize("profile", profiles.PROFILES)
def test_shared_database_is_read_only_and_local_one_is_written(reregister, monkeypatch,
                                                               tmp_path, profile):
    shared_dir, local_dir = tmp_path / "shared", tmp_path / "local"
    DirectoryBasedExampleDatabase(shared_dir).save(b"key", b"found-by-a-colleague")
    monkeypatch.setenv(SHARED_DATABASE_ENV, str(shared_dir))
    monkeypatch.setenv(CI_DATABASE_ENV, str(local_dir))
    monkeypatch.chdir(tmp_path)  # dev/nightly: .hypothesis/examples under the working directory
    reregister()
    db = settings.get_profile(profile).database
    assert isinstance(db, MultiplexedDatabase)
    assert any(isinstance(part, ReadOnlyDatabase) for part in db._wrapped)

    assert set(db.fetch(b"key")) == {b"found-by-a-colleague"}  # replayed from the shared copy
    db.save(b"key", b"found-here")
    db.delete(b"key", b"found-by-a-colleague")
    assert set(DirectoryBasedExampleDatabase(shared_dir).fetch(b"key")) == {
        b"found-by-a-colleague"}, "the shared copy was written to"
    local = local_dir if profile == "ci" else tmp_path / ".hypothesis" / "examples"
    assert set(DirectoryBasedExampleDatabase(local).fetch(b"key")) == {b"found-here"}


# A property that fails on exactly one value, which 25 random examples practically never hit:
# only a database that holds the failing example makes a run fail.
PROPERTY = textwrap.dedent("""
    import os
    from hypothesis import given, strategies as st

    @given(st.integers(0, 10**9))
    def test_rare(x):
        if os.environ.get("FIND"):
            assert x < 987654  # shrinks to exactly 987654, saved in the local database
        else:
            assert x != 987654
""")


def _files(directory: Path) -> dict:
    return {p.relative_to(directory): p.read_bytes() for p in directory.rglob("*") if p.is_file()}


def test_a_run_replays_failures_from_the_shared_copy_without_writing_it(pytester, monkeypatch):
    """End to end, as a user runs it: pytest with the plugin, profile dev, the shared copy
    named by the environment variable."""
    monkeypatch.setenv("PYTHONPATH", os.pathsep.join([str(REPO), os.environ.get("PYTHONPATH", "")]))
    for var in ("CI", SHARED_DATABASE_ENV, "PYTEST_ADDOPTS"):
        monkeypatch.delenv(var, raising=False)
    pytester.makepyfile(test_rare=PROPERTY)
    args = ["-p", "no:cacheprovider", "--hypothesis-profile", "dev", "--conformance-impl", "numpy", "-q"]

    monkeypatch.setenv("FIND", "1")
    pytester.runpytest_subprocess(*args).assert_outcomes(failed=1)
    local = pytester.path / ".hypothesis" / "examples"
    shared = pytester.path / "team-db"
    local.rename(shared)  # a colleague's database, now shared read-only
    before = _files(shared)
    assert before, "the first run saved no example"

    monkeypatch.delenv("FIND")
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(passed=1)  # no shared copy: the rare value is not found

    monkeypatch.setenv(SHARED_DATABASE_ENV, str(shared))
    result = pytester.runpytest_subprocess(*args)
    result.assert_outcomes(failed=1)
    result.stdout.fnmatch_lines(["*x=987654*"])
    assert _files(shared) == before, "the run wrote into the shared database"
    assert _files(local), "the replayed failure was not saved in the local database"
