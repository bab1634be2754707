"""Adapters: real libraries' LSTMs, checked against torch.nn.LSTM through the same contract.

One module per library path, each declared in the `lstm_conformance.implementations`
entry-point group of this distribution (pyproject.toml) and opt-in (`register(...,
opt_in=True)`): a run without --impl leaves them out, because JIT compiles and exports per
shape make them slow; `lstm-conformance scoreboard` runs them all, each under its own example
budget, or name one: `lstm-conformance --impl keras-lstm`.

A module whose library is not installed raises `conformance.LibraryUnavailable` at import,
which discovery turns into a candidate that is skipped with the install hint, never an
ERROR row. The check is `importlib.util.find_spec`, so discovery imports no heavy library;
each adapter imports its library when it first builds.

Every adapter follows the same rules: the library's own mechanism for every feature it has
(sequence lengths or masks, its bidirectional wrapper, its initial state, its dtypes),
`unsupported` (and a raise) where it has none, `xfail` with the reason, counterexample and
version where it diverges. Only the calling convention is converted around the library
(nn.LSTM's argument checks, PackedSequence <-> padded tensor + lengths, batch/time
transposes, adding the batch dimension of unbatched input), with `impls._layout`, the
validation the built-in candidates share.
"""
