"""Speed benchmarks of the candidates against torch.nn.LSTM (pytest-benchmark).

See docs/benchmarks.md. `python -m benchmarks.run` times every target in its own process and
merges the JSON; `lstm-conformance-plot` turns that JSON into plots.
"""
