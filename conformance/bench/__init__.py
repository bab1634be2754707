"""Benchmarks of LSTM candidates against torch.nn.LSTM: time and peak memory, forward and
forward+backward, at a ladder of sizes and along sweeps of T, H and N.

    lstm-conformance bench --impl mypkg.lstm:build --sizes ladder --json bench.json

Every target is checked against nn.LSTM at a size before it is timed there, and each target
runs in its own process. Modules, one job each:

    sizes        the sizes (ladder, sweeps, NxTxIxH)
    targets      what is timed: the baselines and the candidates
    checks       the checks against nn.LSTM made before timing
    timing       the timed steps (forward, forward+backward) and their synchronisation
    memory       peak memory of one call (cpu: peak RSS; cuda: max_memory_allocated)
    environment  torch build, threads and machine, recorded in the JSON
    results      reading a benchmark JSON back
    scaling      growth exponents from the sweeps (log-log least squares)
    summary      the markdown tables
    plots        the figures (`lstm-conformance-plot`)
    progress     the progress line on a terminal, and the per-item events it reads
    plugin       the pytest options (--bench-*), registered as a pytest11 entry point
    cli          `lstm-conformance bench`
    test_bench_lstm  the pytest-benchmark module the command runs, once per target

See docs/benchmarks.md.
"""
