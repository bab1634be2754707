"""A scripted module returns nn.LSTM's packed output as a different type.

Found by the torchscript candidate (test_packed: "output is a PackedSequence of 4 items,
should be a PackedSequence"; declared xfail); torch 2.13.0+cpu. Smallest counterexample:
nn.LSTM(1, 1) on a PackedSequence of one sequence of length 1, called through
torch.jit.script of a module whose method takes and returns a PackedSequence: the result is
`torch._jit_internal.PackedSequence`, a bare NamedTuple, so
`isinstance(output, torch.nn.utils.rnn.PackedSequence)` is False and its methods
(`.to`, `.is_cuda`, ...) are missing. (A scripted nn.LSTM alone cannot even be called from
Python: "'RecursiveScriptModule' object has no attribute 'forward'".)

    python docs/divergences/torchscript_packed_type.py     # exits 1 while the type differs
"""
from typing import Optional, Tuple

import torch
from torch import nn
from torch.nn.utils.rnn import PackedSequence, pack_padded_sequence


class UsesLSTM(nn.Module):
    def __init__(self):
        super().__init__()
        self.lstm = nn.LSTM(1, 1)

    def forward(self, input: PackedSequence,
                hx: Optional[Tuple[torch.Tensor, torch.Tensor]] = None
                ) -> Tuple[PackedSequence, Tuple[torch.Tensor, torch.Tensor]]:
        return self.lstm(input, hx)


def main() -> int:
    model = UsesLSTM().eval()
    packed = pack_padded_sequence(torch.randn(1, 1, 1), torch.tensor([1]))
    eager = model(packed)[0]
    scripted = torch.jit.script(model)(packed)[0]
    print("eager:", type(eager), "scripted:", type(scripted))
    if not isinstance(scripted, PackedSequence):
        print("DIVERGENCE: the scripted output is not a torch.nn.utils.rnn.PackedSequence")
        return 1
    print("fixed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
