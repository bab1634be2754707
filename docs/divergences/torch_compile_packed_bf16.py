"""torch.compile of nn.LSTM (allow_rnn, fullgraph) raises where eager nn.LSTM computes:
on PackedSequence input, and in bfloat16 on CPU.

Found by the torch-compile candidate (test_packed, test_dtype[bfloat16]; declared xfail);
torch 2.13.0+cpu. Smallest counterexamples: nn.LSTM(1, 1) on a PackedSequence of one
sequence of length 1 ("Could not guard on data-dependent expression"), and
nn.LSTM(1, 1, dtype=torch.bfloat16) on a (1, 1, 1) input (oneDNN: "could not create a
primitive descriptor for the LSTM forward propagation primitive").

    python docs/divergences/torch_compile_packed_bf16.py     # exits 1 while either raises
"""
import torch
from torch.nn.utils.rnn import pack_padded_sequence


def attempt(what, lstm, x):
    torch._dynamo.reset()
    eager = lstm(x)
    try:
        with torch._dynamo.config.patch(allow_rnn=True), torch.no_grad():
            torch.compile(lstm, fullgraph=True)(x)
    except Exception as exc:
        print(f"DIVERGENCE ({what}): eager computes {type(eager[0]).__name__}, compiled "
              f"raises {type(exc).__name__}: {str(exc).splitlines()[0][:200]}")
        return 1
    print(f"fixed ({what}): the compiled call returned")
    return 0


def main() -> int:
    torch.manual_seed(0)
    packed = pack_padded_sequence(torch.randn(1, 1, 1), torch.tensor([1]))
    failures = attempt("PackedSequence", torch.nn.LSTM(1, 1).eval(), packed)
    failures += attempt("bfloat16", torch.nn.LSTM(1, 1, dtype=torch.bfloat16).eval(),
                        torch.randn(1, 1, 1, dtype=torch.bfloat16))
    return 1 if failures else 0


if __name__ == "__main__":
    raise SystemExit(main())
