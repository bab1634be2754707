"""torch.compile (inductor) of nn.LSTM fails when its parameters require grad, on CPU.

Found by the torch-compile candidate (test_gradients, declared xfail "backward");
torch 2.13.0+cpu. Dynamo does not trace nn.LSTM by default (it graph-breaks and runs it
eagerly); with `torch._dynamo.config.allow_rnn = True` it does, inference compiles and
matches, but with parameters that require grad the compiled forward raises
`TypeError: expected Tensor() for op: torch.ops.aten.mkldnn_rnn_layer.default`
(an assert_size_stride on a buffer inductor generated for the oneDNN RNN layer).
Smallest counterexample: nn.LSTM(1, 1), input (T=1, N=1, 1).

    python docs/divergences/torch_compile_backward.py     # exits 1 while it raises
"""
import torch


def main() -> int:
    torch.manual_seed(0)
    lstm = torch.nn.LSTM(1, 1)
    x = torch.randn(1, 1, 1)
    expected = lstm(x)[0]
    compiled = torch.compile(lstm, fullgraph=True)
    try:
        with torch._dynamo.config.patch(allow_rnn=True):
            got = compiled(x)[0]
    except Exception as exc:  # the divergence: nn.LSTM itself computes this
        print(f"DIVERGENCE: torch.compile raised {type(exc).__name__}: "
              f"{str(exc).splitlines()[0]}")
        return 1
    got.sum().backward()
    print("fixed: compiled forward ran; max difference", (got - expected).abs().max().item())
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
