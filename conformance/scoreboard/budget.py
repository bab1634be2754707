"""A pytest plugin (`-p conformance.scoreboard.budget`) that registers the Hypothesis profile
"scoreboard" with `max_examples` from LSTM_CONFORMANCE_MAX_EXAMPLES.

Why a profile: a candidate that JIT-compiles or exports per example costs seconds where the
built-ins cost milliseconds, so each gets its own number of examples per property (pinned
`@example`s always run). The plugin is imported while pytest parses its arguments, before
Hypothesis' own plugin loads `--hypothesis-profile scoreboard`.
"""
import os

from hypothesis import Phase, settings

ENV = "LSTM_CONFORMANCE_MAX_EXAMPLES"
PROFILE = "scoreboard"

settings.register_profile(PROFILE, parent=settings.get_profile("default"),
                          max_examples=int(os.environ.get(ENV, "25")), deadline=None,
                          print_blob=True, phases=[p for p in Phase if p != Phase.explain])
