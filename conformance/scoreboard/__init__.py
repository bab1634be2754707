"""`lstm-conformance scoreboard`: every installed candidate, each in its own pytest process,
as one table: Markdown for the repository, self-contained HTML with links to each failure's
shrunk counterexample and repro script.

    budget.py    the per-candidate example budget (a Hypothesis profile set from the env)
    runner.py    one pytest subprocess per candidate, its report, wall time, examples run
    bench.py     speed next to nn.LSTM from a pytest-benchmark JSON (optional)
    render.py    the Markdown page and the HTML page
    cli.py       the command
"""
