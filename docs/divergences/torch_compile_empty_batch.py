"""torch.compile of nn.LSTM (allow_rnn) kills the process on a float32 batch of size 0.

Found by the false-alarm sweep (`python -m tests.false_alarms --impl torch-compile`), which
runs checks in process and died with SIGFPE ("Floating point exception") in inductor's
compiled forward, at `aten.mkldnn_rnn_layer`; eager nn.LSTM returns empty tensors, and so does
the compiled module in float64 and float16 (oneDNN's LSTM primitive is only used in float32).
torch 2.13.0+cpu. Smallest counterexample: nn.LSTM(1, 1), input of shape (T=1, N=0, 1),
float32, with or without hx. In a suite run the crash takes only the candidate's worker down
and the empty_batch column says FAIL. The compiled call runs in a child process here.

    python docs/divergences/torch_compile_empty_batch.py     # exits 1 while the crash persists
"""
import signal
import subprocess
import sys

import torch

CHILD = r"""
import torch
lstm = torch.nn.LSTM(1, 1).eval()
with torch.no_grad(), torch._dynamo.config.patch(allow_rnn=True):
    output, _ = torch.compile(lstm, fullgraph=True)(torch.zeros(1, 0, 1))
print("the compiled LSTM returned", tuple(output.shape))
"""


def main() -> int:
    output, (h_n, c_n) = torch.nn.LSTM(1, 1)(torch.zeros(1, 0, 1))
    print("nn.LSTM returns output", tuple(output.shape), "h_n", tuple(h_n.shape))
    child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True)
    print("torch.compile child process: exit status", child.returncode, child.stdout.strip())
    if child.returncode == -signal.SIGFPE:
        print("DIVERGENCE: the compiled LSTM kills the process on an empty float32 batch")
        return 1
    if child.returncode != 0:
        print("another failure:", child.stderr.strip().splitlines()[-1:])
        return 1
    print("fixed")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
