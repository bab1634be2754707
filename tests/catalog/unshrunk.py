"""pytest plugin for catalog runs (`-p tests.catalog.unshrunk`): the loaded profile, `ci`,
without its shrink phase.

The catalog self-test asks of each bug only whether some test of the profile fails on it.
Hypothesis generates the same examples with or without the shrink phase (the seed, the
strategies and the explicit examples decide them), and a test whose example failed is failed
either way; shrinking only makes the failing example smaller afterwards, which costs dozens of
further checks per bug and which no catalog assertion reads. (A flaky failure still fails:
Hypothesis replays the failing example and raises Flaky when it passes.)
"""
from __future__ import annotations

import pytest
from hypothesis import Phase, settings


@pytest.hookimpl(trylast=True)  # after Hypothesis' own plugin has loaded --hypothesis-profile
def pytest_configure(config):
    loaded = settings.default
    settings.register_profile("catalog-unshrunk", parent=loaded,
                              phases=[p for p in loaded.phases if p != Phase.shrink])
    settings.load_profile("catalog-unshrunk")
