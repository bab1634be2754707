"""ONNX Runtime's LSTM aborts the process on a batch of size 0; nn.LSTM returns empty tensors.

Found by the conformance suite (test_empty_batch and every property that draws N=0) on the
onnxruntime-graph and onnxruntime-export candidates; onnxruntime 1.32.0, onnx 1.23.2,
torch 2.13.0+cpu. Smallest counterexample: LSTMSpec(input_size=1, hidden_size=1), input of
shape (T=1, N=0, 1). The session runs in a child process, since it takes the interpreter
down (std::terminate: "terminate called without an active exception", SIGABRT).

    python docs/divergences/onnxruntime_empty_batch.py     # exits 1 while the abort persists
"""
import subprocess
import sys

import torch

CHILD = r"""
import numpy as np, onnxruntime
from onnx import TensorProto, helper, numpy_helper
H, I = 1, 1
nodes = [helper.make_node("LSTM", ["X", "W", "R"], ["Y", "Y_h", "Y_c"], hidden_size=H)]
inits = [numpy_helper.from_array(np.ones((1, 4 * H, I), np.float32), "W"),
         numpy_helper.from_array(np.ones((1, 4 * H, H), np.float32), "R")]
graph = helper.make_graph(nodes, "lstm",
    [helper.make_tensor_value_info("X", TensorProto.FLOAT, ["T", "N", I])],
    [helper.make_tensor_value_info("Y", TensorProto.FLOAT, None)], initializer=inits)
model = helper.make_model(graph, opset_imports=[helper.make_opsetid("", 14)])
session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
y = session.run(None, {"X": np.zeros((1, 0, I), np.float32)})[0]
print("onnxruntime returned", y.shape)
"""


def main() -> int:
    output, (h_n, c_n) = torch.nn.LSTM(1, 1)(torch.zeros(1, 0, 1))
    print("nn.LSTM returns output", tuple(output.shape), "h_n", tuple(h_n.shape))
    child = subprocess.run([sys.executable, "-c", CHILD], capture_output=True, text=True)
    print("onnxruntime child process: exit status", child.returncode, child.stdout.strip(),
          child.stderr.strip().splitlines()[-1:] or "")
    if child.returncode != 0:
        print("DIVERGENCE: ONNX Runtime's LSTM aborts on an empty batch")
        return 1
    print("fixed: ONNX Runtime ran the empty batch")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
