"""The conformance suite's own cost (`python -m benchmarks.suite_cost`): a tool of this
repository, not installed. The LSTM benchmarks themselves are `conformance.bench`
(`lstm-conformance bench`, see docs/benchmarks.md)."""
