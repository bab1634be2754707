"""The built-in candidates, one module each (declared as entry points in pyproject.toml):

    numpy          impls.numpy_lstm   NumPy arrays and a time loop
    naive-torch    impls.naive_torch  one weight matrix per gate, eight matmuls a step
    fused-torch    impls.fused_torch  stacked gates, input projection hoisted out of the loop
    lstmcell-loop  impls.cell_loop    torch.nn.LSTMCell stepped through time

They share no LSTM arithmetic; `impls._layout` holds the common input validation and
layout bookkeeping (unbatched, batch_first, PackedSequence, hx). Importing a module
registers its candidate with `conformance.register`.
"""
